/**
 * Writes Redis refuses before running them (here NOREPLICAS: min-replicas-to-write 1 and no
 * replica, as on a primary Sentinel just promoted) are held and retried in order, not failed;
 * after the store's holdMs they fail with the reason.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';
import { queueRecord, sharedRedis } from './shared-redis.js';

const shared = sharedRedis();
afterEach(async () => {
  await shared.raw.config('SET', 'min-replicas-to-write', '0');
});

const ref = { vhost: '/', queue: 'q' };
const record = (id: number) => queueRecord(ref, id);

describe('held Redis writes', () => {
  it('holds writes refused with NOREPLICAS and runs them in order once Redis takes writes again', async () => {
    const store = new RedisStore({ url: shared.server.url, keyPrefix: 'held:', holdMs: 30_000 });
    await store.open();
    try {
      await shared.raw.config('SET', 'min-replicas-to-write', '1');
      let settled = 0;
      const writes = [
        store.enqueue([record(1), record(2), record(3)]),
        store.remove([{ ...ref, messageId: 2 }]),
        store.markDelivered([{ ...ref, messageId: 3 }]),
      ].map((w) => w.then(() => settled++));
      await new Promise((resolve) => setImmediate(resolve));
      const stream = await store.openStream({ vhost: '/', queue: 's' }, { maxSegmentBytes: 1_000 });
      const appended = stream.append([{ timestamp: 1, message: record(9).message }]);
      // Refused and retried for a while: nothing settled, nothing written.
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(settled).toBe(0);
      expect(await shared.raw.keys('held:{*')).toEqual([]);
      const later = store.enqueue([record(4)]); // issued while held: runs after the held ones
      await shared.raw.config('SET', 'min-replicas-to-write', '0');
      await Promise.all([...writes, later, appended]);
      expect((await store.readEntries(ref, 0, 10)).map((r) => [r.messageId, r.deliveryCount])).toEqual([
        [1, 0],
        [3, 1],
        [4, 0],
      ]);
      expect((await stream.read(0, 10)).length).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('fails a held write after holdMs with the reason, and writes again afterwards', async () => {
    const store = new RedisStore({ url: shared.server.url, keyPrefix: 'bound:', holdMs: 500 });
    await store.open();
    try {
      await shared.raw.config('SET', 'min-replicas-to-write', '1');
      const t0 = Date.now();
      await expect(store.enqueue([record(1)])).rejects.toThrow(/refused the write for \d+ ms \(NOREPLICAS/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
      await expect(
        (await store.openStream({ vhost: '/', queue: 's' }, { maxSegmentBytes: 1_000 })).append([
          { timestamp: 1, message: record(9).message },
        ]),
      ).rejects.toThrow(/NOREPLICAS/);
      await shared.raw.config('SET', 'min-replicas-to-write', '0');
      await store.enqueue([record(2)]);
      expect((await store.readEntries(ref, 0, 10)).map((r) => r.messageId)).toEqual([2]);
    } finally {
      await store.close();
    }
  });
});
