/**
 * AMQP 0-9-1 primitive types (§4.2.5) and field tables, as RabbitMQ encodes them (its
 * errata: 's' is a signed short, 'l' a signed long-long, 'x' a byte array). The Reader
 * checks bounds before every read, so a truncated or lying payload is a SYNTAX_ERROR,
 * never an out-of-range read.
 */
import type { FieldTable, FieldValue, TypedFieldValue } from '@junction/core';
import { frameError, syntaxError } from './errors.js';

export const FRAME_END = 0xce;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
/**
 * How many levels of tables and arrays may nest below a top-level table. RabbitMQ has no
 * limit, but our decoder and encoder recurse, and one event loop serves every client: a
 * 10,000-deep header table overflowed the stack. Decoding refuses deeper input with
 * SYNTAX_ERROR at the sender's edge; encoding (messages from other protocols or the HTTP API)
 * writes void in place of anything deeper, so a consumer is never closed for it.
 */
export const MAX_TABLE_DEPTH = 32;

export class Reader {
  constructor(
    readonly buf: Buffer,
    public o: number,
    readonly end: number,
  ) {}

  get remaining(): number {
    return this.end - this.o;
  }

  private need(n: number): void {
    if (this.o + n > this.end) throw syntaxError(`truncated: needed ${n} more bytes at offset ${this.o}`);
  }

  octet(): number {
    this.need(1);
    return this.buf[this.o++]!;
  }

  short(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.o);
    this.o += 2;
    return v;
  }

  long(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.o);
    this.o += 4;
    return v;
  }

  longlong(): number {
    this.need(8);
    const hi = this.buf.readUInt32BE(this.o);
    const lo = this.buf.readUInt32BE(this.o + 4);
    this.o += 8;
    // Delivery tags and body sizes stay far below 2^53 in practice; past it, precision is lost, not bytes.
    return hi * 0x1_0000_0000 + lo;
  }

  shortstr(): string {
    const len = this.octet();
    this.need(len);
    const s = this.buf.toString('utf8', this.o, this.o + len);
    this.o += len;
    return s;
  }

  longstr(): Buffer {
    const len = this.long();
    this.need(len);
    const b = this.buf.subarray(this.o, this.o + len);
    this.o += len;
    return b;
  }

  table(depth = 0): FieldTable {
    const len = this.long();
    this.need(len);
    const end = this.o + len;
    const t = decodeTableBody(this.buf, this.o, end, depth);
    this.o = end;
    return t;
  }
}

/** A field table's entries between `o` and `end` (AMQPLAIN responses are exactly this, without the length). */
export function decodeTableBody(buf: Buffer, o: number, end: number, depth = 0): FieldTable {
  if (depth > MAX_TABLE_DEPTH) throw syntaxError(`field table nested deeper than ${MAX_TABLE_DEPTH}`);
  const r = new Reader(buf, o, end);
  const t: FieldTable = {};
  while (r.o < end) {
    const key = r.shortstr();
    const value = fieldValue(r, depth);
    // A key named `__proto__` is a header like any other: assigned, it would set the table's
    // prototype (the header lost, its entries inherited as if they were headers).
    if (key === '__proto__')
      Object.defineProperty(t, key, { value, enumerable: true, writable: true, configurable: true });
    else t[key] = value;
  }
  return t;
}

/**
 * Values whose wire type a plain JS value would not round-trip are kept typed, with
 * readable names (the same names other adapters and the core use, e.g. x-death's 'time').
 */
const typeNames: Record<string, string> = {
  b: 'int8',
  B: 'uint8',
  s: 'int16',
  u: 'uint16',
  i: 'uint32',
  f: 'float',
  D: 'decimal',
  T: 'timestamp',
};
const typeLetters: Record<string, string> = {
  ...Object.fromEntries(Object.entries(typeNames).map(([k, v]) => [v, k])),
  bool: 't',
  int32: 'I',
  int64: 'l',
  double: 'd',
  string: 'S',
  bytes: 'x',
  void: 'V',
};
const letterOf = (t: string): string => (t.length === 1 ? t : (typeLetters[t] ?? t));
const typed = (letter: string, value: unknown): TypedFieldValue => ({
  '!': typeNames[letter] ?? letter,
  value,
});

function fieldValue(r: Reader, depth: number): FieldValue {
  const type = String.fromCharCode(r.octet());
  const b = r.buf;
  switch (type) {
    case 't':
      return r.octet() !== 0;
    // Integers of every width decode to plain numbers: clients pick the width freely
    // (amqplib sends x-max-priority as a byte) and the broker compares values, not widths.
    case 'b':
      return b.readInt8(advance(r, 1));
    case 'B':
      return r.octet();
    case 's':
      return b.readInt16BE(advance(r, 2));
    case 'u':
      return r.short();
    case 'I':
      return b.readInt32BE(advance(r, 4));
    case 'i':
      return r.long();
    case 'l': {
      const v = b.readBigInt64BE(advance(r, 8));
      return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v;
    }
    case 'f':
      return typed('f', b.readFloatBE(advance(r, 4)));
    case 'd':
      return b.readDoubleBE(advance(r, 8));
    case 'D': {
      const scale = r.octet();
      const digits = b.readInt32BE(advance(r, 4));
      return typed('D', { scale, digits });
    }
    case 'S':
      return r.longstr().toString('utf8');
    case 'x':
      return Buffer.from(r.longstr());
    case 'T':
      return typed('T', r.longlong());
    case 'F':
      return r.table(depth + 1);
    case 'A': {
      const len = r.long();
      const end = r.o + len;
      if (end > r.end) throw syntaxError('truncated field array');
      const inner = new Reader(b, r.o, end);
      const arr: FieldValue[] = [];
      if (depth + 1 > MAX_TABLE_DEPTH) throw syntaxError(`field array nested deeper than ${MAX_TABLE_DEPTH}`);
      while (inner.o < end) arr.push(fieldValue(inner, depth + 1));
      r.o = end;
      return arr;
    }
    case 'V':
      return null;
    default:
      throw syntaxError(`unknown field value type '${type}' (0x${type.charCodeAt(0).toString(16)})`);
  }
}

function advance(r: Reader, n: number): number {
  if (r.o + n > r.end) throw syntaxError(`truncated field value at offset ${r.o}`);
  const at = r.o;
  r.o += n;
  return at;
}

// ---- sizes (computed before writing, so every frame is one allocation) --------------------

export function shortstrSize(s: string): number {
  return 1 + Buffer.byteLength(s);
}

export function longstrSize(s: Buffer | string): number {
  return 4 + (typeof s === 'string' ? Buffer.byteLength(s) : s.length);
}

export function tableSize(t: FieldTable | undefined, depth = 0): number {
  let n = 4;
  if (t) for (const k in t) if (t[k] !== undefined) n += shortstrSize(k) + valueSize(t[k]!, depth);
  return n;
}

/** A table or array nested below `depth` that the encoder writes as void (see MAX_TABLE_DEPTH). */
const tooDeep = (v: object, depth: number): boolean =>
  depth + 1 > MAX_TABLE_DEPTH && !Buffer.isBuffer(v) && !(v instanceof Date) && !isTyped(v);

/** `depth` is that of the table or array holding `v`. */
function valueSize(v: FieldValue, depth: number): number {
  if (v === null || v === undefined) return 1;
  switch (typeof v) {
    case 'boolean':
      return 2;
    case 'string':
      return 5 + Buffer.byteLength(v);
    case 'number':
      return Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff ? 5 : 9;
    case 'bigint':
      return 9;
    default:
      break;
  }
  if (tooDeep(v, depth)) return 1;
  if (Buffer.isBuffer(v)) return 5 + v.length;
  if (v instanceof Date) return 9;
  if (Array.isArray(v)) {
    let n = 5;
    for (const x of v) n += valueSize(x, depth + 1);
    return n;
  }
  if (isTyped(v)) return 1 + typedSize(v);
  return 1 + tableSize(v as FieldTable, depth + 1);
}

const typedSizes: Record<string, number> = {
  t: 1,
  b: 1,
  B: 1,
  s: 2,
  u: 2,
  I: 4,
  i: 4,
  l: 8,
  f: 4,
  d: 8,
  D: 5,
  T: 8,
  V: 0,
};

function typedSize(v: TypedFieldValue): number {
  const t = letterOf(v['!']);
  const fixed = typedSizes[t];
  if (fixed !== undefined) return fixed;
  if (t === 'S' || t === 'x') return longstrSize(v.value as Buffer | string);
  throw frameError(`cannot encode a field value typed '${v['!']}'`);
}

function isTyped(v: object): v is TypedFieldValue {
  return '!' in v && 'value' in v && typeof (v as TypedFieldValue)['!'] === 'string';
}

// ---- writing ----------------------------------------------------------------------------

export class Writer {
  o: number;

  private constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.o = start;
  }

  /** A whole frame: header written, payload to follow, frame-end added by end(). */
  static frame(type: number, channel: number, payloadSize: number): Writer {
    const buf = Buffer.allocUnsafe(payloadSize + 8);
    buf[0] = type;
    buf.writeUInt16BE(channel, 1);
    buf.writeUInt32BE(payloadSize, 3);
    return new Writer(buf, 7);
  }

  static into(buf: Buffer, offset: number): Writer {
    return new Writer(buf, offset);
  }

  end(): Buffer {
    if (this.o !== this.buf.length - 1)
      throw new Error(`frame size mismatch: wrote ${this.o + 1} of ${this.buf.length}`);
    this.buf[this.o] = FRAME_END;
    return this.buf;
  }

  octet(v: number): void {
    this.buf[this.o++] = v;
  }

  short(v: number): void {
    this.buf.writeUInt16BE(v, this.o);
    this.o += 2;
  }

  long(v: number): void {
    this.buf.writeUInt32BE(v, this.o);
    this.o += 4;
  }

  longlong(v: number): void {
    this.buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), this.o);
    this.buf.writeUInt32BE(v >>> 0, this.o + 4);
    this.o += 8;
  }

  shortstr(s: string): void {
    const len = this.buf.write(s, this.o + 1, 'utf8');
    if (len > 255) throw frameError(`short string longer than 255 bytes`);
    this.buf[this.o] = len;
    this.o += 1 + len;
  }

  longstr(s: Buffer | string): void {
    const len = typeof s === 'string' ? this.buf.write(s, this.o + 4, 'utf8') : s.copy(this.buf, this.o + 4);
    this.buf.writeUInt32BE(len, this.o);
    this.o += 4 + len;
  }

  table(t: FieldTable | undefined, depth = 0): void {
    const start = this.o;
    this.o += 4;
    if (t) {
      for (const k in t) {
        const v = t[k];
        if (v === undefined) continue;
        this.shortstr(k);
        this.value(v, depth);
      }
    }
    this.buf.writeUInt32BE(this.o - start - 4, start);
  }

  /** `depth` is that of the table or array holding `v`; tableSize/valueSize mirror this. */
  private value(v: FieldValue, depth: number): void {
    const b = this.buf;
    if (v === null || v === undefined) return this.octet(0x56); // 'V'
    switch (typeof v) {
      case 'boolean':
        this.octet(0x74);
        return this.octet(v ? 1 : 0);
      case 'string':
        this.octet(0x53);
        return this.longstr(v);
      case 'number':
        if (Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff) {
          this.octet(0x49);
          this.o = b.writeInt32BE(v, this.o);
        } else if (Number.isSafeInteger(v)) {
          this.octet(0x6c);
          this.o = b.writeBigInt64BE(BigInt(v), this.o);
        } else {
          this.octet(0x64);
          this.o = b.writeDoubleBE(v, this.o);
        }
        return;
      case 'bigint':
        this.octet(0x6c);
        this.o = b.writeBigInt64BE(v, this.o);
        return;
      default:
        break;
    }
    if (tooDeep(v, depth)) return this.octet(0x56);
    if (Buffer.isBuffer(v)) {
      this.octet(0x78);
      return this.longstr(v);
    }
    if (v instanceof Date) {
      this.octet(0x54);
      return this.longlong(Math.floor(v.getTime() / 1000));
    }
    if (Array.isArray(v)) {
      this.octet(0x41);
      const start = this.o;
      this.o += 4;
      for (const x of v) this.value(x, depth + 1);
      b.writeUInt32BE(this.o - start - 4, start);
      return;
    }
    if (isTyped(v)) return this.typed(v);
    this.octet(0x46);
    this.table(v as FieldTable, depth + 1);
  }

  private typed(v: TypedFieldValue): void {
    const t = letterOf(v['!']);
    const b = this.buf;
    this.octet(t.charCodeAt(0));
    const n = v.value as number;
    switch (t) {
      case 't':
        return this.octet(v.value ? 1 : 0);
      case 'b':
        this.o = b.writeInt8(n, this.o);
        return;
      case 'B':
        return this.octet(n);
      case 's':
        this.o = b.writeInt16BE(n, this.o);
        return;
      case 'u':
        return this.short(n);
      case 'I':
        this.o = b.writeInt32BE(n, this.o);
        return;
      case 'i':
        return this.long(n);
      case 'l':
        this.o = b.writeBigInt64BE(BigInt(v.value as number | bigint), this.o);
        return;
      case 'f':
        this.o = b.writeFloatBE(n, this.o);
        return;
      case 'd':
        this.o = b.writeDoubleBE(n, this.o);
        return;
      case 'D': {
        const d = v.value as { scale: number; digits: number };
        this.octet(d.scale);
        this.o = b.writeInt32BE(d.digits, this.o);
        return;
      }
      case 'T':
        return this.longlong(n);
      case 'S':
      case 'x':
        return this.longstr(v.value as Buffer | string);
      case 'V':
        return;
      default:
        throw frameError(`cannot encode a field value typed '${t}'`);
    }
  }
}
