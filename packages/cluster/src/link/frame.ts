/**
 * The node link's wire frames, and an incremental decoder that enforces the size limit before
 * it buffers anything.
 *
 *   u32 length   bytes that follow the length field (header rest + body), big-endian
 *   u8  kind     FrameKind
 *   u16 type     message type of a REQUEST or MESSAGE (the layer above chooses them); else 0
 *   u32 corr     correlation id of a REQUEST and its REPLY/FAIL, of a PING and its PONG; else 0
 *   ...  body
 */

export const FrameKind = {
  /** Handshake: magic, version, max frame size, nonce, node id (handshake.ts). */
  HELLO: 1,
  /** Handshake: HMAC-SHA256 of both HELLOs with the cluster secret. */
  PROOF: 2,
  /** Handshake: the sender verified our PROOF; frames after it are application frames. */
  READY: 3,
  /** Handshake refused; body: the reason, UTF-8. The sender closes after it. */
  REFUSE: 4,
  PING: 5,
  PONG: 6,
  REQUEST: 7,
  /** The handler's answer to REQUEST `corr`. */
  REPLY: 8,
  /** The handler of REQUEST `corr` failed; body: JSON `{ code, message }`. */
  FAIL: 9,
  /** One-way; corr 0. */
  MESSAGE: 10,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const KIND_NAMES = new Map<number, string>(Object.entries(FrameKind).map(([name, kind]) => [kind, name]));

export function kindName(kind: number): string {
  return KIND_NAMES.get(kind) ?? `unknown kind ${kind}`;
}

/** Length field plus kind, type and corr. */
export const HEADER_BYTES = 11;
/** What `length` counts beyond the body. */
const HEADER_REST = HEADER_BYTES - 4;
export const MAX_MESSAGE_TYPE = 0xffff;

/** A message type of the layers above: an integer 0..65535 (throws otherwise: a caller's bug). */
export function checkMessageType(type: number): number {
  if (!Number.isInteger(type) || type < 0 || type > MAX_MESSAGE_TYPE) {
    throw new Error(`node link message type ${type} is not an integer 0..${MAX_MESSAGE_TYPE}`);
  }
  return type;
}

export interface Frame {
  kind: number;
  type: number;
  corr: number;
  /** A view into the received bytes, valid until the handler returns unless copied. */
  body: Buffer;
}

/** The header of a frame carrying `bodyBytes`; the body goes out as its own write (no copy). */
export function frameHeader(kind: FrameKind, type: number, corr: number, bodyBytes: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32BE(HEADER_REST + bodyBytes, 0);
  h.writeUInt8(kind, 4);
  h.writeUInt16BE(type, 5);
  h.writeUInt32BE(corr, 7);
  return h;
}

/** One frame as one buffer (handshake and control frames, tests). */
export function encodeFrame(kind: FrameKind, type: number, corr: number, body: Buffer = EMPTY): Buffer {
  return Buffer.concat([frameHeader(kind, type, corr, body.length), body]);
}

export const EMPTY = Buffer.alloc(0);

/** Bytes on the wire of a frame with this body. */
export const frameBytes = (bodyBytes: number): number => HEADER_BYTES + bodyBytes;

export class FrameError extends Error {}

/**
 * Splits a byte stream into frames, across any chunking. `maxFrameBytes` (whole frame,
 * header included) is checked from the length field, before the body is buffered, and may be
 * changed between frames (it is small until the handshake is done). `onFrame` returning false
 * stops the parse there (reading paused, or the connection closed); the rest is kept for the
 * next push (an empty one resumes it).
 */
export class FrameDecoder {
  /** Received bytes not parsed yet, kept as chunks until a whole frame is there (no copy per chunk). */
  private chunks: Buffer[] = [];
  private held = 0;
  /** Bytes `held` must reach before parsing can progress: the length field, then the frame. */
  private need = 4;

  constructor(public maxFrameBytes: number) {}

  /** Throws FrameError on a frame that is too large or too short; the caller closes. */
  push(chunk: Buffer, onFrame: (frame: Frame) => boolean): void {
    this.chunks.push(chunk);
    this.held += chunk.length;
    if (this.held < this.need) return;
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.held);
    this.chunks = [];
    this.held = 0;
    this.need = 4;
    let off = 0;
    while (buf.length - off >= 4) {
      const length = buf.readUInt32BE(off);
      if (length < HEADER_REST) throw new FrameError(`frame length ${length} is shorter than its header`);
      if (length + 4 > this.maxFrameBytes) {
        throw new FrameError(`frame of ${length + 4} bytes exceeds the limit of ${this.maxFrameBytes}`);
      }
      if (buf.length - off < length + 4) {
        this.need = length + 4;
        break;
      }
      const frame: Frame = {
        kind: buf.readUInt8(off + 4),
        type: buf.readUInt16BE(off + 5),
        corr: buf.readUInt32BE(off + 7),
        body: buf.subarray(off + HEADER_BYTES, off + 4 + length),
      };
      off += 4 + length;
      if (!onFrame(frame)) break;
    }
    if (off < buf.length) {
      // The incomplete tail, copied so it does not hold a large consumed buffer alive.
      const tail = off === 0 ? buf : Buffer.from(buf.subarray(off));
      this.chunks.push(tail);
      this.held = tail.length;
    }
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.held;
  }
}
