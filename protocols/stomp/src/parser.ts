/**
 * Incremental STOMP frame parser with limits enforced while bytes arrive.
 *
 * Why our own parser and not stompit's IncomingFrameStream: stompit buffers a whole
 * header block before checking it, has no header-count or header-length limits, accepts
 * undefined escape sequences, and is a Readable stream (an allocation and a tick per frame).
 * This parser keeps at most one header line (<= maxHeaderLength) or one body
 * (<= maxFrameSize) in memory, so a hostile peer can never make it buffer more.
 */

export interface Frame {
  command: string;
  /** First occurrence of each header wins (STOMP 1.2 §Repeated Header Entries). */
  headers: Record<string, string>;
  body: Buffer;
}

export interface ParserLimits {
  maxFrameSize: number;
  maxHeaders: number;
  maxHeaderLength: number;
}

export class FrameError extends Error {}

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const BACKSLASH = 0x5c;
const COMMAND = /^[A-Z]+$/;

const enum State {
  Command,
  Headers,
  Body,
  BodyNul,
  Dead,
}

/**
 * A frame's header map. Instances of a constructor whose prototype has no prototype: no
 * inherited names (`__proto__`, `constructor`, `toString` are plain own headers, as with
 * Object.create(null)), but V8 keeps them as fast objects with hidden classes where
 * Object.create(null) starts in dictionary mode, which cost about 90 ns per header stored.
 */
const Headers = function (this: Record<string, string>) {} as unknown as new () => Record<string, string>;
Headers.prototype = Object.create(null) as object;

export function newHeaders(): Record<string, string> {
  return new Headers();
}

/**
 * Undoes STOMP 1.1/1.2 header escaping. Returns null on an undefined escape (the spec
 * says it MUST be treated as a fatal protocol error). 1.1 has no \r escape.
 */
export function unescapeHeader(s: string, v12: boolean): string | null {
  if (s.indexOf('\\') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== BACKSLASH) {
      out += s[i];
      continue;
    }
    const n = s[++i];
    if (n === 'n') out += '\n';
    else if (n === 'c') out += ':';
    else if (n === '\\') out += '\\';
    else if (n === 'r' && v12) out += '\r';
    else return null;
  }
  return out;
}

export class FrameParser {
  /** 0: before CONNECT and for 1.0 (no escaping); 11 / 12 once negotiated. */
  version = 0;
  private state = State.Command;
  /** Bytes of the current (partial) line. Bounded by maxHeaderLength. */
  private line: Buffer[] = [];
  private lineLen = 0;
  private command = '';
  private headers = newHeaders();
  private headerCount = 0;
  private frameBytes = 0;
  private contentLength = -1;
  private body: Buffer[] = [];
  /** The body buffer when content-length is known. */
  private fixed: Buffer | undefined;
  private bodyLen = 0;

  constructor(
    private limits: ParserLimits,
    private readonly onFrame: (frame: Frame) => void,
    private readonly onError: (err: FrameError) => void,
  ) {}

  get dead(): boolean {
    return this.state === State.Dead;
  }

  /** Feeds bytes; calls onFrame per complete frame and onError (once) on malformed input. */
  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    try {
      while (i < n && this.state !== State.Dead) {
        switch (this.state) {
          case State.Command: {
            // Heart-beats and the optional EOLs after a frame's NUL are skipped here.
            if (this.lineLen === 0) {
              while (i < n && (chunk[i] === LF || chunk[i] === CR)) i++;
              if (i >= n) return;
            }
            const end = chunk.indexOf(LF, i);
            const cmd = this.line_(chunk, i, end < 0 ? n : end, end >= 0);
            if (end < 0) return;
            i = end + 1;
            if (cmd === null) break;
            if (cmd.length === 0 || !COMMAND.test(cmd)) throw new FrameError(`malformed command line`);
            this.command = cmd;
            this.state = State.Headers;
            break;
          }
          case State.Headers: {
            const end = chunk.indexOf(LF, i);
            const line = this.line_(chunk, i, end < 0 ? n : end, end >= 0);
            if (end < 0) return;
            i = end + 1;
            if (line === null) break;
            if (line.length === 0) this.startBody();
            else this.addHeader(line);
            break;
          }
          case State.Body: {
            if (this.fixed !== undefined) {
              // content-length: copy straight into the exactly sized body buffer.
              const take = Math.min(this.contentLength - this.bodyLen, n - i);
              chunk.copy(this.fixed, this.bodyLen, i, i + take);
              this.bodyLen += take;
              i += take;
              if (this.bodyLen === this.contentLength) this.state = State.BodyNul;
            } else {
              const end = chunk.indexOf(NUL, i);
              const stop = end < 0 ? n : end;
              if (this.frameBytes + this.bodyLen + (stop - i) > this.limits.maxFrameSize) {
                throw new FrameError(`frame larger than ${this.limits.maxFrameSize} bytes`);
              }
              if (stop > i) this.body.push(chunk.subarray(i, stop));
              this.bodyLen += stop - i;
              i = stop;
              if (end < 0) return;
              i++;
              this.emit();
            }
            break;
          }
          case State.BodyNul: {
            if (chunk[i] !== NUL)
              throw new FrameError('frame body longer than content-length (no NUL after the body)');
            i++;
            this.emit();
            break;
          }
          default:
            return;
        }
      }
    } catch (err) {
      this.fail(err instanceof FrameError ? err : new FrameError(String(err)));
    }
  }

  private fail(err: FrameError): void {
    this.state = State.Dead;
    this.line = [];
    this.body = [];
    this.fixed = undefined;
    this.headers = newHeaders();
    this.onError(err);
  }

  /**
   * The line in chunk[from, to). complete: the LF was found at `to`. Returns the line
   * (without EOL) when complete, null while it is still partial. A line wholly inside one
   * chunk is decoded in place; only lines split across chunks are buffered (bounded).
   */
  private line_(chunk: Buffer, from: number, to: number, complete: boolean): string | null {
    const len = to - from;
    if (this.lineLen + len > this.limits.maxHeaderLength + 1) {
      throw new FrameError(
        this.state === State.Command
          ? 'command line too long'
          : `header longer than ${this.limits.maxHeaderLength} bytes`,
      );
    }
    if (this.frameBytes + this.lineLen + len > this.limits.maxFrameSize) {
      throw new FrameError(`frame larger than ${this.limits.maxFrameSize} bytes`);
    }
    if (!complete) {
      // Copy: the rest of the line arrives in a later chunk.
      if (len > 0) this.line.push(Buffer.from(chunk.subarray(from, to)));
      this.lineLen += len;
      return null;
    }
    let s: string;
    if (this.lineLen === 0) {
      // The blank line ending every header block needs no decoding.
      if (len === 0 || (len === 1 && chunk[from] === CR)) {
        this.frameBytes += len + 1;
        return '';
      }
      s = chunk.toString('utf8', from, to);
    } else {
      if (len > 0) this.line.push(chunk.subarray(from, to));
      s = Buffer.concat(this.line, this.lineLen + len).toString('utf8');
      this.line = [];
    }
    this.frameBytes += this.lineLen + len + 1;
    this.lineLen = 0;
    // EOL may be CRLF: the CR belongs to the EOL, not the value (1.2 escapes a literal CR).
    if (s.charCodeAt(s.length - 1) === CR) s = s.slice(0, -1);
    return s;
  }

  private addHeader(line: string): void {
    if (++this.headerCount > this.limits.maxHeaders)
      throw new FrameError(`more than ${this.limits.maxHeaders} headers`);
    const colon = line.indexOf(':');
    if (colon < 0) throw new FrameError('header line without a colon');
    // CONNECT/STOMP (and so everything before negotiation) are never escaped (1.2 spec).
    const escaped =
      this.version >= 11 && this.command !== 'CONNECT' && this.command !== 'STOMP' && line.indexOf('\\') >= 0;
    let name = line.slice(0, colon);
    let value = line.slice(colon + 1);
    if (escaped) {
      const n = unescapeHeader(name, this.version >= 12);
      const v = unescapeHeader(value, this.version >= 12);
      if (n === null || v === null) throw new FrameError(`undefined escape sequence in header '${name}'`);
      name = n;
      value = v;
    }
    if (this.headers[name] === undefined) this.headers[name] = value;
  }

  private startBody(): void {
    const cl = this.headers['content-length'];
    if (cl !== undefined) {
      const t = cl.trim();
      if (!/^\d{1,10}$/.test(t)) throw new FrameError(`invalid content-length '${cl.slice(0, 32)}'`);
      const len = Number(t);
      if (this.frameBytes + len + 1 > this.limits.maxFrameSize) {
        throw new FrameError(`frame larger than ${this.limits.maxFrameSize} bytes`);
      }
      this.contentLength = len;
      this.fixed = len === 0 ? undefined : Buffer.allocUnsafe(len);
      this.state = len === 0 ? State.BodyNul : State.Body;
    } else {
      this.contentLength = -1;
      this.fixed = undefined;
      this.state = State.Body;
    }
    this.body = [];
    this.bodyLen = 0;
  }

  private emit(): void {
    let body: Buffer;
    if (this.fixed !== undefined) body = this.fixed;
    else if (this.bodyLen === 0) body = EMPTY;
    else if (this.body.length === 1)
      body = Buffer.from(this.body[0]!); // own copy: do not pin the socket chunk
    else body = Buffer.concat(this.body, this.bodyLen);
    const frame: Frame = { command: this.command, headers: this.headers, body };
    this.headers = newHeaders();
    this.headerCount = 0;
    this.body = [];
    this.fixed = undefined;
    this.bodyLen = 0;
    this.contentLength = -1;
    this.frameBytes = 0;
    this.state = State.Command;
    this.onFrame(frame);
  }
}

const EMPTY = Buffer.alloc(0);
