/**
 * The Redis store's streams beyond the shared stream contract (test/storage/stream-contract.test.ts):
 * every key of a stream under one hash tag, whatever the queue's name (so a stream lives in
 * one Cluster slot), and an append resent after a dropped connection stored once.
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { StreamAppend } from '@junction/core';
import { startRedis, until, type RedisServer } from '@junction/testkit';
import { RedisStore } from '../src/index.js';
import { STREAM_SCRIPTS } from '../src/stream-scripts.js';
import { queueHashTag } from '../src/keys.js';
import { sharedRedis } from './shared-redis.js';

/** A redis-server of its own for the suite, and a plain connection to look at its keys. */
const shared = sharedRedis();
const server = (): RedisServer => shared.server;
const raw = (): Redis => shared.raw;

const entry = (i: number, key = 'k'): StreamAppend => ({
  timestamp: 1000 + i,
  message: { exchange: '', routingKey: key, properties: {}, body: Buffer.from(`m${i}`) },
});

/** Redis Cluster's hash tag: the text between the first '{' and the first '}' after it. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('Redis streams', () => {
  it("keeps every key of a stream under one hash tag, braces in the names included, apart from other streams'", async () => {
    const store = new RedisStore({ url: server().url, keyPrefix: 'tag:' });
    await store.open();
    const refs = [
      { vhost: '/', queue: 'plain' },
      { vhost: 'a}b', queue: '{x}y{' },
    ];
    for (const ref of refs) {
      const log = await store.openStream(ref, { maxSegmentBytes: 200, compact: true });
      for (let i = 0; i < 20; i++)
        await log.append([entry(i, `k${i % 2}`)], { name: 'p', firstSequence: i + 1 });
      await log.storeConsumerOffset('c', 3);
      await log.enforceRetention(5000);
    }
    const keys = await raw().keys('tag:{*}:st:*');
    const tags = new Set(keys.map(hashTag));
    expect(tags.size).toBe(2);
    for (const ref of refs) expect(tags.has(queueHashTag(ref.vhost, ref.queue).slice(1, -1))).toBe(true);
    // Segments, table, producers and consumers: several keys per stream.
    expect(keys.length).toBeGreaterThan(8);
    await store.dropStream(refs[1]!);
    expect(new Set((await raw().keys('tag:{*}:st:*')).map(hashTag)).size).toBe(1);
    await store.close();
  });

  it('stores an append resent with the same arguments once (ioredis resends unanswered commands)', async () => {
    const store = new RedisStore({ url: server().url, keyPrefix: 'resend:' });
    await store.open();
    const ref = { vhost: '/', queue: 's' };
    const log = await store.openStream(ref, { maxSegmentBytes: 1_000_000 });
    await log.append([entry(0), entry(1)]);
    const keys = (await raw().keys('resend:{*}:st:*')).sort();
    const seg = keys.find((k) => k.includes(':seg:'))!;
    const segs = keys.find((k) => k.endsWith(':segs'))!;
    const prod = keys.find((k) => k.endsWith(':prod')) ?? segs.replace(/:segs$/, ':prod');
    const row = (await raw().hget(segs, '0'))!;
    // The same two entries again, as a resend would carry them: nothing new.
    const args = ['1', '0', row, '2', '0', 'x', '1', 'y'];
    for (let i = 0; i < 2; i++)
      await raw().eval(STREAM_SCRIPTS.junctionStreamAppend, 3, segs, prod, seg, ...args);
    expect(await raw().xlen(seg)).toBe(2);
    expect((await log.read(0, 10)).map((e) => e.message.body.toString())).toEqual(['m0', 'm1']);
    await store.close();
  });

  it('closes at once while the server is gone: an append in flight fails, nothing hangs', async () => {
    const own = await startRedis();
    const store = new RedisStore({ url: own.url, keyPrefix: 'gone:' });
    try {
      await store.open();
      const log = await store.openStream({ vhost: '/', queue: 's' }, { maxSegmentBytes: 1_000_000 });
      await log.append([entry(0)]);
      own.kill();
      // Once the store's connection saw the server go (ioredis then holds commands for a reconnect).
      const connection = (store as unknown as { redis: Redis }).redis;
      await until(() => connection.status !== 'ready', 'the connection to notice the kill');
      const pending = log.append([entry(1)]);
      const t0 = Date.now();
      await store.close();
      await expect(pending).rejects.toThrow();
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await own.cleanup();
    }
  });
});
