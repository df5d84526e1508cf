/**
 * Streams on a sharded Redis (Redis Cluster, 3 primaries): every stream script and read names
 * keys of one slot only, so a stream's appends, reads, retention, compaction, consumer
 * offsets and drop run unchanged when streams spread over shards, and a new client reads
 * back what another wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import type { StreamAppend } from '@junction/core';
import { startRedisCluster, type RedisCluster } from '@junction/testkit';
import { RedisStreamLog, StreamKeys, streamKeysOf } from '../src/redis-stream-log.js';
import { QueueKeys } from '../src/keys.js';
import { defineStreamScripts } from '../src/stream-scripts.js';

let cluster: RedisCluster;
const clients: Cluster[] = [];
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.cleanup();
});

function client(): Cluster {
  const c = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }]);
  defineStreamScripts(c);
  clients.push(c);
  return c;
}

const entry = (i: number): StreamAppend => ({
  timestamp: 1000 + i,
  message: {
    exchange: '',
    routingKey: `k${i % 3}`,
    properties: { headers: { i } },
    body: Buffer.alloc(100, i),
  },
});
const settings = { maxSegmentBytes: 600, maxBytes: 2_000, compact: true };
const keysOf = (ref: { vhost: string; queue: string }): StreamKeys =>
  new StreamKeys(new QueueKeys('cs:', ref));
const unfenced = (ref: { vhost: string; queue: string }) => ({ ref, epoch: () => undefined, holdMs: 1_000 });
const refs = Array.from({ length: 12 }, (_, i) => ({ vhost: i % 2 ? '/' : 'iot', queue: `stream-${i}` }));

describe('streams on Redis Cluster', () => {
  it('append, read, retention, compaction, offsets and drop run on a sharded Redis, with streams on every shard', async () => {
    const writer = client();
    for (const ref of refs) {
      const log = await RedisStreamLog.open(settings, writer, keysOf(ref), unfenced(ref), () => {});
      for (let i = 0; i < 30; i++) await log.append([entry(i)], { name: 'p', firstSequence: i + 1 });
      await log.storeConsumerOffset('reader', 7);
      expect(await log.enforceRetention(10_000)).toBeGreaterThan(0);
      expect((await log.read(0, 100)).at(-1)?.offset).toBe(29);
      await log.close();
    }
    const shards = writer.nodes('master');
    expect(shards.length).toBe(3);
    for (const shard of shards) expect(await shard.dbsize()).toBeGreaterThan(0);
    // Another client (a restarted broker) finds each stream as it was left.
    const reader = client();
    for (const ref of refs) {
      const keys = keysOf(ref);
      const log = await RedisStreamLog.open(settings, reader, keys, unfenced(ref), () => {});
      expect(log.nextOffset).toBe(30);
      expect(log.consumerOffset('reader')).toBe(7);
      expect(log.lastProducerSequence('p')).toBe(30);
      const read = await log.read(0, 100);
      expect(read[0]!.offset).toBeGreaterThanOrEqual(log.firstOffset);
      expect(read.map((e) => e.message.properties.headers?.['i']).at(-1)).toBe(29);
      expect(await log.offsetForTimestamp(1029)).toBe(29);
      await log.close();
      await reader.del(...(await streamKeysOf(reader, keys)));
    }
    for (const shard of reader.nodes('master')) expect(await shard.keys('cs:*')).toEqual([]);
  }, 60_000);
});
