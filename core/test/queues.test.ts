import { describe, expect, it } from 'vitest';
import type { Delivery } from '../src/index.js';
import { bodies, brokerWithSession, collector, msg } from './helpers.js';

describe('queues', () => {
  it('delivers a mixed-priority backlog strictly highest first', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'p', arguments: { 'x-max-priority': 10 } });
    const prios = [1, 7, 3, 10, 0, 7, 12, 5];
    prios.forEach((p, i) => s.publish(msg('', 'p', `${p}:${i}`, { priority: p })));
    const sink = collector();
    await s.consume('p', { noAck: true }, sink);
    const got = bodies(await sink.next(prios.length)).map((b) => Number(b.split(':')[0]));
    expect(got).toEqual([10, 12, 7, 7, 5, 3, 1, 0]); // 12 is clamped to 10, FIFO within a level
  });

  it('respects per-consumer prefetch and redelivers on requeue', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'q' });
    for (let i = 0; i < 10; i++) s.publish(msg('', 'q', String(i)));
    s.qos(3, false);
    const sink = collector();
    await s.consume('q', {}, sink);
    await sink.next(3);
    await new Promise((r) => setTimeout(r, 20));
    expect(sink.got).toHaveLength(3);
    s.settle(sink.got[0]!.deliveryTag, 'requeue');
    await sink.next(4);
    expect(sink.got[3]!.message.body.toString()).toBe('0');
    expect(sink.got[3]!.redelivered).toBe(true);
    s.settle(sink.got[3]!.deliveryTag, 'ack', true);
    await sink.next(7);
  });

  it('dead-letters expired messages with x-death', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'dlq' });
    await s.declareQueue({
      name: 'ttl',
      arguments: { 'x-message-ttl': 30, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dlq' },
    });
    s.publish(msg('', 'ttl', 'old', { expiration: '10000' }));
    const sink = collector();
    await s.consume('dlq', { noAck: true }, sink);
    const [d] = await sink.next(1);
    const death = (d!.message.properties.headers!['x-death'] as Record<string, unknown>[])[0]!;
    expect(death).toMatchObject({
      reason: 'expired',
      queue: 'ttl',
      count: 1,
      'original-expiration': '10000',
    });
    expect(d!.message.properties.expiration).toBeUndefined();
    expect(d!.routingKey).toBe('dlq');
  });

  it('applies each overflow mode', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'dlq' });
    const dl = { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dlq' };
    await s.declareQueue({ name: 'head', arguments: { 'x-max-length': 2, ...dl } });
    await s.declareQueue({ name: 'rej', arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
    await s.declareQueue({
      name: 'rejdlx',
      arguments: { 'x-max-length-bytes': 4, 'x-overflow': 'reject-publish-dlx', ...dl },
    });
    const outcomes: boolean[] = [];
    for (const q of ['head', 'rej', 'rejdlx']) {
      for (const b of ['aa', 'bb', 'cc']) s.publish(msg('', q, b), {}, (o) => outcomes.push(o.ok));
    }
    expect(outcomes).toEqual([true, true, true, true, true, false, true, true, false]);
    const get = async (q: string) => {
      const out: string[] = [];
      for (;;) {
        const r = await s.get(q, { noAck: true });
        if (!r) return out;
        out.push(r.message.body.toString());
      }
    };
    expect(await get('head')).toEqual(['bb', 'cc']);
    expect(await get('rej')).toEqual(['aa', 'bb']);
    expect(await get('rejdlx')).toEqual(['aa', 'bb']);
    expect(await get('dlq')).toEqual(['aa', 'cc']);
  });

  it('requeues unacked messages in order when the session closes', async () => {
    const { broker, session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'q' });
    for (let i = 0; i < 5; i++) s.publish(msg('', 'q', String(i)));
    const sink = collector();
    await s.consume('q', {}, sink);
    await sink.next(5);
    await s.close();
    const info = {
      id: 'other',
      protocol: 'internal' as const,
      remoteAddress: '127.0.0.1',
      remotePort: 1,
      localPort: 2,
    };
    const s2 = broker
      .connect({ username: 'guest', tags: [] }, '/', info, { close: async () => {} })
      .openSession();
    const got: Delivery[] = [];
    for (let r = await s2.get('q'); r; r = await s2.get('q')) got.push(r);
    expect(bodies(got)).toEqual(['0', '1', '2', '3', '4']);
    expect(got.every((d) => d.redelivered)).toBe(true);
  });

  it('single-active-consumer and consumer priorities choose the receiver', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'sac', arguments: { 'x-single-active-consumer': true } });
    const a = collector();
    const b = collector();
    await s.consume('sac', { noAck: true }, a);
    await s.consume('sac', { noAck: true }, b);
    for (let i = 0; i < 4; i++) s.publish(msg('', 'sac', String(i)));
    await a.next(4);
    expect(b.got).toHaveLength(0);

    await s.declareQueue({ name: 'prio' });
    const low = collector();
    const high = collector();
    await s.consume('prio', { noAck: true, priority: 1 }, low);
    await s.consume('prio', { noAck: true, priority: 5 }, high);
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 4; i++) s.publish(msg('', 'prio', String(i)));
    await high.next(4);
    expect(low.got).toHaveLength(0);
  });

  it('deletes exclusive queues with their connection and auto-delete queues with their last consumer', async () => {
    const { broker, session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'auto', autoDelete: true });
    const tag = await s.consume('auto', { noAck: true }, collector());
    await s.cancel(tag);
    await new Promise((r) => setImmediate(r));
    expect(broker.vhost('/').queues.has('auto')).toBe(false);
    const { queue } = await s.declareQueue({ name: '', exclusive: true });
    expect(queue).toMatch(/^amq\.gen-/);
    await Promise.all([...broker.connections.values()].map((c) => c.close()));
    expect(broker.vhost('/').queues.has(queue)).toBe(false);
  });

  it('runs transactions: nothing before commit, nothing after rollback', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'q' });
    const tx = s.beginTransaction();
    tx.publish(msg('', 'q', 'a'));
    expect((await s.declareQueue({ name: 'q', passive: true })).messageCount).toBe(0);
    await tx.commit();
    expect((await s.declareQueue({ name: 'q', passive: true })).messageCount).toBe(1);
    tx.publish(msg('', 'q', 'b'));
    tx.rollback();
    await tx.commit();
    expect((await s.declareQueue({ name: 'q', passive: true })).messageCount).toBe(1);
  });
});
