/**
 * Fenced writes (cluster mode): two stores on one Redis, as an old and a new owner of a queue.
 * Once the queue's epoch moved on, every write of the old owner (enqueue, remove, mark
 * delivered, drop, stream append, trim, consumer offset, drop stream) fails with
 * QueueFencedError and changes nothing; the new owner's writes go through.
 */
import { describe, expect, it } from 'vitest';
import { QueueFencedError } from '@junction/core';
import { QueueKeys, RedisStore } from '../src/index.js';
import { queueRecord, sharedRedis } from './shared-redis.js';

const shared = sharedRedis();

const ref = { vhost: '/', queue: 'orders' };
const other = { vhost: '/', queue: 'audit' };
const record = (id: number, q = ref) => queueRecord(q, id);

async function entries(store: RedisStore, q = ref): Promise<[number, number][]> {
  return (await store.readEntries(q, 0, 100)).map((r) => [r.messageId, r.deliveryCount]);
}

/**
 * Everything Redis holds under the prefix, for "nothing changed"; but the highest message id
 * ever issued, which an enqueue raises before its queue calls and which only has to grow.
 */
async function dump(prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const k of (await shared.raw.keys(`${prefix}*`)).sort())
    if (k !== `${prefix}maxid`) out.set(k, (await shared.raw.dumpBuffer(k)).toString('base64'));
  return out;
}

describe('fenced Redis store writes', () => {
  it('refuses every write of the old owner after a takeover, FENCED, and changes nothing', async () => {
    const prefix = 'fence:';
    const epochKey = new QueueKeys(prefix, ref).epoch;
    const oldOwner = new RedisStore({ url: shared.server.url, keyPrefix: prefix });
    const newOwner = new RedisStore({ url: shared.server.url, keyPrefix: prefix });
    await oldOwner.open();
    await newOwner.open();
    try {
      await shared.raw.incr(epochKey); // the cluster's acquire: epoch 1
      oldOwner.setQueueEpoch(ref, 1);
      await oldOwner.enqueue([record(1), record(2), record(3)]);
      await oldOwner.markDelivered([{ ...ref, messageId: 1 }]);
      const stream = await oldOwner.openStream({ vhost: '/', queue: 'orders' }, { maxSegmentBytes: 100 });
      await stream.append([{ timestamp: 1, message: record(9).message }]);
      expect(await entries(oldOwner)).toEqual([
        [1, 1],
        [2, 0],
        [3, 0],
      ]);

      await shared.raw.incr(epochKey); // a takeover: epoch 2
      newOwner.setQueueEpoch(ref, 2);
      const before = await dump(prefix);
      const refused = [
        oldOwner.enqueue([record(4)]),
        oldOwner.remove([{ ...ref, messageId: 2 }]),
        oldOwner.markDelivered([{ ...ref, messageId: 3 }]),
        oldOwner.dropQueue(ref),
        stream.append([{ timestamp: 2, message: record(10).message }]),
        stream.storeConsumerOffset('c', 0),
        oldOwner.dropStream(ref),
      ];
      for (const result of await Promise.allSettled(refused)) {
        expect(result.status).toBe('rejected');
        const err = (result as PromiseRejectedResult).reason as Error;
        expect(err, String(err)).toBeInstanceOf(QueueFencedError);
        expect(err).toMatchObject({ vhost: '/', queue: 'orders', epoch: 1 });
      }
      expect(await dump(prefix)).toEqual(before);

      // The new owner writes; an unfenced queue of the old owner's is untouched by the fence.
      await newOwner.remove([{ ...ref, messageId: 2 }]);
      await newOwner.enqueue([record(4)]);
      expect(await entries(newOwner)).toEqual([
        [1, 1],
        [3, 0],
        [4, 0],
      ]);
      await oldOwner.enqueue([record(5, other)]);
      expect(await entries(oldOwner, other)).toEqual([[5, 0]]);
    } finally {
      await oldOwner.close();
      await newOwner.close();
    }
  });

  it('fails only the fenced part of a fan-out: the publish is not confirmed, the other queue is written', async () => {
    const prefix = 'fan:';
    const store = new RedisStore({ url: shared.server.url, keyPrefix: prefix });
    await store.open();
    try {
      await shared.raw.set(new QueueKeys(prefix, ref).epoch, '7');
      store.setQueueEpoch(ref, 6); // stale from the start
      const fanned = [record(1), { ...record(1, other) }];
      await expect(store.enqueue(fanned)).rejects.toBeInstanceOf(QueueFencedError);
      expect(await entries(store)).toEqual([]);
      expect(await entries(store, other)).toEqual([[1, 0]]);
      // Unfenced again (single node): writes as before.
      store.setQueueEpoch(ref, undefined);
      await store.enqueue([record(2)]);
      expect(await entries(store)).toEqual([[2, 0]]);
    } finally {
      await store.close();
    }
  });

  it('refuses a fenced write to a queue no node ever acquired (no epoch key)', async () => {
    const store = new RedisStore({ url: shared.server.url, keyPrefix: 'none:' });
    await store.open();
    try {
      store.setQueueEpoch(ref, 1);
      await expect(store.enqueue([record(1)])).rejects.toBeInstanceOf(QueueFencedError);
      expect(await shared.raw.keys('none:{*')).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
