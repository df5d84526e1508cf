/** The `classic` queue type: today's queue (queue.ts), and the default when x-queue-type is absent. */
import { ClassicQueue } from './queue.js';
import type { QueueType } from './queue-type.js';
import { queueSettings } from './queue-settings.js';
import { storePager } from './store-pager.js';
import { queueRecords } from '../storage/queue-records.js';

export const classicQueueType: QueueType = {
  name: 'classic',
  create({ context, name, options, policy, recovering }) {
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
    const q = new ClassicQueue(classicQueueType, context, name, options, settings);
    if (q.stored) {
      q.records = queueRecords(context.store, { vhost: context.vhost, queue: name }, context.log);
      // Deep-queue paging: stored queues on a durable store, without priority levels.
      if (q.records && settings.maxPriority === 0) q.pager = storePager(context);
    }
    return q;
  },
};
