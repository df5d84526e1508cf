/**
 * What the core writes to a durable store and rebuilds from it: the core's side of the
 * storage contract, exercised with the in-memory store posing as durable (its state
 * survives close() and open() within a process).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Broker, MemoryStore, type Delivery } from '../src/index.js';
import { until } from '@junction/testkit';
import { collector, msg } from './helpers.js';

class DurableMemoryStore extends MemoryStore {
  override readonly capabilities = { durable: true };
}

const info = (id: string) => ({
  id,
  protocol: 'internal' as const,
  remoteAddress: '127.0.0.1',
  remotePort: 1,
  localPort: 2,
});

async function session(broker: Broker, id = 'c1') {
  const p = await broker.authenticate({ username: 'guest', password: 'guest' }, info(id));
  return broker.connect(p, '/', info(id), { close: async () => {} }).openSession();
}

describe('recovery from a durable store', () => {
  it('keeps durable definitions and persistent messages in order, flags delivered ones redelivered, drops the rest', async () => {
    const store = new DurableMemoryStore();
    const b1 = await Broker.start({ store });
    await b1.addVhost('other');
    await b1.putUser('app', { password: 'pw', tags: ['management'] });
    const s = await session(b1);
    await s.declareExchange({ name: 'events', type: 'topic', durable: true });
    await s.declareExchange({ name: 'scratch', type: 'fanout', durable: false });
    await s.declareQueue({ name: 'orders', durable: true, arguments: { 'x-max-priority': 5 } });
    await s.declareQueue({ name: 'temp', durable: false });
    await s.bindQueue('orders', 'events', 'order.*');
    const confirmed: boolean[] = [];
    for (let i = 0; i < 5; i++)
      s.publish(msg('events', 'order.new', `p${i}`, { deliveryMode: 2, priority: i % 2 ? 5 : 0 }), {}, (o) =>
        confirmed.push(o.ok),
      );
    s.publish(msg('events', 'order.new', 'transient'));
    s.publish(msg('', 'temp', 'gone', { deliveryMode: 2 }));
    await until(() => confirmed.length === 5, 'five confirms');
    // Deliver two (highest priority first), ack one: the other is unacked at "crash" time.
    const got = await s.get('orders');
    const got2 = await s.get('orders');
    s.settle(got!.deliveryTag, 'ack');
    expect([got!.message.body.toString(), got2!.message.body.toString()]).toEqual(['p1', 'p3']);
    await b1.close();

    const b2 = await Broker.start({ store });
    expect([...b2.vhosts.keys()].sort()).toEqual(['/', 'other']);
    expect(b2.users.get('app')?.tags).toEqual(['management']);
    const v = b2.vhost('/');
    expect(v.exchanges.has('events')).toBe(true);
    expect(v.exchanges.has('scratch')).toBe(false);
    expect(v.queues.has('temp')).toBe(false);
    const s2 = await session(b2, 'c2');
    s2.publish(msg('events', 'order.paid', 'after-restart', { deliveryMode: 2 }));
    const sink = collector();
    await s2.consume('orders', { noAck: true }, sink);
    const out: Delivery[] = await sink.next(5);
    expect(out.map((d) => [d.message.body.toString(), d.redelivered])).toEqual([
      ['p3', true], // priority 5, delivered before the restart
      ['p0', false],
      ['p2', false],
      ['p4', false],
      ['after-restart', false], // priority 0, published last
    ]);
    await b2.close();
  });
});

describe('a stored binding the broker refuses now', () => {
  it('is left out with a warning naming it, and the others are restored', async () => {
    const store = new DurableMemoryStore();
    const b1 = await Broker.start({ store });
    const s = await session(b1);
    await s.declareExchange({ name: 'events', type: 'topic', durable: true });
    await s.declareQueue({ name: 'orders', durable: true });
    await s.bindQueue('orders', 'events', 'order.*');
    await b1.close();
    // Written by an older broker without the name limit: a routing key past it.
    const binding = {
      vhost: '/',
      source: 'events',
      destination: 'orders',
      destinationType: 'queue' as const,
    };
    await store.writeDefinitions([
      { op: 'put', kind: 'binding', value: { ...binding, routingKey: 'k'.repeat(300), arguments: {} } },
    ]);
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(parseLine(line)) });
    const b2 = await Broker.start({ store, logger });
    const keys = [...b2.vhost('/').exchanges.get('events')!.bindings.values()].map((b) => b.routingKey);
    expect(keys).toEqual(['order.*']);
    expect(warnings.map((w) => [w.msg, w.obj['routingKey']])).toEqual([
      ['stored binding not restored', 'k'.repeat(300)],
    ]);
    await b2.close();
  });
});

function parseLine(line: string): { obj: Record<string, unknown>; msg: string } {
  const obj = JSON.parse(line) as Record<string, unknown>;
  return { obj, msg: String(obj['msg']) };
}

describe('a store write that fails for a publisher without confirms', () => {
  it('is logged, not swallowed, and a confirming publisher gets its nack', async () => {
    class RefusingStore extends DurableMemoryStore {
      override enqueue(): Promise<void> {
        return Promise.reject(new Error('disk gone'));
      }
    }
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(parseLine(line)) });
    const b = await Broker.start({ store: new RefusingStore(), logger });
    const s = await session(b);
    await s.declareQueue({ name: 'orders', durable: true });
    s.publish(msg('', 'orders', 'unconfirmed', { deliveryMode: 2 }));
    const outcome = await new Promise<{ ok: boolean }>((r) =>
      s.publish(msg('', 'orders', 'confirmed', { deliveryMode: 2 }), {}, r),
    );
    expect(outcome.ok).toBe(false);
    await until(() => warnings.length > 0, 'the warning');
    expect(warnings.map((w) => [w.msg, w.obj['routingKey']])).toEqual([
      ['a persistent message published without confirms was not stored', 'orders'],
    ]);
    await b.close();
  });
});
