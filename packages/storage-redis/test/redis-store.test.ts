/**
 * Redis-specific behaviour beyond the shared Store contract (test/storage/contract.test.ts):
 * atomic scripts under concurrent writers, body refcounts, group commit, connection
 * errors, and durability across a redis-server restart or crash (AOF, fsync always).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { EnqueueRecord, Store, StoredMessage } from '@junction/core';
import { QueueKeys, RedisStore, RedisStoreError } from '../src/index.js';
import { closeAll, startRedis } from '@junction/testkit';
import { sharedRedis } from './shared-redis.js';

const message = (id: number, body: Buffer | string = `body-${id}`): StoredMessage => ({
  id,
  exchange: 'ex',
  routingKey: `k.${id}`,
  properties: { deliveryMode: 2, headers: { n: id } },
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
});

const entry = (queue: string, msg: StoredMessage, vhost = '/'): EnqueueRecord => ({
  vhost,
  queue,
  messageId: msg.id,
  expiresAt: 0,
  deliveryCount: 0,
  message: msg,
});

async function collect(store: Store, queue: string, vhost = '/'): Promise<EnqueueRecord[]> {
  const out: EnqueueRecord[] = [];
  for await (const r of (await store.open()).messages({ vhost, queue })) out.push(r);
  return out;
}

/** The keys of queue `q` in vhost '/'. */
const qk = (q: string, keyPrefix: string = prefix): QueueKeys =>
  new QueueKeys(keyPrefix, { vhost: '/', queue: q });

const shared = sharedRedis();
let prefixSeq = 0;
let prefix: string;
const stores: RedisStore[] = [];
const store = (keyPrefix = prefix, url = shared.server.url): RedisStore => {
  const s = new RedisStore({ url, keyPrefix });
  stores.push(s);
  return s;
};

afterEach(async () => {
  await closeAll(stores.splice(0).map((s) => () => s.close()));
});

describe('RedisStore', () => {
  // Each test gets its own key prefix on the shared server.
  const fresh = (): void => {
    prefix = `t${++prefixSeq}:`;
  };

  it('round-trips bodies byte-exact, including every byte value and large bodies', async () => {
    fresh();
    const s = store();
    await s.open();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const big = randomBytes(1 << 20);
    await s.enqueue([
      entry('q', message(1, all)),
      entry('q', message(2, big)),
      entry('q', message(3, Buffer.alloc(0))),
    ]);
    await s.close();
    const got = await collect(store(), 'q');
    expect(got.map((r) => r.message.body.equals([all, big, Buffer.alloc(0)][r.messageId - 1]!))).toEqual([
      true,
      true,
      true,
    ]);
    expect(got.every((r) => Buffer.isBuffer(r.message.body))).toBe(true);
  });

  it('round-trips every header value type: bigint, Date, Buffer, null, typed values, arrays', async () => {
    fresh();
    const s = store();
    await s.open();
    const headers = {
      big: 5n,
      neg: -(2n ** 62n),
      when: new Date(1_700_000_000_123),
      raw: Buffer.from([0, 255, 1]),
      none: null,
      half: 1.5,
      large: 2 ** 40,
      list: [1, 'x', { y: true }],
      typed: { '!': 'float', value: 1.5 },
      nested: { deep: { deeper: 'v' } },
    };
    const m: StoredMessage = {
      ...message(1),
      properties: {
        deliveryMode: 2,
        priority: 3,
        contentType: 'application/json',
        expiration: '60000',
        headers,
      },
    };
    await s.enqueue([entry('q', m)]);
    await s.putRetained('/', 'topic', m);
    await s.close();
    const s2 = store();
    const [got] = await collect(s2, 'q');
    expect(got!.message.properties).toEqual(m.properties);
    expect(Buffer.isBuffer(got!.message.properties.headers!['raw'])).toBe(true);
    for await (const r of s2.retained('/')) expect(r.message).toEqual(m);
  });

  it('keeps stores with different key prefixes apart on one server', async () => {
    fresh();
    const a = store(`${prefix}a:`);
    const b = store(`${prefix}b:`);
    await a.open();
    await b.open();
    await a.enqueue([entry('q', message(7))]);
    await a.writeDefinitions([{ op: 'put', kind: 'vhost', value: { name: '/' } }]);
    expect((await b.open()).definitions).toBeNull();
    expect((await b.open()).maxMessageId).toBe(0);
    expect(await collect(b, 'q')).toEqual([]);
    expect((await collect(a, 'q')).map((r) => r.messageId)).toEqual([7]);
  });

  it('never exposes half a batch: concurrent batches from two stores land whole', async () => {
    fresh();
    const s1 = store();
    const s2 = store();
    await s1.open();
    await s2.open();
    // Every batch puts one entry in each of three queues; a MULTI snapshot must always see
    // the three queues at the same length and every entry's body present.
    let stop = false;
    const snapshots: number[][] = [];
    const reader = (async () => {
      while (!stop) {
        const r = (await shared.raw
          .multi()
          .zcard(qk('a').entries)
          .zcard(qk('b').entries)
          .zcard(qk('c').entries)
          .exec())!;
        snapshots.push(r.map(([, n]) => n as number));
        await new Promise((res) => setImmediate(res));
      }
    })();
    const batches: Promise<void>[] = [];
    for (let i = 0; i < 400; i++) {
      const id = i + 1;
      const s = i % 2 === 0 ? s1 : s2;
      const m = message(id, randomBytes(200));
      batches.push(s.enqueue([entry('a', m), entry('b', m), entry('c', m)]));
      if (i % 10 === 0) await new Promise((res) => setTimeout(res, 1));
    }
    await Promise.all(batches);
    stop = true;
    await reader;
    expect(snapshots.length).toBeGreaterThan(0);
    // The reader saw the queues growing, not just before and after.
    expect(new Set(snapshots.map(([a]) => a)).size).toBeGreaterThan(3);
    for (const [a, b, c] of snapshots) {
      expect(b).toBe(a);
      expect(c).toBe(a);
    }
    // Each queue holds its own copy of the body (store format 2).
    for (const q of ['a', 'b', 'c']) expect(await shared.raw.hlen(qk(q).records)).toBe(400 * 3);
    expect(await shared.raw.get(`${prefix}maxid`)).toBe('400');
  });

  it("removes each queue's copy of a body with its entry under concurrent removes from two stores", async () => {
    fresh();
    const s1 = store();
    const s2 = store();
    await s1.open();
    await s2.open();
    const n = 300;
    const records = Array.from({ length: n }, (_, i) => message(i + 1)).flatMap((m) =>
      ['a', 'b', 'c'].map((q) => entry(q, m)),
    );
    await s1.enqueue(records);
    const ref = (q: string, messageId: number) => ({ vhost: '/', queue: q, messageId });
    // s1 removes queue a and b one by one, s2 removes b (again: a no-op) and c in batches.
    await Promise.all([
      ...Array.from({ length: n }, (_, i) => s1.remove([ref('a', i + 1), ref('b', i + 1)])),
      ...Array.from({ length: n / 10 }, (_, j) =>
        s2.remove(Array.from({ length: 10 }, (_, k) => ref('b', j * 10 + k + 1))),
      ),
    ]);
    expect(await shared.raw.exists(qk('a').records, qk('b').records)).toBe(0);
    expect(await shared.raw.hlen(qk('c').records)).toBe(n * 3);
    expect((await collect(s2, 'c')).length).toBe(n);
    await Promise.all([
      s2.remove(Array.from({ length: n / 2 }, (_, i) => ref('c', i + 1))),
      s1.remove(Array.from({ length: n / 2 }, (_, i) => ref('c', n / 2 + i + 1))),
      s1.remove([ref('c', 1)]),
    ]);
    expect(await shared.raw.keys(`${prefix}{*`)).toEqual([]);
  });

  it('stores an entry enqueued twice (a resent batch) once, and forgets it with one remove', async () => {
    fresh();
    const s = store();
    await s.open();
    const m = message(1);
    await s.enqueue([entry('a', m), entry('b', m)]);
    await s.enqueue([entry('a', m)]);
    expect(await shared.raw.zcard(qk('a').entries)).toBe(1);
    await s.remove([{ vhost: '/', queue: 'a', messageId: 1 }]);
    await s.dropQueue({ vhost: '/', queue: 'b' });
    expect(await shared.raw.keys(`${prefix}{*`)).toEqual([]);
  });

  it('group-commits concurrent writes into a few script calls and keeps their order', async () => {
    fresh();
    const s = store();
    await s.open();
    const before = await evalshaCalls();
    const n = 2000;
    const writes = Array.from({ length: n }, (_, i) => s.enqueue([entry('bulk', message(i + 1))]));
    // Issued before the enqueues settled: they run after them, in the same pipeline.
    writes.push(s.remove([{ vhost: '/', queue: 'bulk', messageId: 1 }]));
    writes.push(s.markDelivered([{ vhost: '/', queue: 'bulk', messageId: 2 }]));
    await Promise.all(writes);
    // Per flush: the max id, the merged enqueues, the remove, the mark.
    expect((await evalshaCalls()) - before).toBeLessThanOrEqual(8);
    const got = await collect(s, 'bulk');
    expect(got.length).toBe(n - 1);
    expect(got[0]).toMatchObject({ messageId: 2, deliveryCount: 1 });
  });

  it('flushes pending writes on close', async () => {
    fresh();
    const s = store();
    await s.open();
    const pending = s.enqueue([entry('q', message(1)), entry('q', message(2))]);
    await s.close();
    await pending;
    expect((await collect(store(), 'q')).map((r) => r.messageId)).toEqual([1, 2]);
    await expect(s.enqueue([entry('q', message(3))])).rejects.toThrow(RedisStoreError);
  });

  it('refuses data written by a newer format', async () => {
    fresh();
    await shared.raw.hset(`${prefix}meta`, 'format', '99');
    await expect(store().open()).rejects.toThrow(/newer Junction/);
  });

  it('fails open() with an error naming the URL when the server is unreachable, hiding the password', async () => {
    const dead = await startRedis();
    const port = dead.port;
    await dead.cleanup();
    const url = `redis://:hunter2@127.0.0.1:${port}/0`;
    const err = await store('x:', url)
      .open()
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    expect(err).toBeInstanceOf(RedisStoreError);
    expect(err!.message).toContain(`127.0.0.1:${port}`);
    expect(err!.message).toMatch(/cannot connect to Redis/);
    expect(err!.message).not.toContain('hunter2');
  });
});

describe('RedisStore durability across redis-server restarts', () => {
  const write = async (url: string): Promise<void> => {
    const s = new RedisStore({ url, keyPrefix: 'd:' });
    await s.open();
    await s.writeDefinitions([
      {
        op: 'put',
        kind: 'queue',
        value: { vhost: '/', name: 'q', durable: true, autoDelete: false, arguments: {} },
      },
    ]);
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => s.enqueue([entry('q', message(i + 1, randomBytes(100)))])),
    );
    await s.markDelivered([{ vhost: '/', queue: 'q', messageId: 5 }]);
    await s.putRetained('/', 't', message(1000, 'retained'));
    await s.putMqttSession('/', 'c1', { subscriptions: { 'a/#': 1 } });
    // No close(): what was confirmed must be there even if the broker just vanished.
  };
  const check = async (url: string): Promise<void> => {
    const s = new RedisStore({ url, keyPrefix: 'd:' });
    try {
      const state = await s.open();
      expect(state.definitions!.queues.map((q) => q.name)).toEqual(['q']);
      expect(state.maxMessageId).toBe(100);
      const got = await collect(s, 'q');
      expect(got.map((r) => r.messageId)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(got[4]!.deliveryCount).toBe(1);
      const retained = [];
      for await (const r of s.retained('/')) retained.push(r.message.body.toString());
      expect(retained).toEqual(['retained']);
      const sessions = [];
      for await (const x of s.mqttSessions('/')) sessions.push(x.clientId);
      expect(sessions).toEqual(['c1']);
    } finally {
      await s.close();
    }
  };

  /** Writes to one redis-server, stops it (`crash`: kill -9 first), checks on a second one on its directory. */
  const survives = async (crash: boolean): Promise<void> => {
    const first = await startRedis();
    try {
      await write(first.url);
      if (crash) first.kill();
      await first.stop();
      const second = await startRedis({ dir: first.dir });
      try {
        await check(second.url);
      } finally {
        await second.stop();
      }
    } finally {
      await first.cleanup();
    }
  };

  it('keeps confirmed writes across a graceful restart (AOF)', () => survives(false));

  it('keeps confirmed writes across a crash (kill -9; appendfsync always)', () => survives(true));
});

describe('RedisStore atomicity across a redis-server crash', () => {
  it('recovers every batch whole or not at all, and every confirmed batch, after kill -9 mid-stream', async () => {
    const first = await startRedis();
    try {
      const s = new RedisStore({ url: first.url, keyPrefix: 'c:' });
      await s.open();
      const confirmed: number[] = [];
      let nextId = 1;
      let crashed = false;
      // Writers: 16 loops each enqueueing batches of one message fanned out to three queues.
      const writers = Array.from({ length: 16 }, async () => {
        while (!crashed) {
          const m = message(nextId++, randomBytes(64));
          try {
            await s.enqueue([entry('a', m), entry('b', m), entry('c', m)]);
            confirmed.push(m.id);
          } catch {
            return;
          }
        }
      });
      await new Promise((res) => setTimeout(res, 300));
      first.kill();
      crashed = true;
      await new Promise((res) => setTimeout(res, 100));
      await s.close();
      await Promise.all(writers);
      expect(confirmed.length).toBeGreaterThan(10);
      await first.stop();

      const second = await startRedis({ dir: first.dir });
      const r = new Redis(second.url);
      try {
        const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((q) => r.zrange(qk(q, 'c:').entries, 0, -1)));
        expect(b).toEqual(a);
        expect(c).toEqual(a);
        const present = new Set(a!.map(Number));
        for (const id of confirmed) expect(present.has(id)).toBe(true);
        // Each entry with its body and nothing else: no body without its entry.
        const ids = [...present].sort((x, y) => x - y);
        for (const q of ['a', 'b', 'c']) {
          const bodies = (await r.hkeys(qk(q, 'c:').records))
            .filter((f) => f.startsWith('b:'))
            .map((f) => Number(f.slice(2)))
            .sort((x, y) => x - y);
          expect(bodies).toEqual(ids);
        }
        expect(Number(await r.get('c:maxid'))).toBeGreaterThanOrEqual(Math.max(0, ...present));
      } finally {
        r.disconnect();
        await second.stop();
      }
    } finally {
      await first.cleanup();
    }
  });
});

async function evalshaCalls(): Promise<number> {
  const info = await shared.raw.info('commandstats');
  const calls = (name: string): number =>
    Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return calls('evalsha') + calls('eval');
}
