/**
 * The `mirrored` queue type (`x-queue-type: mirrored`, or a policy `queue-type: mirrored` on
 * a queue declared without the argument): a classic queue (priorities, TTL, limits,
 * dead-lettering, paging) whose publishes are confirmed only once the store has them on the
 * replicas a failover may promote (Store.requireReplication; the Redis store on a
 * replication group, packages/storage-redis/src/replication-gate.ts).
 *
 * Refused (406) on a store that cannot replicate, as RabbitMQ refuses what a quorum queue
 * cannot be (non-durable, exclusive) rather than quietly making a weaker queue: a publisher
 * that asked for mirrored confirms must not get single-copy ones. A stored definition read
 * back at start on such a store (definitions moved from a cluster) is the exception: its
 * messages must not be stranded, so the queue comes back classic, with a logged warning.
 */
import { preconditionFailed } from '../errors.js';
import { buildClassicQueue, classicQueueType } from './classic.js';
import { ClassicQueue } from './queue.js';
import type { QueueInit, QueueType } from './queue-type.js';

export const MIRRORED_QUEUE_TYPE = 'mirrored';

class MirroredQueue extends ClassicQueue {
  override destroy(): number {
    const n = super.destroy();
    this.host.store.requireReplication?.({ vhost: this.host.vhost, queue: this.name }, false);
    return n;
  }
}

function refusal(init: QueueInit): string | undefined {
  const { options, context } = init;
  if (!options.durable) return "invalid property 'non-durable' for a mirrored queue";
  if (options.exclusiveOwner !== null) return "invalid property 'exclusive' for a mirrored queue";
  if (!context.store.capabilities.replicated || !context.store.requireReplication)
    return "a mirrored queue needs a store that replicates (redis-sentinel:// storage); this broker's store keeps one copy";
  return undefined;
}

export const mirroredQueueType: QueueType = {
  name: MIRRORED_QUEUE_TYPE,
  create(init) {
    const why = refusal(init);
    if (why !== undefined) {
      if (!init.recovering) throw preconditionFailed(why);
      init.context.log.warn(
        { queue: init.name, vhost: init.context.vhost, reason: why },
        'stored mirrored queue comes back as a classic queue: its confirms are not replicated',
      );
      return classicQueueType.create(init);
    }
    const q = buildClassicQueue(mirroredQueueType, init, MirroredQueue);
    init.context.store.requireReplication!({ vhost: init.context.vhost, queue: init.name }, true);
    return q;
  },
};
