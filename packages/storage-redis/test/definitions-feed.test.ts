/**
 * The definitions change feed on a real redis-server: a writer's changes reach a follower in
 * order; its own are counted, not applied; a follower whose subscriber is cut off (a TCP proxy
 * that drops bytes and keeps the socket) notices the version moved by its poll and reloads,
 * and reloads again when the subscriber reconnects; a batch too big to carry forces a reload.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { DefinitionChange, Definitions } from '@junction/core';
import { RedisDefinitionsFeed, RedisStore } from '../src/index.js';
import { MAX_FEED_PAYLOAD } from '../src/stored-definitions.js';
import { startRedis, startTcpProxy, until, type RedisServer, type TcpProxy } from '@junction/testkit';

let server: RedisServer;
let proxy: TcpProxy;
const closers: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  server = await startRedis();
  proxy = await startTcpProxy(server.port);
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await proxy.close();
  await server.cleanup();
});

const vhost = (name: string): DefinitionChange => ({ op: 'put', kind: 'vhost', value: { name } });

async function follower(prefix: string, origin: string, subscriberPort: number) {
  const redis = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true });
  const subscriber = new Redis({ port: subscriberPort, host: '127.0.0.1', lazyConnect: true });
  const errors: unknown[] = [];
  subscriber.on('error', (err) => errors.push(err)); // the cut and heal below make these
  await Promise.all([redis.connect(), subscriber.connect()]);
  const applied: DefinitionChange[][] = [];
  const reloads: { defs: Definitions; reason: string }[] = [];
  const feed = new RedisDefinitionsFeed({
    redis,
    subscriber,
    keyPrefix: prefix,
    origin,
    apply: async (c) => void applied.push(c),
    reload: async (defs, reason) => void reloads.push({ defs, reason }),
    onError: (err) => errors.push(err),
    pollEveryMs: 200,
  });
  await feed.start();
  closers.push(() => {
    feed.stop();
    redis.disconnect();
    subscriber.disconnect();
  });
  return { feed, applied, reloads, errors };
}

async function writer(prefix: string, origin: string): Promise<RedisStore> {
  const store = new RedisStore({ url: server.url, keyPrefix: prefix, feedOrigin: origin });
  await store.open();
  closers.push(() => store.close());
  return store;
}

describe('the definitions change feed', () => {
  it('applies another node’s changes in order and skips its own, with the version counted', async () => {
    const store = await writer('feed1:', 'node-a');
    const b = await follower('feed1:', 'node-b', server.port);
    const self = await follower('feed1:', 'node-a', server.port);
    expect(b.reloads.map((r) => r.reason)).toEqual(['start']);
    await store.writeDefinitions([vhost('v1')]);
    await store.writeDefinitions([vhost('v2'), { op: 'delete', kind: 'vhost', key: { name: 'v1' } }]);
    await until(() => b.feed.version === 2, 'version 2 applied', 5000);
    expect(b.applied).toEqual([
      [vhost('v1')],
      [vhost('v2'), { op: 'delete', kind: 'vhost', key: { name: 'v1' } }],
    ]);
    await until(() => self.feed.version === 2, 'the writer’s own node at version 2', 5000);
    expect(self.applied).toEqual([]);
    expect(b.reloads).toHaveLength(1);
  });

  it('a subscriber cut off misses notices: the poll sees the version moved and reloads; the reconnect reloads too', async () => {
    const store = await writer('feed2:', 'node-a');
    const b = await follower('feed2:', 'node-b', proxy.port);
    proxy.cut();
    try {
      await store.writeDefinitions([vhost('missed')]);
      const reload = await until(
        () => b.reloads.find((r) => r.reason.includes('never notified')),
        'a reload',
        10_000,
      );
      expect(reload.defs.vhosts.map((v) => v.name)).toEqual(['missed']);
      expect(b.applied).toEqual([]);
      expect(b.feed.version).toBe(1);
    } finally {
      proxy.heal();
    }
    await until(
      () => b.reloads.some((r) => r.reason.includes('reconnected')),
      'a reload after the reconnect',
      15_000,
    );
    await store.writeDefinitions([vhost('after')]);
    await until(() => b.applied.length === 1, 'the next change applied from its notice', 5000);
  });

  it('a batch too big for a notice makes every follower reload instead', async () => {
    const store = await writer('feed3:', 'node-a');
    const b = await follower('feed3:', 'node-b', server.port);
    const big = Array.from({ length: 40 }, (_, i) => ({
      op: 'put' as const,
      kind: 'vhost' as const,
      value: { name: `big-${i}`, description: 'x'.repeat(MAX_FEED_PAYLOAD / 30) },
    }));
    await store.writeDefinitions(big);
    const reload = await until(() => b.reloads.find((r) => r.reason.includes('too big')), 'a reload', 5000);
    expect(reload.defs.vhosts).toHaveLength(40);
    expect(b.feed.version).toBe(1);
  });
});
