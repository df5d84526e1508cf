/**
 * MQTT 3.1/3.1.1 and 5 wire format. The reader splits the byte stream into packets and enforces
 * the size limit from the fixed header, before any body is buffered. CONNECT is decoded by
 * mqtt-packet (the parser aedes is built on: will, flags, protocol names); the packets on
 * the hot path (PUBLISH, acks, SUBSCRIBE) are decoded here straight from the buffer,
 * checking what mqtt-packet does not: UTF-8 well-formedness, reserved flags, QoS 3,
 * packet id 0. MQTT 5 adds a property block (properties.ts) and reason codes to most packets;
 * the `v5` variants read and write those, and the 3.1.1 path stays as it was.
 */
import { isUtf8 } from 'node:buffer';
import {
  Kind,
  decodeProperties,
  encodeProperties,
  varintLength,
  writeVarint,
  type Properties,
} from './properties.js';
import { MalformedPacket, Reason } from './reason-codes.js';

export { MalformedPacket } from './reason-codes.js';

export const enum PacketType {
  CONNECT = 1,
  CONNACK = 2,
  PUBLISH = 3,
  PUBACK = 4,
  PUBREC = 5,
  PUBREL = 6,
  PUBCOMP = 7,
  SUBSCRIBE = 8,
  SUBACK = 9,
  UNSUBSCRIBE = 10,
  UNSUBACK = 11,
  PINGREQ = 12,
  PINGRESP = 13,
  DISCONNECT = 14,
  AUTH = 15,
}

/**
 * One packet as the reader cut it. `whole` is made only when asked for (CONNECT): a second
 * view per PUBLISH and PUBACK would be one more Buffer object per message each way.
 */
export class RawPacket {
  constructor(
    readonly type: PacketType,
    readonly flags: number,
    /** The variable header and payload. */
    readonly body: Buffer,
    /** Bytes of the fixed header before `body`. */
    private readonly headerLength: number,
  ) {}

  /** The whole packet, fixed header included (for mqtt-packet's CONNECT parser). */
  get whole(): Buffer {
    const { body, headerLength } = this;
    return Buffer.from(body.buffer, body.byteOffset - headerLength, headerLength + body.length);
  }
}

/** Splits a byte stream into packets; never buffers more than one packet of at most maxSize. */
/**
 * The chunks of a reader with nothing left over: shared, never pushed to (push replaces it), so
 * an idle connection's reader holds no array of its own (~56 bytes per device).
 */
const NO_CHUNKS: Buffer[] = [];

export class PacketReader {
  private chunks: Buffer[] = NO_CHUNKS;
  /**
   * Bytes of chunks[0] already read: several packets in one chunk move this instead of
   * making a view of the rest after each one.
   */
  private offset = 0;
  /** Bytes not yet read. */
  private buffered = 0;

  constructor(public maxSize: number) {}

  /** Feeds bytes; calls onPacket for each complete packet. Throws MalformedPacket. */
  push(chunk: Buffer, onPacket: (p: RawPacket) => void): void {
    // Usually nothing is left over: a one-slot array, where push would reserve 17 per connection.
    if (this.chunks.length === 0) {
      this.chunks = [chunk];
      this.offset = 0;
    } else this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < 2) return;
      let head = this.chunks[0]!;
      if (head.length - this.offset < 5 && this.chunks.length > 1) head = this.merge();
      const at = this.offset;
      let length = 0;
      let mult = 1;
      let i = 1;
      for (;;) {
        if (at + i >= head.length) return; // remaining length still incomplete
        const b = head[at + i]!;
        length += (b & 0x7f) * mult;
        i++;
        if ((b & 0x80) === 0) break;
        if (i > 4) throw new MalformedPacket('malformed remaining length');
        mult *= 128;
      }
      if (length > this.maxSize)
        throw new MalformedPacket(
          `packet of ${length} bytes exceeds the limit of ${this.maxSize}`,
          Reason.PacketTooLarge,
        );
      const total = i + length;
      if (this.buffered < total) return;
      let start = at;
      if (head.length - at < total) {
        head = this.merge();
        start = 0;
      }
      const byte0 = head[start]!;
      const packet = new RawPacket(byte0 >> 4, byte0 & 0x0f, head.subarray(start + i, start + total), i);
      if (head.length === start + total) {
        if (this.chunks.length === 1) this.chunks = NO_CHUNKS;
        else this.chunks.shift();
        this.offset = 0;
      } else this.offset = start + total;
      this.buffered -= total;
      onPacket(packet);
    }
  }

  private merge(): Buffer {
    const chunks = this.chunks;
    if (this.offset > 0) chunks[0] = chunks[0]!.subarray(this.offset);
    const all = Buffer.concat(chunks, this.buffered);
    this.chunks = [all];
    this.offset = 0;
    return all;
  }
}

function readString(body: Buffer, pos: number, what: string): [string, number] {
  if (pos + 2 > body.length) throw new MalformedPacket(`truncated ${what}`);
  const len = body.readUInt16BE(pos);
  const end = pos + 2 + len;
  if (end > body.length) throw new MalformedPacket(`truncated ${what}`);
  return [textAt(body, pos + 2, end, what), end];
}

/** UTF-8 text; an all-ASCII one (most topics) is checked here without a view and a native call. */
function textAt(body: Buffer, start: number, end: number, what: string): string {
  let i = start;
  while (i < end && body[i]! < 0x80) i++;
  if (i === end) return body.toString('latin1', start, end);
  // MQTT-1.5.3-1: ill-formed UTF-8 closes the connection.
  if (!isUtf8(body.subarray(start, end))) throw new MalformedPacket(`${what} is not valid UTF-8`);
  return body.toString('utf8', start, end);
}

export interface PublishPacket {
  topic: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  dup: boolean;
  packetId: number;
  payload: Buffer;
  /** MQTT 5 only. */
  properties?: Properties;
}

export function decodePublish(p: RawPacket, v5: boolean): PublishPacket {
  const qos = (p.flags >> 1) & 3;
  if (qos === 3) throw new MalformedPacket('PUBLISH with QoS 3');
  const [topic, pos] = readString(p.body, 0, 'topic name');
  let packetId = 0;
  let start = pos;
  if (qos > 0) {
    if (pos + 2 > p.body.length) throw new MalformedPacket('PUBLISH without a packet identifier');
    packetId = p.body.readUInt16BE(pos);
    if (packetId === 0) throw new MalformedPacket('packet identifier 0');
    start += 2;
  }
  let properties: Properties | undefined;
  if (v5) [properties, start] = decodeProperties(p.body, start, p.body.length, Kind.PUBLISH);
  return {
    topic,
    qos: qos as 0 | 1 | 2,
    retain: (p.flags & 1) === 1,
    dup: (p.flags & 8) === 8,
    packetId,
    payload: p.body.subarray(start),
    properties,
  };
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP: a packet identifier and nothing else. */
export function decodePacketId(p: RawPacket): number {
  if (p.body.length !== 2) throw new MalformedPacket('acknowledgement of the wrong length');
  const id = p.body.readUInt16BE(0);
  if (id === 0) throw new MalformedPacket('packet identifier 0');
  return id;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP of MQTT 5: a reason code and properties may follow the id. */
export function decodeAck5(p: RawPacket): { packetId: number; reasonCode: number } {
  if (p.body.length < 2) throw new MalformedPacket('acknowledgement of the wrong length');
  const packetId = p.body.readUInt16BE(0);
  if (packetId === 0) throw new MalformedPacket('packet identifier 0');
  const reasonCode = p.body.length > 2 ? p.body[2]! : Reason.Success;
  if (p.body.length > 3) {
    const [, end] = decodeProperties(p.body, 3, p.body.length, Kind.ACK);
    if (end !== p.body.length) throw new MalformedPacket('bytes after the properties');
  }
  return { packetId, reasonCode };
}

export interface SubscriptionRequest {
  filter: string;
  qos: number;
  /** MQTT 5 subscription options (3.8.3.1); 3.1.1 subscriptions have the defaults. */
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: number;
}

export function decodeSubscribe(
  p: RawPacket,
  v5: boolean,
): { packetId: number; subscriptions: SubscriptionRequest[]; properties?: Properties } {
  const packetId = decodePacketIdPrefix(p);
  const subscriptions: SubscriptionRequest[] = [];
  let pos = 2;
  let properties: Properties | undefined;
  if (v5) [properties, pos] = decodeProperties(p.body, pos, p.body.length, Kind.SUBSCRIBE);
  while (pos < p.body.length) {
    const [filter, next] = readString(p.body, pos, 'topic filter');
    if (next >= p.body.length) throw new MalformedPacket('subscription without a QoS byte');
    const options = p.body[next]!;
    const qos = options & 3;
    // MQTT-3.8.3-5: reserved bits are 0; in 3.1.1 every bit above the QoS is reserved.
    if (qos > 2 || (v5 ? options & 0xc0 : options & 0xfc) !== 0)
      throw new MalformedPacket('subscription options out of range');
    const retainHandling = (options >> 4) & 3;
    if (retainHandling === 3) throw new MalformedPacket('retain handling 3', Reason.ProtocolError);
    subscriptions.push({
      filter,
      qos,
      noLocal: (options & 4) !== 0,
      retainAsPublished: (options & 8) !== 0,
      retainHandling,
    });
    pos = next + 1;
  }
  // MQTT-3.8.3-3: at least one subscription.
  if (subscriptions.length === 0)
    throw new MalformedPacket('SUBSCRIBE without subscriptions', Reason.ProtocolError);
  return { packetId, subscriptions, properties };
}

export function decodeUnsubscribe(p: RawPacket, v5: boolean): { packetId: number; filters: string[] } {
  const packetId = decodePacketIdPrefix(p);
  const filters: string[] = [];
  let pos = 2;
  if (v5) pos = decodeProperties(p.body, pos, p.body.length, Kind.UNSUBSCRIBE)[1];
  while (pos < p.body.length) {
    const [filter, next] = readString(p.body, pos, 'topic filter');
    filters.push(filter);
    pos = next;
  }
  if (filters.length === 0)
    throw new MalformedPacket('UNSUBSCRIBE without topic filters', Reason.ProtocolError);
  return { packetId, filters };
}

/**
 * The property blocks of an MQTT 5 CONNECT, decoded strictly (mqtt-packet decodes the rest):
 * the CONNECT's own, after the keepalive, and the will's, after the client id.
 */
export function decodeConnectProperties5(whole: Buffer): { properties: Properties; will?: Properties } {
  let pos = 1;
  while (pos < whole.length && (whole[pos]! & 0x80) !== 0) pos++;
  pos++;
  const [, afterName] = readString(whole, pos, 'protocol name');
  if (afterName + 4 > whole.length) throw new MalformedPacket('truncated CONNECT');
  const flags = whole[afterName + 1]!;
  const [properties, afterProperties] = decodeProperties(whole, afterName + 4, whole.length, Kind.CONNECT);
  if ((flags & 4) === 0) return { properties };
  const [, afterClientId] = readString(whole, afterProperties, 'client id');
  const [will] = decodeProperties(whole, afterClientId, whole.length, Kind.WILL);
  return { properties, will };
}

/** A client's MQTT 5 DISCONNECT: a reason code (0 when absent) and properties. */
export const decodeDisconnect5 = (p: RawPacket): ReasonAndProperties =>
  decodeReasonAndProperties(p, Kind.DISCONNECT);

/** A client's MQTT 5 AUTH (3.15): a reason code (0 when absent) and properties. */
export const decodeAuth5 = (p: RawPacket): ReasonAndProperties => decodeReasonAndProperties(p, Kind.AUTH);

interface ReasonAndProperties {
  reasonCode: number;
  properties: Properties;
}

/** DISCONNECT and AUTH: a reason code and properties, both optional (3.14.2.1, 3.15.2.1). */
function decodeReasonAndProperties(p: RawPacket, kind: Kind): ReasonAndProperties {
  const reasonCode = p.body.length > 0 ? p.body[0]! : Reason.Success;
  let properties: Properties = {};
  if (p.body.length > 1) {
    let end;
    [properties, end] = decodeProperties(p.body, 1, p.body.length, kind);
    if (end !== p.body.length) throw new MalformedPacket('bytes after the properties');
  }
  return { reasonCode, properties };
}

function decodePacketIdPrefix(p: RawPacket): number {
  if (p.body.length < 2) throw new MalformedPacket('truncated packet identifier');
  const id = p.body.readUInt16BE(0);
  if (id === 0) throw new MalformedPacket('packet identifier 0');
  return id;
}

/** Fixed-header flags every packet but PUBLISH must carry (MQTT-2.2.2-1/2). */
export function requiredFlags(type: PacketType): number {
  return type === PacketType.PUBREL || type === PacketType.SUBSCRIBE || type === PacketType.UNSUBSCRIBE
    ? 2
    : 0;
}

// ---- encoders ------------------------------------------------------------------------------

export const PINGRESP = Buffer.from([0xd0, 0]);

export function connack(sessionPresent: boolean, returnCode: number): Buffer {
  return Buffer.from([0x20, 2, sessionPresent ? 1 : 0, returnCode]);
}

/** A packet of type byte0 whose variable header and payload are `parts`. */
function frame(byte0: number, parts: readonly Buffer[]): Buffer {
  let length = 0;
  for (const x of parts) length += x.length;
  const head = Buffer.allocUnsafe(1 + varintLength(length));
  head[0] = byte0;
  writeVarint(head, 1, length);
  return Buffer.concat([head, ...parts], head.length + length);
}

export function connack5(sessionPresent: boolean, reasonCode: number, properties: Properties): Buffer {
  return frame(0x20, [Buffer.from([sessionPresent ? 1 : 0, reasonCode]), encodeProperties(properties)]);
}

/** MQTT 5 PUBACK/PUBREC/PUBREL/PUBCOMP; success without properties is the short 3.1.1 form (3.4.2.1). */
export function ack5(byte0: number, packetId: number, reasonCode: number, properties?: Properties): Buffer {
  if (reasonCode === Reason.Success && !properties) return ackPacket(byte0, packetId);
  const head = Buffer.from([packetId >> 8, packetId & 0xff, reasonCode]);
  return frame(byte0, properties ? [head, encodeProperties(properties)] : [head]);
}

/** MQTT 5 UNSUBACK: one reason code per filter. */
export function unsuback5(packetId: number, codes: readonly number[], properties: Properties = {}): Buffer {
  return frame(0xb0, [
    Buffer.from([packetId >> 8, packetId & 0xff]),
    encodeProperties(properties),
    Buffer.from(codes),
  ]);
}

export function disconnect5(reasonCode: number, properties: Properties = {}): Buffer {
  return frame(0xe0, [Buffer.from([reasonCode]), encodeProperties(properties)]);
}

export function auth5(reasonCode: number, properties: Properties): Buffer {
  return frame(0xf0, [Buffer.from([reasonCode]), encodeProperties(properties)]);
}

/** PUBACK 0x40, PUBREC 0x50, PUBREL 0x62, PUBCOMP 0x70, UNSUBACK 0xb0. */
export function ackPacket(byte0: number, packetId: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b[0] = byte0;
  b[1] = 2;
  b[2] = packetId >> 8;
  b[3] = packetId & 0xff;
  return b;
}

/** SUBACK; `properties`: MQTT 5 (an encoded property block). */
export function suback(packetId: number, codes: readonly number[], properties?: Buffer): Buffer {
  if (properties)
    return frame(0x90, [Buffer.from([packetId >> 8, packetId & 0xff]), properties, Buffer.from(codes)]);
  const len = 2 + codes.length;
  const b = Buffer.allocUnsafe(1 + varintLength(len) + len);
  b[0] = 0x90;
  let pos = writeVarint(b, 1, len);
  b.writeUInt16BE(packetId, pos);
  pos += 2;
  for (const c of codes) b[pos++] = c;
  return b;
}

/**
 * The PUBLISH fixed and variable header; the payload is written after it as is (never copied).
 * `properties`: MQTT 5 (an encoded property block, NO_PROPERTIES when there are none).
 */
export function publishHeader(
  topic: Buffer,
  qos: number,
  packetId: number,
  dup: boolean,
  retain: boolean,
  payloadLength: number,
  properties?: Buffer,
): Buffer {
  const variable = 2 + topic.length + (qos > 0 ? 2 : 0) + (properties ? properties.length : 0);
  const remaining = variable + payloadLength;
  const b = Buffer.allocUnsafe(1 + varintLength(remaining) + variable);
  b[0] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
  let pos = writeVarint(b, 1, remaining);
  b.writeUInt16BE(topic.length, pos);
  pos += 2;
  topic.copy(b, pos);
  pos += topic.length;
  if (qos > 0) {
    b.writeUInt16BE(packetId, pos);
    pos += 2;
  }
  properties?.copy(b, pos);
  return b;
}
