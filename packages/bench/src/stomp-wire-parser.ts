/**
 * Incremental parser for the server->client direction of STOMP 1.2, for the bench's lean load
 * client (stomp-wire.ts). It exists because the load client must cost far less CPU than the
 * broker it measures: it scans with Buffer.indexOf, reads only the headers the client needs
 * (`ack`, `message-id`, `content-length`, `receipt-id`, `message`), and hands MESSAGE frames
 * over as offsets into the chunk, in one reused view object, so a delivery allocates nothing.
 */

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;

/** One MESSAGE frame as offsets into `buf`; the parser reuses the object for every frame. */
export interface MessageView {
  buf: Buffer;
  bodyStart: number;
  bodyEnd: number;
  /** The `ack` header's value, still 1.2-escaped (ACK must send those exact bytes back); -1 if absent. */
  ackStart: number;
  ackEnd: number;
  /** The `message-id` header's value, escaped; -1 if absent. */
  idStart: number;
  idEnd: number;
}

export interface FrameHandler {
  connected(): void;
  message(m: MessageView): void;
  receipt(id: string): void;
  error(message: string, body: string): void;
}

const name = (s: string): Buffer => Buffer.from(`${s}:`, 'latin1');
const ACK = name('ack');
const MESSAGE_ID = name('message-id');
const MESSAGE = name('message');
const CONTENT_LENGTH = name('content-length');
const RECEIPT_ID = name('receipt-id');

/** Whether the header line starting at p (ending at e) is `<n>:...`. */
function is(buf: Buffer, p: number, e: number, n: Buffer): boolean {
  const len = n.length;
  if (e - p < len) return false;
  for (let i = 1; i < len; i++) if (buf[p + i] !== n[i]) return false; // byte 0 checked by the caller
  return true;
}

/** STOMP 1.2 header unescaping, for the few values read as strings. */
export function unescape(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\(.)/g, (_, c: string) => {
    switch (c) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 'c':
        return ':';
      case '\\':
        return '\\';
      default:
        throw new Error(`STOMP: undefined escape \\${c} in a header`);
    }
  });
}

// Commands, told apart by their first byte and length (the server sends only these four).
const enum Cmd {
  Message,
  Receipt,
  Error,
  Connected,
}

function command(buf: Buffer, s: number, e: number): Cmd {
  const len = e - s;
  const c = buf[s];
  if (c === 0x4d && len === 7) return Cmd.Message; // MESSAGE
  if (c === 0x52 && len === 7) return Cmd.Receipt; // RECEIPT
  if (c === 0x45 && len === 5) return Cmd.Error; // ERROR
  if (c === 0x43 && len === 9) return Cmd.Connected; // CONNECTED
  throw new Error(`STOMP: unexpected command '${buf.toString('latin1', s, Math.min(e, s + 40))}'`);
}

export class FrameParser {
  /** Bytes of an incomplete frame, waiting for more; `need` is how many the frame needs at least. */
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private need = 0;
  private readonly view: MessageView = {
    buf: Buffer.alloc(0),
    bodyStart: 0,
    bodyEnd: 0,
    ackStart: -1,
    ackEnd: -1,
    idStart: -1,
    idEnd: -1,
  };

  constructor(private readonly h: FrameHandler) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pendingLen > 0) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      // A big frame arriving in many chunks: concatenate once, when it can be complete.
      if (this.pendingLen < this.need) return;
      buf = Buffer.concat(this.pending, this.pendingLen);
      this.pending = [];
      this.pendingLen = 0;
    }
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      const c = buf[pos];
      // EOLs between frames: heart-beats, or the optional EOL after a frame's NUL.
      if (c === LF) {
        pos++;
        continue;
      }
      if (c === CR && pos + 1 < n && buf[pos + 1] === LF) {
        pos += 2;
        continue;
      }
      const end = this.frame(buf, pos);
      if (end < 0) break;
      pos = end;
    }
    if (pos < n) {
      const rest = buf.subarray(pos);
      this.pending.push(rest);
      this.pendingLen = rest.length;
      if (this.need <= rest.length) this.need = rest.length + 1;
    }
  }

  /** Parses the frame at `start`: the offset just past its NUL, or -1 (and `need` set) if incomplete. */
  private frame(buf: Buffer, start: number): number {
    this.need = 0;
    let nl = buf.indexOf(LF, start);
    if (nl < 0) return -1;
    const cmd = command(buf, start, nl > start && buf[nl - 1] === CR ? nl - 1 : nl);
    let ackS = -1;
    let ackE = -1;
    let idS = -1;
    let idE = -1;
    let msgS = -1;
    let msgE = -1;
    let rcptS = -1;
    let rcptE = -1;
    let length = -1;
    let p = nl + 1;
    for (;;) {
      nl = buf.indexOf(LF, p);
      if (nl < 0) return -1;
      const e = nl > p && buf[nl - 1] === CR ? nl - 1 : nl;
      if (e === p) break; // the blank line ending the headers
      // A repeated header: the first one counts (1.2), hence the `< 0` checks.
      switch (buf[p]) {
        case 0x61: // a
          if (ackS < 0 && is(buf, p, e, ACK)) {
            ackS = p + ACK.length;
            ackE = e;
          }
          break;
        case 0x6d: // m
          if (idS < 0 && is(buf, p, e, MESSAGE_ID)) {
            idS = p + MESSAGE_ID.length;
            idE = e;
          } else if (msgS < 0 && is(buf, p, e, MESSAGE)) {
            msgS = p + MESSAGE.length;
            msgE = e;
          }
          break;
        case 0x63: // c
          if (length < 0 && is(buf, p, e, CONTENT_LENGTH)) {
            length = 0;
            for (let i = p + CONTENT_LENGTH.length; i < e; i++) {
              const d = buf[i]! - 0x30;
              if (d < 0 || d > 9) throw new Error('STOMP: bad content-length');
              length = length * 10 + d;
            }
          }
          break;
        case 0x72: // r
          if (rcptS < 0 && is(buf, p, e, RECEIPT_ID)) {
            rcptS = p + RECEIPT_ID.length;
            rcptE = e;
          }
          break;
        case COLON:
          throw new Error('STOMP: header with an empty name');
      }
      p = nl + 1;
    }
    const bodyStart = nl + 1;
    let bodyEnd: number;
    if (length >= 0) {
      bodyEnd = bodyStart + length;
      if (bodyEnd >= buf.length) {
        this.need = bodyEnd + 1 - start;
        return -1;
      }
      if (buf[bodyEnd] !== 0) throw new Error('STOMP: no NUL after content-length bytes');
    } else {
      bodyEnd = buf.indexOf(0, bodyStart);
      if (bodyEnd < 0) return -1;
    }
    switch (cmd) {
      case Cmd.Message: {
        const v = this.view;
        v.buf = buf;
        v.bodyStart = bodyStart;
        v.bodyEnd = bodyEnd;
        v.ackStart = ackS;
        v.ackEnd = ackE;
        v.idStart = idS;
        v.idEnd = idE;
        this.h.message(v);
        break;
      }
      case Cmd.Receipt:
        this.h.receipt(rcptS < 0 ? '' : unescape(buf.toString('utf8', rcptS, rcptE)));
        break;
      case Cmd.Error:
        this.h.error(
          msgS < 0 ? '' : unescape(buf.toString('utf8', msgS, msgE)),
          buf.toString('utf8', bodyStart, bodyEnd),
        );
        break;
      case Cmd.Connected:
        this.h.connected();
        break;
    }
    return bodyEnd + 1;
  }
}
