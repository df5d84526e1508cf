/**
 * MQTT 5 properties (spec 2.2.2.2), decoded strictly and encoded. mqtt-packet accepts what
 * the spec makes fatal (a repeated property becomes an array, a property in the wrong packet
 * is kept, a boolean of 7 passes), so every v5 property block, CONNECT's included, goes
 * through this decoder:
 * - an unknown identifier, one not valid in its packet, a truncated value or ill-formed UTF-8
 *   is a Malformed Packet (0x81);
 * - a property given twice (only User Property may repeat) or a value the spec rules out
 *   (a boolean other than 0/1, Receive Maximum 0, Maximum Packet Size 0, Subscription
 *   Identifier 0) is a Protocol Error (0x82).
 * Work is bounded by the packet, whose size the reader has already checked.
 */
import { isUtf8 } from 'node:buffer';
import { MalformedPacket, Reason } from './reason-codes.js';

/** Where a property may appear: a bit per packet kind. */
export const enum Kind {
  CONNECT = 1,
  CONNACK = 2,
  PUBLISH = 4,
  WILL = 8,
  /** PUBACK, PUBREC, PUBREL, PUBCOMP */
  ACK = 16,
  SUBSCRIBE = 32,
  SUBACK = 64,
  UNSUBSCRIBE = 128,
  UNSUBACK = 256,
  DISCONNECT = 512,
  AUTH = 1024,
}

export interface Properties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  /** One in SUBSCRIBE; a server PUBLISH carries one per matching subscription. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQos?: number;
  retainAvailable?: number;
  /** In order, repeats kept (the spec lets a name appear more than once). */
  userProperties?: [string, string][];
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifierAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

type Name = keyof Properties;
type Type = 'bool' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';

interface Spec {
  id: number;
  name: Name;
  type: Type;
  where: number;
  /** 0 is a Protocol Error (Receive Maximum, Maximum Packet Size, Subscription Identifier). */
  nonZero?: true;
}

const ACKS = Kind.ACK | Kind.SUBACK | Kind.UNSUBACK;
const SPECS: readonly Spec[] = [
  { id: 0x01, name: 'payloadFormatIndicator', type: 'bool', where: Kind.PUBLISH | Kind.WILL },
  { id: 0x02, name: 'messageExpiryInterval', type: 'u32', where: Kind.PUBLISH | Kind.WILL },
  { id: 0x03, name: 'contentType', type: 'utf8', where: Kind.PUBLISH | Kind.WILL },
  { id: 0x08, name: 'responseTopic', type: 'utf8', where: Kind.PUBLISH | Kind.WILL },
  { id: 0x09, name: 'correlationData', type: 'binary', where: Kind.PUBLISH | Kind.WILL },
  {
    id: 0x0b,
    name: 'subscriptionIdentifiers',
    type: 'varint',
    where: Kind.PUBLISH | Kind.SUBSCRIBE,
    nonZero: true,
  },
  {
    id: 0x11,
    name: 'sessionExpiryInterval',
    type: 'u32',
    where: Kind.CONNECT | Kind.CONNACK | Kind.DISCONNECT,
  },
  { id: 0x12, name: 'assignedClientIdentifier', type: 'utf8', where: Kind.CONNACK },
  { id: 0x13, name: 'serverKeepAlive', type: 'u16', where: Kind.CONNACK },
  {
    id: 0x15,
    name: 'authenticationMethod',
    type: 'utf8',
    where: Kind.CONNECT | Kind.CONNACK | Kind.AUTH,
  },
  {
    id: 0x16,
    name: 'authenticationData',
    type: 'binary',
    where: Kind.CONNECT | Kind.CONNACK | Kind.AUTH,
  },
  { id: 0x17, name: 'requestProblemInformation', type: 'bool', where: Kind.CONNECT },
  { id: 0x18, name: 'willDelayInterval', type: 'u32', where: Kind.WILL },
  { id: 0x19, name: 'requestResponseInformation', type: 'bool', where: Kind.CONNECT },
  { id: 0x1a, name: 'responseInformation', type: 'utf8', where: Kind.CONNACK },
  { id: 0x1c, name: 'serverReference', type: 'utf8', where: Kind.CONNACK | Kind.DISCONNECT },
  {
    id: 0x1f,
    name: 'reasonString',
    type: 'utf8',
    where: Kind.CONNACK | ACKS | Kind.DISCONNECT | Kind.AUTH,
  },
  {
    id: 0x21,
    name: 'receiveMaximum',
    type: 'u16',
    where: Kind.CONNECT | Kind.CONNACK,
    nonZero: true,
  },
  { id: 0x22, name: 'topicAliasMaximum', type: 'u16', where: Kind.CONNECT | Kind.CONNACK },
  { id: 0x23, name: 'topicAlias', type: 'u16', where: Kind.PUBLISH },
  { id: 0x24, name: 'maximumQos', type: 'bool', where: Kind.CONNACK },
  { id: 0x25, name: 'retainAvailable', type: 'bool', where: Kind.CONNACK },
  { id: 0x26, name: 'userProperties', type: 'pair', where: 0xffff },
  {
    id: 0x27,
    name: 'maximumPacketSize',
    type: 'u32',
    where: Kind.CONNECT | Kind.CONNACK,
    nonZero: true,
  },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', type: 'bool', where: Kind.CONNACK },
  { id: 0x29, name: 'subscriptionIdentifierAvailable', type: 'bool', where: Kind.CONNACK },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', type: 'bool', where: Kind.CONNACK },
];

const BY_ID: (Spec | undefined)[] = [];
const BY_NAME = new Map<Name, Spec>();
for (const s of SPECS) {
  BY_ID[s.id] = s;
  BY_NAME.set(s.name, s);
}

const malformed = (why: string): MalformedPacket => new MalformedPacket(why, Reason.MalformedPacket);
const protocolError = (why: string): MalformedPacket => new MalformedPacket(why, Reason.ProtocolError);

/** Reads a Variable Byte Integer at pos; returns [value, next position]. */
function readVarint(b: Buffer, pos: number, end: number): [number, number] {
  let value = 0;
  let mult = 1;
  for (let i = 0; i < 4; i++) {
    if (pos >= end) throw malformed('truncated variable byte integer');
    const byte = b[pos++]!;
    value += (byte & 0x7f) * mult;
    if ((byte & 0x80) === 0) return [value, pos];
    mult *= 128;
  }
  throw malformed('variable byte integer longer than 4 bytes');
}

function readUtf8(b: Buffer, pos: number, end: number, what: string): [string, number] {
  const [bytes, next] = readBinary(b, pos, end, what);
  // MQTT-1.5.4-1/2: ill-formed UTF-8 and U+0000 make the packet malformed.
  if (!isUtf8(bytes) || bytes.includes(0)) throw malformed(`${what} is not valid UTF-8`);
  return [bytes.toString('utf8'), next];
}

function readBinary(b: Buffer, pos: number, end: number, what: string): [Buffer, number] {
  if (pos + 2 > end) throw malformed(`truncated ${what}`);
  const next = pos + 2 + b.readUInt16BE(pos);
  if (next > end) throw malformed(`truncated ${what}`);
  return [b.subarray(pos + 2, next), next];
}

/**
 * Decodes the property block at pos (its length first) of a packet of kind `kind`, which
 * ends at `end`; returns the properties and the position after the block.
 */
export function decodeProperties(b: Buffer, pos: number, end: number, kind: Kind): [Properties, number] {
  const [length, start] = readVarint(b, pos, end);
  const stop = start + length;
  if (stop > end) throw malformed('property length beyond the packet');
  const out: Properties = {};
  const acc = out as Record<Name, unknown>;
  pos = start;
  while (pos < stop) {
    const id = b[pos++]!;
    const spec = BY_ID[id];
    if (!spec) throw malformed(`unknown property 0x${id.toString(16)}`);
    if ((spec.where & kind) === 0) throw malformed(`property ${spec.name} is not valid in this packet`);
    if (acc[spec.name] !== undefined && spec.type !== 'pair')
      throw protocolError(`property ${spec.name} more than once`);
    let value: number | string | Buffer;
    switch (spec.type) {
      case 'bool':
        if (pos + 1 > stop) throw malformed(`truncated ${spec.name}`);
        value = b[pos++]!;
        if (value > 1) throw protocolError(`${spec.name} must be 0 or 1`);
        break;
      case 'u16':
        if (pos + 2 > stop) throw malformed(`truncated ${spec.name}`);
        value = b.readUInt16BE(pos);
        pos += 2;
        break;
      case 'u32':
        if (pos + 4 > stop) throw malformed(`truncated ${spec.name}`);
        value = b.readUInt32BE(pos);
        pos += 4;
        break;
      case 'varint':
        [value, pos] = readVarint(b, pos, stop);
        break;
      case 'utf8':
        [value, pos] = readUtf8(b, pos, stop, spec.name);
        break;
      case 'binary':
        [value, pos] = readBinary(b, pos, stop, spec.name);
        break;
      case 'pair': {
        const [name, afterName] = readUtf8(b, pos, stop, 'user property name');
        const [val, afterValue] = readUtf8(b, afterName, stop, 'user property value');
        pos = afterValue;
        (out.userProperties ??= []).push([name, val]);
        continue;
      }
    }
    if (spec.nonZero && value === 0) throw protocolError(`${spec.name} of 0`);
    acc[spec.name] = spec.name === 'subscriptionIdentifiers' ? [value] : value;
  }
  return [out, stop];
}

// ---- encoding ------------------------------------------------------------------------------

/** The property block of a packet without properties: a zero length. */
export const NO_PROPERTIES = Buffer.from([0]);

/** Bytes of a Variable Byte Integer. */
export function varintLength(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

/** Writes a Variable Byte Integer at pos; returns the position after it. */
export function writeVarint(b: Buffer, pos: number, n: number): number {
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    b[pos++] = byte;
  } while (n > 0);
  return pos;
}

function valueLength(type: Type, v: unknown): number {
  switch (type) {
    case 'bool':
      return 1;
    case 'u16':
      return 2;
    case 'u32':
      return 4;
    case 'varint':
      return varintLength(v as number);
    case 'utf8':
      return 2 + Buffer.byteLength(v as string);
    case 'binary':
      return 2 + (v as Buffer).length;
    case 'pair':
      return (
        4 + Buffer.byteLength((v as [string, string])[0]) + Buffer.byteLength((v as [string, string])[1])
      );
  }
}

function writeValue(b: Buffer, pos: number, type: Type, v: unknown): number {
  switch (type) {
    case 'bool':
      b[pos] = v as number;
      return pos + 1;
    case 'u16':
      return b.writeUInt16BE(v as number, pos);
    case 'u32':
      return b.writeUInt32BE(v as number, pos);
    case 'varint':
      return writeVarint(b, pos, v as number);
    case 'utf8': {
      const n = b.write(v as string, pos + 2, 'utf8');
      b.writeUInt16BE(n, pos);
      return pos + 2 + n;
    }
    case 'binary':
      b.writeUInt16BE((v as Buffer).length, pos);
      (v as Buffer).copy(b, pos + 2);
      return pos + 2 + (v as Buffer).length;
    case 'pair': {
      const [name, value] = v as [string, string];
      return writeValue(b, writeValue(b, pos, 'utf8', name), 'utf8', value);
    }
  }
}

/** Each property as [spec, value] entries, repeats (user properties, subscription ids) expanded. */
function entries(p: Properties): [Spec, unknown][] {
  const out: [Spec, unknown][] = [];
  for (const name of Object.keys(p) as Name[]) {
    const v = p[name];
    if (v === undefined) continue;
    const spec = BY_NAME.get(name)!;
    if (Array.isArray(v)) for (const one of v) out.push([spec, one]);
    else out.push([spec, v]);
  }
  return out;
}

/** A property block: its length, then the properties. */
export function encodeProperties(p: Properties): Buffer {
  const list = entries(p);
  let length = 0;
  for (const [spec, v] of list) length += 1 + valueLength(spec.type, v);
  const b = Buffer.allocUnsafe(varintLength(length) + length);
  let pos = writeVarint(b, 0, length);
  for (const [spec, v] of list) {
    b[pos++] = spec.id;
    pos = writeValue(b, pos, spec.type, v);
  }
  return b;
}
