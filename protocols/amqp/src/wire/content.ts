/**
 * Content: the header frame with the basic-class properties (§4.2.6.1, property flags
 * bit 15 first) and the body frames, split so no frame exceeds frame-max.
 */
import type { Message, MessageProperties } from '@junction/core';
import { syntaxError } from './errors.js';
import { methodsByName, type ArgsOf, type MethodName } from './methods.gen.js';
import { Reader, Writer, shortstrSize, tableSize } from './primitives.js';

export interface ContentHeader {
  classId: number;
  bodySize: number;
  properties: MessageProperties;
  /** The encoded property flags and list, reusable as-is when the message goes out again over AMQP. */
  propertyBytes: Buffer;
}

type Prop = [keyof MessageProperties, 'shortstr' | 'table' | 'octet' | 'timestamp'];

const PROPS: readonly Prop[] = [
  ['contentType', 'shortstr'],
  ['contentEncoding', 'shortstr'],
  ['headers', 'table'],
  ['deliveryMode', 'octet'],
  ['priority', 'octet'],
  ['correlationId', 'shortstr'],
  ['replyTo', 'shortstr'],
  ['expiration', 'shortstr'],
  ['messageId', 'shortstr'],
  ['timestamp', 'timestamp'],
  ['type', 'shortstr'],
  ['userId', 'shortstr'],
  ['appId', 'shortstr'],
  ['clusterId', 'shortstr'],
];

export function decodeContentHeader(payload: Buffer): ContentHeader {
  const r = new Reader(payload, 0, payload.length);
  const classId = r.short();
  r.short(); // weight, unused (§4.2.6.1: must be zero)
  const bodySize = r.longlong();
  const propsStart = r.o;
  let flags = r.short();
  // Flag words continue while bit 0 is set; only the first word has defined properties.
  for (let more = flags & 1; more; more = r.short() & 1);
  const properties: MessageProperties = {};
  for (let i = 0; i < PROPS.length; i++) {
    if ((flags & (1 << (15 - i))) === 0) continue;
    const [name, type] = PROPS[i]!;
    switch (type) {
      case 'shortstr':
        (properties as Record<string, unknown>)[name] = r.shortstr();
        break;
      case 'table':
        properties.headers = r.table();
        break;
      case 'octet':
        (properties as Record<string, unknown>)[name] = r.octet();
        break;
      case 'timestamp':
        properties.timestamp = r.longlong();
        break;
    }
  }
  flags = 0;
  if (r.o !== payload.length) throw syntaxError(`content header has ${payload.length - r.o} trailing bytes`);
  return { classId, bodySize, properties, propertyBytes: payload.subarray(propsStart) };
}

function propertiesSize(p: MessageProperties): number {
  let n = 2;
  for (const [name, type] of PROPS) {
    const v = p[name];
    if (v === undefined) continue;
    n +=
      type === 'shortstr'
        ? shortstrSize(v as string)
        : type === 'table'
          ? tableSize(p.headers)
          : type === 'octet'
            ? 1
            : 8;
  }
  return n;
}

function writeProperties(w: Writer, p: MessageProperties): void {
  let flags = 0;
  for (let i = 0; i < PROPS.length; i++) if (p[PROPS[i]![0]] !== undefined) flags |= 1 << (15 - i);
  w.short(flags);
  for (const [name, type] of PROPS) {
    const v = p[name];
    if (v === undefined) continue;
    if (type === 'shortstr') w.shortstr(v as string);
    else if (type === 'table') w.table(p.headers);
    else if (type === 'octet') w.octet(v as number);
    else w.longlong(v as number);
  }
}

/** Bodies up to this size are copied into the header frame's buffer: one buffer per message. */
const COPY_LIMIT = 64 * 1024;

/**
 * A content-carrying method (basic.deliver, basic.get-ok, basic.return) with its header and
 * body frames. Returns the buffers to write, in order.
 */
export function encodeContent<N extends 'basic.deliver' | 'basic.get-ok' | 'basic.return'>(
  channel: number,
  frameMax: number,
  method: N,
  args: ArgsOf<N>,
  msg: Message,
): Buffer[] {
  const methodFrame = methodsByName.get(method as MethodName)!.encode(channel, args as never);
  const cached = msg.encodedProperties?.protocol === 'amqp' ? msg.encodedProperties.bytes : undefined;
  const propsSize = cached ? cached.length : propertiesSize(msg.properties);
  const body = msg.body;
  const maxPayload = frameMax - 8;
  const bodyFrames = body.length === 0 ? 0 : Math.ceil(body.length / maxPayload);
  const headerFrameSize = 8 + 12 + propsSize;
  if (body.length <= COPY_LIMIT) {
    const out = Buffer.allocUnsafe(headerFrameSize + body.length + bodyFrames * 8);
    let o = writeHeaderFrame(out, channel, body.length, propsSize, cached, msg.properties);
    for (let start = 0; start < body.length; start += maxPayload) {
      const end = Math.min(start + maxPayload, body.length);
      o = writeBodyFrame(out, o, channel, body, start, end, true);
    }
    return [methodFrame, out];
  }
  const header = Buffer.allocUnsafe(headerFrameSize);
  writeHeaderFrame(header, channel, body.length, propsSize, cached, msg.properties);
  const parts = [methodFrame, header];
  // Large bodies are not copied: each frame is a 7-byte prefix, a slice of the body, and the end octet.
  for (let start = 0; start < body.length; start += maxPayload) {
    const end = Math.min(start + maxPayload, body.length);
    const prefix = Buffer.allocUnsafe(7);
    prefix[0] = 3;
    prefix.writeUInt16BE(channel, 1);
    prefix.writeUInt32BE(end - start, 3);
    parts.push(prefix, body.subarray(start, end), FRAME_END_BUF);
  }
  return parts;
}

const FRAME_END_BUF = Buffer.from([0xce]);

function writeHeaderFrame(
  out: Buffer,
  channel: number,
  bodySize: number,
  propsSize: number,
  cached: Buffer | undefined,
  props: MessageProperties,
): number {
  out[0] = 2;
  out.writeUInt16BE(channel, 1);
  out.writeUInt32BE(12 + propsSize, 3);
  out.writeUInt16BE(60, 7);
  out.writeUInt16BE(0, 9);
  out.writeUInt32BE(Math.floor(bodySize / 0x1_0000_0000), 11);
  out.writeUInt32BE(bodySize >>> 0, 15);
  if (cached) cached.copy(out, 19);
  else writeProperties(Writer.into(out, 19), props);
  out[19 + propsSize] = 0xce;
  return 20 + propsSize;
}

function writeBodyFrame(
  out: Buffer,
  o: number,
  channel: number,
  body: Buffer,
  start: number,
  end: number,
  copy: boolean,
): number {
  out[o] = 3;
  out.writeUInt16BE(channel, o + 1);
  out.writeUInt32BE(end - start, o + 3);
  if (copy) body.copy(out, o + 7, start, end);
  out[o + 7 + end - start] = 0xce;
  return o + 8 + end - start;
}
