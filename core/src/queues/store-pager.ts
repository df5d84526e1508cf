/** Deep-queue paging's reads and drops, through each queue's store handle (the QueuePager of classic queues). */
import type { PagedEntry, QueuePager } from './queue.js';
import type { ClassicQueue } from './queue.js';
import type { QueueContext } from './queue-type.js';

/** One pager per vhost context: queues share it (an MQTT fleet has many queues). */
const pagers = new WeakMap<QueueContext, QueuePager>();

export function storePager(ctx: QueueContext): QueuePager | null {
  const window = ctx.paging;
  if (!window || !ctx.store.capabilities.durable) return null;
  let pager = pagers.get(ctx);
  if (!pager) pagers.set(ctx, (pager = makePager(ctx, window)));
  return pager;
}

function makePager(ctx: QueueContext, window: { maxMessages: number; maxBytes: number }): QueuePager {
  const { log, vhost } = ctx;
  const readAfterWrites = async (q: ClassicQueue, afterId: number, limit: number) => {
    // Let the publish being routed right now submit its write first (route() is synchronous).
    await Promise.resolve();
    const writes = q.writesInFlight();
    if (writes) await writes;
    return q.records!.readAfter(afterId, limit);
  };
  return {
    maxMessages: window.maxMessages,
    maxBytes: window.maxBytes,
    async read(q, afterId, limit): Promise<PagedEntry[]> {
      try {
        const records = await readAfterWrites(q, afterId, limit);
        return records.map((r) => ({
          messageId: r.messageId,
          msg: r.message,
          expiresAt: r.expiresAt,
          deliveryCount: r.deliveryCount,
          size: r.message.body.length,
        }));
      } catch (err) {
        log.error({ err, queue: q.name, vhost }, 'reading paged messages from the store failed');
        throw err;
      }
    },
    drop(q, afterId, maxId): void {
      void (async () => {
        let after = afterId;
        for (;;) {
          const records = await readAfterWrites(q, after, 1000);
          const ids = records.filter((r) => r.messageId <= maxId).map((r) => r.messageId);
          if (ids.length) await q.records!.remove(ids);
          if (ids.length < records.length || records.length < 1000) return;
          after = records[records.length - 1]!.messageId;
        }
      })().catch((err: unknown) =>
        log.error({ err, queue: q.name, vhost }, 'removing purged paged messages failed'),
      );
    },
  };
}
