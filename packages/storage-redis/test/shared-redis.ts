/** What the Redis store's test files share: one redis-server per file, and queue records. */
import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import type { EnqueueRecord, QueueRef } from '@junction/core';
import { startRedis, type RedisServer } from '@junction/testkit';

/** Starts a redis-server (AOF, fsync always) before the file's tests; `raw` is a plain client on it. */
export function sharedRedis(): { readonly server: RedisServer; readonly raw: Redis } {
  const shared = {} as { server: RedisServer; raw: Redis };
  beforeAll(async () => {
    shared.server = await startRedis();
    shared.raw = new Redis(shared.server.url);
  });
  afterAll(async () => {
    shared.raw?.disconnect();
    await shared.server?.cleanup();
  });
  return shared;
}

/** An entry of `ref` with message `id` (body `m<id>`), never delivered, never expiring. */
export const queueRecord = (ref: QueueRef, id: number): EnqueueRecord => ({
  ...ref,
  messageId: id,
  expiresAt: 0,
  deliveryCount: 0,
  message: { id, exchange: '', routingKey: ref.queue, properties: {}, body: Buffer.from(`m${id}`) },
});
