/**
 * Deep-queue paging: a durable queue on a durable store keeps only a window of its head
 * in memory; the rest stays in the store and is read back, in order, as consumers drain.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Broker, MemoryStore, type Delivery, type Session } from '../src/index.js';
import { msg } from './helpers.js';
import type { ClassicQueue } from '../src/queues/queue.js';

class DurableMemoryStore extends MemoryStore {
  override readonly capabilities = { durable: true };
}

/** Writes land a few ms after they are issued, as with a real group commit. */
class SlowDurableStore extends DurableMemoryStore {
  override async enqueue(records: Parameters<MemoryStore['enqueue']>[0]): Promise<void> {
    await new Promise((r) => setTimeout(r, 3));
    return super.enqueue(records);
  }
}

const WINDOW = 100;
const info = (id: string) => ({
  id,
  protocol: 'internal' as const,
  remoteAddress: '127.0.0.1',
  remotePort: 1,
  localPort: 2,
});

const brokers: Broker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
});

async function start(store: DurableMemoryStore, maxMessages = WINDOW): Promise<Broker> {
  const b = await Broker.start({ store, queuePaging: { maxMessages } });
  brokers.push(b);
  return b;
}

async function session(broker: Broker, id = `c-${Math.random()}`): Promise<Session> {
  const p = await broker.authenticate({ username: 'guest', password: 'guest' }, info(id));
  return broker.connect(p, '/', info(id), { close: async () => {} }).openSession();
}

/** Publishes persistent messages body `${prefix}${i}` and waits for every confirm. */
async function publish(
  s: Session,
  queue: string,
  from: number,
  to: number,
  opts: { persistent?: boolean; prefix?: string } = {},
): Promise<void> {
  const persistent = opts.persistent ?? true;
  const pending: Promise<void>[] = [];
  for (let i = from; i < to; i++) {
    pending.push(
      new Promise<void>((resolve, reject) =>
        s.publish(
          msg('', queue, `${opts.prefix ?? ''}${i}`, persistent ? { deliveryMode: 2 } : {}),
          {},
          (o) => (o.ok ? resolve() : reject(new Error('nacked'))),
        ),
      ),
    );
  }
  await Promise.all(pending);
}

/** Consumes with manual acks (prefetch 20) until `n` messages arrived; returns their bodies. */
async function drain(s: Session, queue: string, n: number): Promise<string[]> {
  const got: string[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  s.qos(20, false);
  const tag = await s.consume(
    queue,
    {},
    {
      deliver(d: Delivery) {
        got.push(d.message.body.toString());
        // Acks settle on a later turn, as a network client's would.
        setImmediate(() => s.settle(d.deliveryTag, 'ack'));
        if (got.length === n) done();
        return true;
      },
      cancelled() {},
    },
  );
  const timeout = setTimeout(() => done(), 8000);
  await finished;
  clearTimeout(timeout);
  await settled(); // the last acks
  await s.cancel(tag);
  return got;
}

const range = (from: number, to: number, prefix = ''): string[] =>
  Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

async function settled(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

describe('deep-queue paging', () => {
  it('keeps only the window in memory, counts the rest, and delivers everything in order', async () => {
    const store = new DurableMemoryStore();
    const b = await start(store);
    const s = await session(b);
    await s.declareQueue({ name: 'deep', durable: true });
    await publish(s, 'deep', 0, 1000);
    const q = b.vhost('/').queue('deep') as ClassicQueue;
    expect(q.messageCount).toBe(1000);
    expect(q.inMemoryCount).toBeLessThanOrEqual(WINDOW);
    expect(q.pagedCount).toBe(1000 - q.inMemoryCount);
    expect(q.readyBytes).toBe(range(0, 1000).join('').length);
    expect(await s.declareQueue({ name: 'deep', durable: true, passive: true })).toMatchObject({
      messageCount: 1000,
    });

    expect(await drain(s, 'deep', 1000)).toEqual(range(0, 1000));
    await settled();
    expect(q.messageCount).toBe(0);
    expect(await store.countEntries({ vhost: '/', queue: 'deep' })).toBe(0);
  });

  it('keeps FIFO order with a publisher running while consumers drain, transient messages included', async () => {
    const store = new DurableMemoryStore();
    const b = await start(store);
    const pub = await session(b);
    const con = await session(b);
    await pub.declareQueue({ name: 'deep', durable: true });
    await publish(pub, 'deep', 0, 400);
    const q = b.vhost('/').queue('deep') as ClassicQueue;
    expect(q.pagedCount).toBeGreaterThan(0);
    const draining = drain(con, 'deep', 1000);
    for (let i = 400; i < 1000; i += 50) {
      // Every other batch is transient: it waits in memory behind the paged run before it.
      await publish(pub, 'deep', i, i + 50, { persistent: (i / 50) % 2 === 0 });
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(await draining).toEqual(range(0, 1000));
    expect(q.inMemoryCount).toBe(0);
    expect(q.messageCount).toBe(0);
  });

  it('never pages in ahead of store writes still in flight', async () => {
    const store = new SlowDurableStore();
    const b = await start(store);
    const pub = await session(b);
    const con = await session(b);
    await pub.declareQueue({ name: 'deep', durable: true });
    await publish(pub, 'deep', 0, 200);
    const draining = drain(con, 'deep', 600);
    for (let i = 200; i < 600; i += 10) {
      void publish(pub, 'deep', i, i + 10); // not awaited: writes overlap the page-ins
      await new Promise((r) => setImmediate(r));
    }
    expect(await draining).toEqual(range(0, 600));
  });

  it('basic.get reads through the paged tail', async () => {
    const store = new DurableMemoryStore();
    const b = await start(store);
    const s = await session(b);
    await s.declareQueue({ name: 'deep', durable: true });
    await publish(s, 'deep', 0, 300);
    const got: string[] = [];
    for (;;) {
      const r = await s.get('deep', { noAck: true });
      if (!r) break;
      got.push(r.message.body.toString());
    }
    expect(got).toEqual(range(0, 300));
  });

  it('purge counts and removes the paged tail, in memory and in the store', async () => {
    const store = new DurableMemoryStore();
    const b = await start(store);
    const s = await session(b);
    await s.declareQueue({ name: 'deep', durable: true });
    await publish(s, 'deep', 0, 1000);
    expect(await s.purgeQueue('deep')).toBe(1000);
    const q = b.vhost('/').queue('deep') as ClassicQueue;
    expect(q.messageCount).toBe(0);
    expect(q.pagedCount).toBe(0);
    await publish(s, 'deep', 0, 5, { prefix: 'after-' });
    for (let i = 0; i < 50 && (await store.countEntries({ vhost: '/', queue: 'deep' })) !== 5; i++)
      await settled();
    expect(await store.countEntries({ vhost: '/', queue: 'deep' })).toBe(5);
    expect(await drain(s, 'deep', 5)).toEqual(range(0, 5, 'after-'));
  });

  it('applies x-max-length to paged messages too', async () => {
    const store = new DurableMemoryStore();
    const b = await start(store);
    const s = await session(b);
    await s.declareQueue({
      name: 'capped',
      durable: true,
      arguments: { 'x-max-length': 250, 'x-overflow': 'reject-publish' },
    });
    await publish(s, 'capped', 0, 250);
    await expect(publish(s, 'capped', 250, 251)).rejects.toThrow('nacked');
    expect(b.vhost('/').queue('capped').messageCount).toBe(250);
  });

  it('recovers only the window at restart and still delivers every message in order', async () => {
    const store = new DurableMemoryStore();
    const b1 = await start(store, 1_000_000);
    const s1 = await session(b1);
    await s1.declareQueue({ name: 'deep', durable: true });
    await publish(s1, 'deep', 0, 1000);
    expect((b1.vhost('/').queue('deep') as ClassicQueue).pagedCount).toBe(0);
    await b1.close();

    const b2 = await start(store);
    const q = b2.vhost('/').queue('deep') as ClassicQueue;
    expect(q.inMemoryCount).toBe(WINDOW);
    expect(q.messageCount).toBe(1000);
    const s2 = await session(b2);
    await publish(s2, 'deep', 1000, 1100);
    expect(q.messageCount).toBe(1100);
    expect(await drain(s2, 'deep', 1100)).toEqual(range(0, 1100));
    await settled();
    expect(await store.countEntries({ vhost: '/', queue: 'deep' })).toBe(0);
  });

  it('leaves priority queues and non-durable stores in memory', async () => {
    const durable = new DurableMemoryStore();
    const b = await start(durable);
    const s = await session(b);
    await s.declareQueue({ name: 'prio', durable: true, arguments: { 'x-max-priority': 3 } });
    await publish(s, 'prio', 0, 300);
    expect((b.vhost('/').queue('prio') as ClassicQueue).inMemoryCount).toBe(300);

    const m = await Broker.start({ queuePaging: { maxMessages: WINDOW } });
    brokers.push(m);
    const s2 = await session(m);
    await s2.declareQueue({ name: 'deep', durable: true });
    await publish(s2, 'deep', 0, 300);
    expect((m.vhost('/').queue('deep') as ClassicQueue).inMemoryCount).toBe(300);
  });
});
