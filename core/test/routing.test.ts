import { describe, expect, it } from 'vitest';
import { BrokerError } from '../src/index.js';
import { bodies, brokerWithSession, collector, msg } from './helpers.js';

describe('routing', () => {
  it('routes through direct, fanout, topic and headers exchanges', async () => {
    const { session: s } = await brokerWithSession();
    for (const q of ['d', 'f1', 'f2', 't', 'h']) await s.declareQueue({ name: q });
    await s.bindQueue('d', 'amq.direct', 'k');
    await s.bindQueue('f1', 'amq.fanout', '');
    await s.bindQueue('f2', 'amq.fanout', '');
    await s.bindQueue('t', 'amq.topic', 'a.*.c');
    await s.bindQueue('h', 'amq.headers', '', { 'x-match': 'any', color: 'red', size: 5 });
    s.publish(msg('amq.direct', 'k', 'direct'));
    s.publish(msg('amq.direct', 'other', 'lost'));
    s.publish(msg('amq.fanout', 'whatever', 'fan'));
    s.publish(msg('amq.topic', 'a.b.c', 'topic'));
    s.publish(msg('amq.topic', 'a.b.d', 'lost'));
    s.publish(msg('amq.headers', '', 'headers', { headers: { size: 5 } }));
    s.publish(msg('amq.headers', '', 'lost', { headers: { color: 'blue' } }));
    const counts = await Promise.all(
      ['d', 'f1', 'f2', 't', 'h'].map((q) => s.declareQueue({ name: q, passive: true })),
    );
    expect(counts.map((c) => c.messageCount)).toEqual([1, 1, 1, 1, 1]);
  });

  it('headers x-match all ignores x- keys unless all-with-x', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'all' });
    await s.declareQueue({ name: 'withx' });
    await s.bindQueue('all', 'amq.match', '', { 'x-match': 'all', a: 1, 'x-b': 2 });
    await s.bindQueue('withx', 'amq.match', '', { 'x-match': 'all-with-x', a: 1, 'x-b': 2 });
    s.publish(msg('amq.match', '', 'm', { headers: { a: 1 } }));
    expect((await s.declareQueue({ name: 'all', passive: true })).messageCount).toBe(1);
    expect((await s.declareQueue({ name: 'withx', passive: true })).messageCount).toBe(0);
    await expect(s.bindQueue('all', 'amq.match', '', { 'x-match': 'some' })).rejects.toMatchObject({
      replyCode: 406,
    });
  });

  it('follows exchange-to-exchange bindings, survives cycles, and uses the alternate exchange', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareExchange({ name: 'ae', type: 'fanout' });
    await s.declareExchange({ name: 'x1', type: 'direct', arguments: { 'alternate-exchange': 'ae' } });
    await s.declareExchange({ name: 'x2', type: 'topic' });
    await s.bindExchange('x2', 'x1', 'k');
    await s.bindExchange('x1', 'x2', '#'); // a cycle
    await s.declareQueue({ name: 'q' });
    await s.declareQueue({ name: 'unrouted' });
    await s.bindQueue('q', 'x2', 'k');
    await s.bindQueue('unrouted', 'ae', '');
    s.publish(msg('x1', 'k', 'via-e2e'));
    s.publish(msg('x1', 'nope', 'to-ae'));
    const sink = collector();
    await s.consume('unrouted', { noAck: true }, sink);
    expect(bodies(await sink.next(1))).toEqual(['to-ae']);
    expect((await s.declareQueue({ name: 'q', passive: true })).messageCount).toBe(1);
  });

  it('returns unroutable mandatory messages and refuses internal exchanges', async () => {
    const { session: s } = await brokerWithSession();
    const outcome = await new Promise((r) =>
      s.publish(msg('amq.direct', 'none', 'x'), { mandatory: true }, r),
    );
    expect(outcome).toEqual({ ok: true, returned: { replyCode: 312, replyText: 'NO_ROUTE' } });
    await s.declareExchange({ name: 'int', type: 'fanout', internal: true });
    expect(() => s.publish(msg('int', '', 'x'))).toThrow(BrokerError);
    expect(() => s.publish(msg('missing', '', 'x'))).toThrow(/NOT_FOUND/);
  });

  it('delivers CC copies and strips BCC', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'a' });
    await s.declareQueue({ name: 'b' });
    await s.declareQueue({ name: 'c' });
    s.publish(msg('', 'a', 'x', { headers: { CC: ['b'], BCC: ['c'] } }));
    const counts = await Promise.all(['a', 'b', 'c'].map((q) => s.declareQueue({ name: q, passive: true })));
    expect(counts.map((c) => c.messageCount)).toEqual([1, 1, 1]);
    const got = await s.get('c', { noAck: true });
    expect(got!.message.properties.headers).toEqual({ CC: ['b'] });
  });

  it('checks declaration equivalence and reserved names', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'q', durable: true });
    await expect(s.declareQueue({ name: 'q', durable: false })).rejects.toMatchObject({ replyCode: 406 });
    await expect(s.declareQueue({ name: 'amq.q' })).rejects.toMatchObject({ replyCode: 403 });
    await expect(s.declareExchange({ name: 'amq.new', type: 'direct' })).rejects.toMatchObject({
      replyCode: 403,
    });
    await expect(s.declareExchange({ name: 'x', type: 'nope' })).rejects.toMatchObject({ replyCode: 503 });
    await s.declareExchange({ name: 'x', type: 'direct' });
    await expect(s.declareExchange({ name: 'x', type: 'fanout' })).rejects.toMatchObject({ replyCode: 406 });
    await expect(s.declareQueue({ name: 'missing', passive: true })).rejects.toMatchObject({
      replyCode: 404,
    });
  });
});

describe('exclusive durable queues', () => {
  it('can be redeclared as declared', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'ex-durable', durable: true, exclusive: true });
    await expect(
      s.declareQueue({ name: 'ex-durable', durable: true, exclusive: true }),
    ).resolves.toMatchObject({ queue: 'ex-durable' });
  });
});
