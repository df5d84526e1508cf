/**
 * MQTT 3.1/3.1.1 wire format. The reader splits the byte stream into packets and enforces
 * the size limit from the fixed header, before any body is buffered. CONNECT is decoded by
 * mqtt-packet (the parser aedes is built on: will, flags, protocol names); the packets on
 * the hot path (PUBLISH, acks, SUBSCRIBE) are decoded here straight from the buffer,
 * checking what mqtt-packet does not: UTF-8 well-formedness, reserved flags, QoS 3,
 * packet id 0.
 */
import { isUtf8 } from 'node:buffer';

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
}

/** A malformed packet: the connection is closed (MQTT 3.1.1 has no error packet). */
export class MalformedPacket extends Error {}

export interface RawPacket {
  type: PacketType;
  flags: number;
  /** The variable header and payload. */
  body: Buffer;
  /** The whole packet, fixed header included (for mqtt-packet's CONNECT parser). */
  whole: Buffer;
}

/** Splits a byte stream into packets; never buffers more than one packet of at most maxSize. */
export class PacketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(public maxSize: number) {}

  /** Feeds bytes; calls onPacket for each complete packet. Throws MalformedPacket. */
  push(chunk: Buffer, onPacket: (p: RawPacket) => void): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < 2) return;
      let head = this.chunks[0]!;
      if (head.length < 5 && this.chunks.length > 1) head = this.merge();
      let length = 0;
      let mult = 1;
      let i = 1;
      for (;;) {
        if (i >= head.length) return; // remaining length still incomplete
        const b = head[i]!;
        length += (b & 0x7f) * mult;
        i++;
        if ((b & 0x80) === 0) break;
        if (i > 4) throw new MalformedPacket('malformed remaining length');
        mult *= 128;
      }
      if (length > this.maxSize)
        throw new MalformedPacket(`packet of ${length} bytes exceeds the limit of ${this.maxSize}`);
      const total = i + length;
      if (this.buffered < total) return;
      if (head.length < total) head = this.merge();
      const byte0 = head[0]!;
      const packet: RawPacket = {
        type: byte0 >> 4,
        flags: byte0 & 0x0f,
        body: head.subarray(i, total),
        whole: head.subarray(0, total),
      };
      if (head.length === total) this.chunks.shift();
      else this.chunks[0] = head.subarray(total);
      this.buffered -= total;
      onPacket(packet);
    }
  }

  private merge(): Buffer {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }
}

function readString(body: Buffer, pos: number, what: string): [string, number] {
  if (pos + 2 > body.length) throw new MalformedPacket(`truncated ${what}`);
  const len = body.readUInt16BE(pos);
  const end = pos + 2 + len;
  if (end > body.length) throw new MalformedPacket(`truncated ${what}`);
  const bytes = body.subarray(pos + 2, end);
  // MQTT-1.5.3-1: ill-formed UTF-8 closes the connection.
  if (!isUtf8(bytes)) throw new MalformedPacket(`${what} is not valid UTF-8`);
  return [bytes.toString('utf8'), end];
}

export interface PublishPacket {
  topic: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  dup: boolean;
  packetId: number;
  payload: Buffer;
}

export function decodePublish(p: RawPacket): PublishPacket {
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
  return {
    topic,
    qos: qos as 0 | 1 | 2,
    retain: (p.flags & 1) === 1,
    dup: (p.flags & 8) === 8,
    packetId,
    payload: p.body.subarray(start),
  };
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP: a packet identifier and nothing else. */
export function decodePacketId(p: RawPacket): number {
  if (p.body.length !== 2) throw new MalformedPacket('acknowledgement of the wrong length');
  const id = p.body.readUInt16BE(0);
  if (id === 0) throw new MalformedPacket('packet identifier 0');
  return id;
}

export function decodeSubscribe(p: RawPacket): {
  packetId: number;
  subscriptions: { filter: string; qos: number }[];
} {
  const packetId = decodePacketIdPrefix(p);
  const subscriptions: { filter: string; qos: number }[] = [];
  let pos = 2;
  while (pos < p.body.length) {
    const [filter, next] = readString(p.body, pos, 'topic filter');
    if (next >= p.body.length) throw new MalformedPacket('subscription without a QoS byte');
    const qos = p.body[next]!;
    if (qos > 2) throw new MalformedPacket('subscription QoS byte out of range');
    subscriptions.push({ filter, qos });
    pos = next + 1;
  }
  // MQTT-3.8.3-3: at least one subscription.
  if (subscriptions.length === 0) throw new MalformedPacket('SUBSCRIBE without subscriptions');
  return { packetId, subscriptions };
}

export function decodeUnsubscribe(p: RawPacket): { packetId: number; filters: string[] } {
  const packetId = decodePacketIdPrefix(p);
  const filters: string[] = [];
  let pos = 2;
  while (pos < p.body.length) {
    const [filter, next] = readString(p.body, pos, 'topic filter');
    filters.push(filter);
    pos = next;
  }
  if (filters.length === 0) throw new MalformedPacket('UNSUBSCRIBE without topic filters');
  return { packetId, filters };
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

/** PUBACK 0x40, PUBREC 0x50, PUBREL 0x62, PUBCOMP 0x70, UNSUBACK 0xb0. */
export function ackPacket(byte0: number, packetId: number): Buffer {
  return Buffer.from([byte0, 2, packetId >> 8, packetId & 0xff]);
}

export function suback(packetId: number, codes: readonly number[]): Buffer {
  const len = 2 + codes.length;
  const b = Buffer.allocUnsafe(1 + varintLength(len) + len);
  b[0] = 0x90;
  let pos = writeVarint(b, 1, len);
  b.writeUInt16BE(packetId, pos);
  pos += 2;
  for (const c of codes) b[pos++] = c;
  return b;
}

/** The PUBLISH fixed and variable header; the payload is written after it as is (never copied). */
export function publishHeader(
  topic: Buffer,
  qos: number,
  packetId: number,
  dup: boolean,
  retain: boolean,
  payloadLength: number,
): Buffer {
  const remaining = 2 + topic.length + (qos > 0 ? 2 : 0) + payloadLength;
  const b = Buffer.allocUnsafe(1 + varintLength(remaining) + 2 + topic.length + (qos > 0 ? 2 : 0));
  b[0] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
  let pos = writeVarint(b, 1, remaining);
  b.writeUInt16BE(topic.length, pos);
  pos += 2;
  topic.copy(b, pos);
  pos += topic.length;
  if (qos > 0) b.writeUInt16BE(packetId, pos);
  return b;
}

function varintLength(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

/** Writes the remaining-length encoding of n at pos; returns the position after it. */
function writeVarint(b: Buffer, pos: number, n: number): number {
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    b[pos++] = byte;
  } while (n > 0);
  return pos;
}
