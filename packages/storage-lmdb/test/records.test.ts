/**
 * Log records round-trip exactly, and anything that is not a whole record decodes to
 * undefined rather than to a wrong message.
 */
import { describe, expect, it } from 'vitest';
import { ACKS, decodeRecord, encodeAcks, encodeEnqueue, ENQUEUE, type QueueTarget } from '../src/records.js';

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
  it('round-trips an enqueue behind reserved header bytes', () => {
    const frame = encodeEnqueue(8, 42, queues, 'amq.topic', 'sensors.kitchen.temp', properties, body);
    const r = decodeRecord(frame.subarray(8));
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
    expect(decodeRecord(encodeAcks(acks))).toEqual({ kind: ACKS, acks });
  });

  it('decodes a cut or unknown record to undefined', () => {
    const payload = encodeEnqueue(0, 1, queues, '', 'q', properties, body);
    expect(decodeRecord(payload.subarray(0, payload.length - 1))).toBeUndefined();
    expect(decodeRecord(Buffer.concat([payload, Buffer.from([0])]))).toBeUndefined();
    expect(decodeRecord(payload.subarray(0, 20))).toBeUndefined();
    expect(decodeRecord(Buffer.from([7, 0, 0]))).toBeUndefined();
    expect(decodeRecord(Buffer.alloc(0))).toBeUndefined();
  });
});
