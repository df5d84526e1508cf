import { describe, expect, it } from 'vitest';
import { BrokerError } from '../src/index.js';
import { partitionOf } from '../src/streams/partitions.js';
import { bodies, brokerWithSession, collector, msg } from './helpers.js';

describe('x-super-stream exchange', () => {
  it('routes each key to the partition its hash picks, every message of a key to one partition', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareExchange({ name: 'orders', type: 'x-super-stream' });
    const sinks = [];
    for (let i = 0; i < 3; i++) {
      await s.declareQueue({ name: `orders-${i}` });
      await s.bindQueue(`orders-${i}`, 'orders', String(i), { 'x-stream-partition-order': i });
      const sink = collector();
      await s.consume(`orders-${i}`, { noAck: true }, sink);
      sinks.push(sink);
    }
    const keys = Array.from({ length: 30 }, (_, i) => `customer-${i}`);
    for (let round = 0; round < 3; round++)
      for (const k of keys) s.publish(msg('orders', k, `${k}:${round}`));
    await Promise.all(
      sinks.map((sink, i) => sink.next(keys.filter((k) => partitionOf(k, 3) === i).length * 3)),
    );
    for (const [i, sink] of sinks.entries()) {
      const got = bodies(sink.got);
      expect(got.length).toBeGreaterThan(0);
      for (const b of got) expect(partitionOf(b.split(':')[0]!, 3)).toBe(i);
      // Per-key order: each key's rounds arrive 0, 1, 2.
      for (const k of keys.filter((key) => partitionOf(key, 3) === i))
        expect(got.filter((b) => b.startsWith(`${k}:`))).toEqual([`${k}:0`, `${k}:1`, `${k}:2`]);
    }
  });

  it('sends a key whose partition is unbound nowhere else, and refuses bindings without an order', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareExchange({ name: 'px', type: 'x-super-stream' });
    await s.declareQueue({ name: 'p0' });
    await s.declareQueue({ name: 'p1' });
    await s.bindQueue('p0', 'px', '', { 'x-stream-partition-order': 0 });
    await s.bindQueue('p1', 'px', '', { 'x-stream-partition-order': 1 });
    await s.unbindQueue('p1', 'px', '', { 'x-stream-partition-order': 1 });
    await s.bindQueue('p1', 'px', '', { 'x-stream-partition-order': 2 }); // partitions 0 and 2 of 3
    const lost = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].find((k) => partitionOf(k, 3) === 1)!;
    const outcome = await new Promise((r) => s.publish(msg('px', lost, 'x'), { mandatory: true }, r));
    expect(outcome).toMatchObject({ returned: { replyCode: 312 } });
    for (const bad of [{}, { 'x-stream-partition-order': -1 }, { 'x-stream-partition-order': 'one' }]) {
      const err = await s.bindQueue('p0', 'px', '', bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BrokerError);
      expect((err as BrokerError).message).toContain("needs 'x-stream-partition-order'");
    }
  });
});
