/**
 * Deep-queue paging against the real embedded store: page-ins read LMDB while publishes
 * are still being group-committed, and a restart loads only the window.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Broker, type Session } from '@junction/core';
import { LmdbStore } from '@junction/storage-lmdb';
import type { ClassicQueue } from '@junction/core/internal';

const info = (id: string) => ({
  id,
  protocol: 'internal' as const,
  remoteAddress: '127.0.0.1',
  remotePort: 1,
  localPort: 2,
});
const dirs: string[] = [];
const brokers: Broker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * As if the store's checkpoint timer fired just before every page-in read: the read comes
 * while the checkpoint's LMDB commit of the queue's entries is still running.
 */
class CheckpointBeforeReads extends LmdbStore {
  override async readEntries(...args: Parameters<LmdbStore['readEntries']>) {
    const running = this.checkpoint();
    const entries = await super.readEntries(...args);
    await running;
    return entries;
  }
}

async function start(dir: string, store = new LmdbStore({ dir })): Promise<{ broker: Broker; s: Session }> {
  const broker = await Broker.start({ store, queuePaging: { maxMessages: 100 } });
  brokers.push(broker);
  const p = await broker.authenticate({ username: 'guest', password: 'guest' }, info('c'));
  return { broker, s: broker.connect(p, '/', info('c'), { close: async () => {} }).openSession() };
}

function publish(s: Session, from: number, to: number): Promise<unknown> {
  const all: Promise<void>[] = [];
  for (let i = from; i < to; i++) {
    all.push(
      new Promise((resolve, reject) =>
        s.publish(
          { exchange: '', routingKey: 'deep', body: Buffer.from(String(i)), properties: { deliveryMode: 2 } },
          {},
          (o) => (o.ok ? resolve() : reject(new Error('nacked'))),
        ),
      ),
    );
  }
  return Promise.all(all);
}

function consume(s: Session, n: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${got.length} of ${n}`)), 15_000);
    s.qos(50, false);
    const tag = s.consume(
      'deep',
      {},
      {
        deliver(d) {
          got.push(d.message.body.toString());
          setImmediate(() => s.settle(d.deliveryTag, 'ack'));
          if (got.length === n) {
            clearTimeout(timer);
            // Stop consuming, let the last acks go out, then report.
            void tag.then((t) => s.cancel(t)).then(() => setTimeout(() => resolve(got), 20));
          }
          return true;
        },
        cancelled() {},
      },
    );
  });
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => String(from + i));

describe('deep-queue paging on LMDB', () => {
  it('drains in order while a publisher keeps writing into the paged tail, and recovers only the window', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'junction-paging-'));
    dirs.push(dir);
    const a = await start(dir);
    await a.s.declareQueue({ name: 'deep', durable: true });
    await publish(a.s, 0, 1000);
    const q = a.broker.vhost('/').queue('deep') as ClassicQueue;
    expect(q.inMemoryCount).toBeLessThanOrEqual(100);
    expect(q.messageCount).toBe(1000);
    // Not awaited: these writes are in flight while the consumer pages the tail in.
    const late = publish(a.s, 1000, 2000);
    expect(await consume(a.s, 2000)).toEqual(range(0, 2000));
    await late;

    await publish(a.s, 2000, 2500);
    await a.broker.close();
    brokers.length = 0;
    const b = await start(dir);
    const q2 = b.broker.vhost('/').queue('deep') as ClassicQueue;
    expect(q2.inMemoryCount).toBe(100);
    expect(q2.messageCount).toBe(500);
    expect(await consume(b.s, 500)).toEqual(range(2000, 2500));
  });

  it('pages in the entries a checkpoint is committing at the moment of the read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'junction-paging-'));
    dirs.push(dir);
    const a = await start(dir, new CheckpointBeforeReads({ dir }));
    await a.s.declareQueue({ name: 'deep', durable: true });
    await publish(a.s, 0, 300);
    const q = a.broker.vhost('/').queue('deep') as ClassicQueue;
    expect(q.pagedCount).toBe(200);
    // basic.get waits for each page-in: before the fix the first read found an empty index,
    // the queue took that for a hole and dropped its 200 paged messages (get-empty at 100).
    const got: string[] = [];
    for (let i = 0; i < 400; i++) {
      const r = await a.s.get('deep', { noAck: true });
      if (!r) break;
      got.push(r.message.body.toString());
    }
    expect(got).toEqual(range(0, 300));
  });

  it('brings back exactly the messages handed out before a restart flagged redelivered (one mark per turn for a FIFO queue)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'junction-marks-'));
    dirs.push(dir);
    const a = await start(dir);
    await a.s.declareQueue({ name: 'deep', durable: true });
    await publish(a.s, 0, 300);
    // Take 150 (half of them from the paged tail) and ack none.
    const got: string[] = [];
    await new Promise<void>((resolve) => {
      a.s.qos(150, false);
      void a.s.consume(
        'deep',
        {},
        {
          deliver(d) {
            got.push(d.message.body.toString());
            if (got.length === 150) resolve();
            return true;
          },
          cancelled() {},
        },
      );
    });
    await a.broker.close();
    brokers.length = 0;
    const b = await start(dir);
    const flags: [string, boolean][] = [];
    await new Promise<void>((resolve) => {
      b.s.qos(300, false);
      void b.s.consume(
        'deep',
        {},
        {
          deliver(d) {
            flags.push([d.message.body.toString(), d.redelivered]);
            if (flags.length === 300) resolve();
            return true;
          },
          cancelled() {},
        },
      );
    });
    expect(got).toEqual(range(0, 150));
    expect(flags).toEqual(range(0, 300).map((id, i) => [id, i < 150]));
  });
});
