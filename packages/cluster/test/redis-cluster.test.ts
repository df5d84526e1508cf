/**
 * The key layout on a sharded Redis (Redis Cluster, 3 primaries): every script of the
 * registry and the leases, and a fenced write, run with their keys in one slot each, so the
 * same code works when one primary is not enough. Queues land on every shard.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { startRedisCluster, type RedisCluster } from '@junction/testkit';
import { ClusterKeys, fencedScript, isFenced, NodeRegistry, QueueLeases } from '../src/index.js';

let cluster: RedisCluster;
const clients: Cluster[] = [];
const stops: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  for (const s of stops) await s();
  for (const c of clients) c.disconnect();
  await cluster?.cleanup();
});

const keys = new ClusterKeys('cl:');
const APPEND = fencedScript(`redis.call('RPUSH', KEYS[2], ARGV[2])
return 1`);

function node(id: string): {
  client: Cluster;
  leases: QueueLeases;
  registry: NodeRegistry;
  errors: unknown[];
} {
  const client = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }]);
  clients.push(client);
  const errors: unknown[] = [];
  const leases = new QueueLeases(client, {
    keys,
    nodeId: id,
    onLost: (lease) => errors.push(new Error(`lost ${lease.queue}`)),
    onError: (err) => errors.push(err),
  });
  const registry = new NodeRegistry(client, {
    keys,
    nodeId: id,
    address: `${id}:5672`,
    ownedQueues: () => leases.leases().length,
    onError: (err) => errors.push(err),
  });
  leases.start();
  stops.push(
    () => leases.stop(),
    () => registry.stop({ leave: true }),
  );
  return { client, leases, registry, errors };
}

describe('cluster keys on Redis Cluster', () => {
  it('registry, leases, renewals and the fence run on a sharded Redis, with queues on every shard', async () => {
    const a = node('node-a');
    const b = node('node-b');
    await a.registry.start();
    await b.registry.start();
    const queues = Array.from({ length: 30 }, (_, i) => `q-${i}`);
    for (const q of queues) expect(await a.leases.acquire('/', q)).toEqual({ owned: true, epoch: 1 });
    await a.leases.renewAll();
    expect(a.leases.leases()).toHaveLength(30);
    await a.registry.heartbeat();
    expect((await b.registry.liveNodes()).map((n) => [n.id, n.queues])).toEqual([
      ['node-a', 30],
      ['node-b', 0],
    ]);

    const append = (c: Cluster, q: string, epoch: number, v: string): Promise<unknown> =>
      c.eval(APPEND, 2, keys.epoch('/', q), keys.owner('/', q) + ':log', String(epoch), v);
    for (const q of queues) expect(await append(a.client, q, 1, 'a')).toBe(1);
    // A hand-off on every queue: the new owner gets epoch 2, the old owner's writes are fenced.
    for (const q of queues) {
      expect(await a.leases.release('/', q)).toBe(true);
      expect(await b.leases.acquire('/', q)).toEqual({ owned: true, epoch: 2 });
      expect(isFenced(await append(a.client, q, 1, 'stale').catch((err: unknown) => err))).toBe(true);
    }

    const perShard = await Promise.all(
      cluster.ports.map(async (port) => {
        const shard = a.client.nodes('master').find((n) => n.options.port === port)!;
        return (await shard.keys('cl:*:owner')).length;
      }),
    );
    expect(perShard.reduce((x, y) => x + y)).toBe(30);
    expect(perShard.every((n) => n > 0)).toBe(true);
    expect([...a.errors, ...b.errors]).toEqual([]);
  }, 60_000);
});
