/**
 * The log's records (see lmdb-store.ts), in a fixed binary layout: one is encoded per
 * persistent message on the broker's event loop, so no general-purpose codec walks the
 * record. Only message properties (an open-ended map) go through msgpack.
 *
 *   enqueue: u8 1, f64 id, u16 queue count, per queue { str vhost, str queue, f64 expiresAt,
 *            u32 deliveryCount }, str exchange, str routingKey, u32 + msgpack properties,
 *            u32 + body
 *   acks:    u8 2, u16 group count, per group { str vhost, str queue, u32 count, f64 ids }
 *
 * str is u32 byte length + UTF-8. Little-endian. Records are written in place into the log's
 * write buffer (segments.ts), so each is a size and a write function.
 */
import { Packr } from 'msgpackr';
import { escapeStoredKeys, unescapeStoredKeys, type MessageProperties } from '@junction/core';

export const ENQUEUE = 1;
export const ACKS = 2;

/** Plain maps, no shared record structures: a record must decode on its own. */
const propertiesCodec = new Packr({ useRecords: false, moreTypes: true });

export type QueueTarget = [vhost: string, queue: string, expiresAt: number, deliveryCount: number];
export type AckGroup = [vhost: string, queue: string, ids: number[]];

export interface EnqueueRecordBody {
  kind: typeof ENQUEUE;
  id: number;
  queues: QueueTarget[];
  exchange: string;
  routingKey: string;
  properties: MessageProperties;
  body: Buffer;
}

export interface AcksRecord {
  kind: typeof ACKS;
  acks: AckGroup[];
}

export type LogRecord = EnqueueRecordBody | AcksRecord;

/** A record ready to be written: its size, and how to write it at an offset of a buffer. */
export interface RecordWriter {
  readonly size: number;
  write(b: Buffer, at: number): void;
}

export function enqueueRecord(
  id: number,
  queues: readonly QueueTarget[],
  exchange: string,
  routingKey: string,
  properties: MessageProperties,
  body: Buffer,
): RecordWriter {
  // A view of msgpackr's scratch buffer, valid until its next pack: written right away.
  const props = propertiesCodec.pack(escapeStoredKeys(properties));
  let size =
    1 + 8 + 2 + 4 + utf8Length(exchange) + 4 + utf8Length(routingKey) + 4 + props.length + 4 + body.length;
  for (const [vhost, queue] of queues) size += 4 + utf8Length(vhost) + 4 + utf8Length(queue) + 8 + 4;
  return {
    size,
    write(b, start) {
      let at = start;
      b[at++] = ENQUEUE;
      at = b.writeDoubleLE(id, at);
      at = b.writeUInt16LE(queues.length, at);
      for (const [vhost, queue, expiresAt, deliveryCount] of queues) {
        at = writeString(b, at, vhost);
        at = writeString(b, at, queue);
        at = b.writeDoubleLE(expiresAt, at);
        at = b.writeUInt32LE(deliveryCount, at);
      }
      at = writeString(b, at, exchange);
      at = writeString(b, at, routingKey);
      at = b.writeUInt32LE(props.length, at);
      at += props.copy(b, at);
      at = b.writeUInt32LE(body.length, at);
      body.copy(b, at);
    },
  };
}

export function acksRecord(acks: readonly AckGroup[]): RecordWriter {
  let size = 1 + 2;
  for (const [vhost, queue, ids] of acks)
    size += 4 + utf8Length(vhost) + 4 + utf8Length(queue) + 4 + 8 * ids.length;
  return {
    size,
    write(b, start) {
      let at = start;
      b[at++] = ACKS;
      at = b.writeUInt16LE(acks.length, at);
      for (const [vhost, queue, ids] of acks) {
        at = writeString(b, at, vhost);
        at = writeString(b, at, queue);
        at = b.writeUInt32LE(ids.length, at);
        for (const id of ids) at = b.writeDoubleLE(id, at);
      }
    },
  };
}

/**
 * The record in `b`, or undefined when it does not parse (a record that passed its CRC
 * always does; this guards against a bug, not against damage). The body is a view of `b`.
 */
export function decodeRecord(b: Buffer): LogRecord | undefined {
  try {
    let at = 1;
    const str = (): string => {
      const n = b.readUInt32LE(at);
      if (at + 4 + n > b.length) throw new RangeError('string past the record');
      const s = b.toString('utf8', at + 4, at + 4 + n);
      at += 4 + n;
      return s;
    };
    if (b[0] === ENQUEUE) {
      const id = b.readDoubleLE(at);
      const count = b.readUInt16LE((at += 8));
      at += 2;
      const queues: QueueTarget[] = [];
      for (let i = 0; i < count; i++) {
        const vhost = str();
        const queue = str();
        queues.push([vhost, queue, b.readDoubleLE(at), b.readUInt32LE(at + 8)]);
        at += 12;
      }
      const exchange = str();
      const routingKey = str();
      const propsLength = b.readUInt32LE(at);
      const properties = unescapeStoredKeys(
        propertiesCodec.unpack(b.subarray(at + 4, (at += 4 + propsLength))) as MessageProperties,
      );
      const bodyLength = b.readUInt32LE(at);
      if (at + 4 + bodyLength !== b.length) return undefined;
      const body = b.subarray(at + 4);
      return { kind: ENQUEUE, id, queues, exchange, routingKey, properties, body };
    }
    if (b[0] === ACKS) {
      const count = b.readUInt16LE(at);
      at += 2;
      const acks: AckGroup[] = [];
      for (let i = 0; i < count; i++) {
        const vhost = str();
        const queue = str();
        const n = b.readUInt32LE(at);
        at += 4;
        const ids: number[] = [];
        for (let j = 0; j < n; j++, at += 8) ids.push(b.readDoubleLE(at));
        acks.push([vhost, queue, ids]);
      }
      return at === b.length ? { kind: ACKS, acks } : undefined;
    }
    return undefined;
  } catch {
    return undefined;
  }
}

function writeString(b: Buffer, at: number, s: string): number {
  // Names are short and nearly always ASCII: a plain loop beats Buffer#write's native call.
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    b[at + 4 + i] = c;
  }
  const n = i === s.length ? i : b.write(s, at + 4);
  b.writeUInt32LE(n, at);
  return at + 4 + n;
}

function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s);
  return s.length;
}
