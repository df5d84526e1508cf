/**
 * The incremental AMQP frame parser (CONVENTIONS #3): feed it chunks split anywhere; it
 * keeps only the unfinished tail between chunks, checks the frame size against frame-max
 * before buffering a payload, and hands out zero-copy payload slices.
 *
 * AMQP 0-9-1 §4.2.3: frame = type(1) channel(2) size(4) payload(size) frame-end(0xCE).
 */
import { frameError } from './errors.js';
import { FRAME_END } from './primitives.js';

export const FrameType = { METHOD: 1, HEADER: 2, BODY: 3, HEARTBEAT: 8 } as const;

/** §4.2.2: "AMQP" 0 0 9 1. */
export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

export interface FrameParserOptions {
  /** Largest whole frame accepted (frame-max, which counts the 8 bytes of framing). */
  maxFrameSize: number;
  /** The 8-byte protocol header arrived: ok says whether it is AMQP 0-9-1. After !ok, nothing more is parsed. */
  onHeader(ok: boolean): void;
  onFrame(type: number, channel: number, payload: Buffer): void;
}

export class FrameParser {
  /** The unfinished frame's chunks, joined once it is whole (not at every chunk). */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** Bytes that unfinished frame needs, so far as its header tells (0: parse at every chunk). */
  private needed = 0;
  private awaitingHeader = true;
  private stopped = false;
  private maxFrameSize: number;

  constructor(private readonly opts: FrameParserOptions) {
    this.maxFrameSize = opts.maxFrameSize;
  }

  setMaxFrameSize(n: number): void {
    this.maxFrameSize = n;
  }

  /** Parses what it can; throws CodecError (FRAME_ERROR) when the framing is broken. */
  push(chunk: Buffer): void {
    if (this.stopped) return;
    let buf = chunk;
    if (this.tailBytes > 0) {
      this.tail.push(chunk);
      this.tailBytes += chunk.length;
      // A frame trickling in one byte a chunk would otherwise be copied at every byte:
      // quadratic in frame-max (8 GiB of copying for one 128 KiB frame).
      if (this.tailBytes < this.needed) return;
      buf = Buffer.concat(this.tail, this.tailBytes);
      this.tail = [];
      this.tailBytes = 0;
    }
    let o = 0;
    let needed = 7;
    if (this.awaitingHeader) {
      if (buf.length < 8) {
        // A peer that is not speaking AMQP may never send 8 bytes; still reject a wrong prefix at once.
        if (!PROTOCOL_HEADER.subarray(0, buf.length).equals(buf)) return this.badHeader();
        return this.keep(buf, 0);
      }
      this.awaitingHeader = false;
      if (!buf.subarray(0, 8).equals(PROTOCOL_HEADER)) return this.badHeader();
      this.opts.onHeader(true);
      o = 8;
    }
    const len = buf.length;
    while (!this.stopped && len - o >= 7) {
      const type = buf[o]!;
      const channel = buf.readUInt16BE(o + 1);
      const size = buf.readUInt32BE(o + 3);
      if (size + 8 > this.maxFrameSize) {
        this.stopped = true;
        throw frameError(`frame size ${size + 8} exceeds frame_max ${this.maxFrameSize}`);
      }
      if (type !== 1 && type !== 2 && type !== 3 && type !== 8) {
        this.stopped = true;
        throw frameError(`unknown frame type ${type}`);
      }
      const end = o + 7 + size;
      if (end >= len) {
        needed = end + 1 - o;
        break;
      }
      if (buf[end] !== FRAME_END) {
        this.stopped = true;
        throw frameError(`frame end octet 0x${buf[end]!.toString(16)} (expected 0xce)`);
      }
      this.opts.onFrame(type, channel, buf.subarray(o + 7, end));
      o = end + 1;
    }
    if (o < len && !this.stopped) this.keep(buf.subarray(o), needed);
  }

  private keep(rest: Buffer, needed: number): void {
    // Copy a small tail so it does not pin a large socket chunk in memory.
    this.tail = [rest.length < 4096 ? Buffer.from(rest) : rest];
    this.tailBytes = rest.length;
    this.needed = needed;
  }

  private badHeader(): void {
    this.stopped = true;
    this.awaitingHeader = false;
    this.opts.onHeader(false);
  }
}

export function createFrameParser(opts: FrameParserOptions): FrameParser {
  return new FrameParser(opts);
}
