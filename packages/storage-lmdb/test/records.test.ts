/**
 * Log records round-trip exactly, and anything that is not a whole record decodes to
 * undefined rather than to a wrong message.
 */
import { describe, expect, it } from 'vitest';
import {
  ACKS,
  acksRecord,
  decodeRecord,
  ENQUEUE,
  enqueueRecord,
  type RecordWriter,
  type QueueTarget,
} from '../src/records.js';

/** The record written at offset 8 of a bigger buffer (as into the log's write buffer), and read back out. */
function written(r: RecordWriter): Buffer {
  const b = Buffer.alloc(8 + r.size + 8, 0xee);
  r.write(b, 8);
  expect(b.subarray(8 + r.size)).toEqual(Buffer.alloc(8, 0xee)); // nothing past its size
  return b.subarray(8, 8 + r.size);
}

const queues: QueueTarget[] = [
  ['/', 'orders', 0, 0],
  ['prod', 'pedidos-ñ-✓', 1_790_000_000_000.5, 3],
];
const properties = {
  deliveryMode: 2,
  contentType: 'application/json',
  headers: { n: 7, tag: Buffer.from([1, 2]), nested: { a: [1, 'x'] } },
};
const body = Buffer.from('{"total": 12.5}');

describe('log records', () => {
  it('round-trips an enqueue', () => {
    const r = decodeRecord(
      written(enqueueRecord(42, queues, 'amq.topic', 'sensors.kitchen.temp', properties, body)),
    );
    expect(r).toEqual({
      kind: ENQUEUE,
      id: 42,
      queues,
      exchange: 'amq.topic',
      routingKey: 'sensors.kitchen.temp',
      properties,
      body,
    });
  });

  it('round-trips acks grouped by queue', () => {
    const acks: [string, string, number[]][] = [
      ['/', 'orders', [1, 2, 2 ** 40]],
      ['/', 'äpfel', [9]],
    ];
    expect(decodeRecord(written(acksRecord(acks)))).toEqual({ kind: ACKS, acks });
  });

  it('decodes a cut or unknown record to undefined', () => {
    const payload = written(enqueueRecord(1, queues, '', 'q', properties, body));
    expect(decodeRecord(payload.subarray(0, payload.length - 1))).toBeUndefined();
    expect(decodeRecord(Buffer.concat([payload, Buffer.from([0])]))).toBeUndefined();
    expect(decodeRecord(payload.subarray(0, 20))).toBeUndefined();
    expect(decodeRecord(Buffer.from([7, 0, 0]))).toBeUndefined();
    expect(decodeRecord(Buffer.alloc(0))).toBeUndefined();
  });
});
