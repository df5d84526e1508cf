/**
 * Ownership across a failover of the Redis primary (startRedisGroup: primary, 2 replicas,
 * 3 Sentinels). An acquire waits until a replica has the new epoch (WAIT 1), so the epoch
 * the promoted replica serves is never older than one a node was given: a takeover after the
 * failover gets the next epoch, and the old owner's writes are fenced on the new primary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { reconnectWhenEnded, redisConnectionTarget } from '@junction/storage-redis';
import { startRedisGroup, untilResolves, type RedisGroup } from '@junction/testkit';
import { ClusterKeys, fencedScript, isFenced, QueueLeases, type QueueLease } from '../src/index.js';

let group: RedisGroup;
const connections: Redis[] = [];
const stoppers: QueueLeases[] = [];

beforeAll(async () => {
  group = await startRedisGroup();
}, 60_000);
afterAll(async () => {
  for (const l of stoppers) l.stop();
  for (const c of connections.splice(0)) c.disconnect();
  await group?.cleanup();
});

const keys = new ClusterKeys('failover:');
const APPEND = fencedScript(`redis.call('RPUSH', KEYS[2], ARGV[2])
return 1`);

function node(id: string): { redis: Redis; leases: QueueLeases; lost: QueueLease[]; errors: unknown[] } {
  const { options } = redisConnectionTarget(group.url);
  const redis = new Redis(options);
  redis.on('error', () => undefined); // the killed primary's connection errors are the point here
  connections.push(redis);
  const lost: QueueLease[] = [];
  const errors: unknown[] = [];
  // What the broker's store does too: ioredis may give a Sentinel connection up at a failover.
  reconnectWhenEnded(
    redis,
    () => connections.includes(redis),
    (err) => errors.push(err),
  );
  const leases = new QueueLeases(redis, {
    keys,
    nodeId: id,
    minReplicas: 1,
    onLost: (lease) => lost.push(lease),
    onError: (err) => errors.push(err),
  });
  leases.start();
  stoppers.push(leases);
  return { redis, leases, lost, errors };
}

const append = (redis: Redis, epoch: number, value: string): Promise<unknown> =>
  redis.eval(APPEND, 2, keys.epoch('/', 'orders'), keys.owner('/', 'orders') + ':log', String(epoch), value);

describe('ownership across a Redis failover', () => {
  it('kill -9 of the primary: the epoch survives, a takeover gets the next one and fences the old owner', async () => {
    const a = node('node-a');
    const b = node('node-b');
    expect(await a.leases.acquire('/', 'orders')).toEqual({ owned: true, epoch: 1 });
    expect(await append(a.redis, 1, 'a-before')).toBe(1);

    const killedAt = Date.now();
    const old = await group.killPrimary();
    await group.waitForNewPrimary(old);
    const failoverMs = Date.now() - killedAt;

    // The promoted replica has the epoch (and the owner record, unless its lease ran out).
    const after = await untilResolves(
      () => b.leases.read('/', 'orders'),
      'a read on the new primary',
      30_000,
    );
    expect(after.epoch).toBe(1);
    const stillOwned = a.leases.epochOf('/', 'orders') === 1;
    console.log(
      `cluster failover: ${failoverMs} ms to a new primary; node A ${stillOwned ? 'kept' : 'lost'} its lease`,
    );

    // Node A hands the queue over (or has lost it); B takes it with a later epoch. Until the
    // surviving replica follows the new primary, writes fail (NOREPLICAS) or an acquire's WAIT 1
    // does (it is then given back, its epoch spent): measured up to 15 s on a loaded machine.
    if (stillOwned) {
      try {
        await a.leases.release('/', 'orders');
      } catch (err) {
        console.log(`release refused (${String(err)}): the lease runs out instead`);
      }
    }
    const takeoverStarted = Date.now();
    const taken = await untilResolves(
      async () => ((await b.leases.acquire('/', 'orders')).owned ? true : undefined),
      'node B to take the queue',
      40_000,
    );
    expect(taken).toBe(true);
    const epoch = b.leases.epochOf('/', 'orders')!;
    expect(epoch).toBeGreaterThan(1);
    console.log(`cluster failover: the takeover took ${Date.now() - takeoverStarted} ms, epoch ${epoch}`);
    const stale = await append(a.redis, 1, 'a-after').catch((err: unknown) => err);
    expect(isFenced(stale)).toBe(true);
    expect(await append(b.redis, epoch, 'b-after')).toBe(1);
    expect(await b.redis.lrange(keys.owner('/', 'orders') + ':log', 0, -1)).toEqual(['a-before', 'b-after']);
  }, 90_000);
});
