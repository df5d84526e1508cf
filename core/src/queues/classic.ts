/** The `classic` queue type: today's queue (queue.ts), and the default when x-queue-type is absent. */
import { ClassicQueue } from './queue.js';
import type { QueueInit, QueueType } from './queue-type.js';
import { queueSettings } from './queue-settings.js';
import { storePager } from './store-pager.js';
import { queueRecords } from '../storage/queue-records.js';

/** A classic queue of `type` (classic, or a type built on it: mirrored.ts), made by `Ctor`. */
export function buildClassicQueue(
  type: QueueType,
  { context, name, options, policy, recovering }: QueueInit,
  Ctor: typeof ClassicQueue = ClassicQueue,
): ClassicQueue {
  let settings;
  try {
    settings = queueSettings(options.arguments, policy);
  } catch (err) {
    if (!recovering) throw err;
    context.log.warn(
      { err, queue: name, vhost: context.vhost },
      'stored queue arguments are invalid; using defaults',
    );
    settings = queueSettings({});
  }
  const q = new Ctor(type, context, name, options, settings);
  if (q.stored) {
    q.records = queueRecords(context.store, { vhost: context.vhost, queue: name }, context.log);
    // Deep-queue paging: stored queues on a durable store, without priority levels.
    if (q.records && settings.maxPriority === 0) q.pager = storePager(context);
  }
  return q;
}

export const classicQueueType: QueueType = {
  name: 'classic',
  create: (init) => buildClassicQueue(classicQueueType, init),
};
