/**
 * The stand-in a cluster node holds for a stored queue another node owns, until the remote
 * proxy (forwarding publishes, proxy consumers) takes its place: it routes, binds and answers
 * passive declares like the queue, writes nothing (only the owner writes a queue), refuses
 * publishes (the publisher is nacked) and consumers with a clear reason, and counts nothing.
 */
import { resourceLocked } from '../errors.js';
import { noCounts } from './queue.js';
import type { Consumer } from './consumer.js';
import type { EnqueueOutcome, Queue, QueueOptions, QueueStats, QueueType } from './queue-type.js';
import type { QueuedMessage } from './queued-message.js';

const NO_CONSUMERS: Queue['consumers'] = { size: 0, all: () => [], active: undefined };

export class UnservedQueue implements Queue {
  readonly kind = 'queue';
  readonly stored = true;
  readonly congested = false;
  flowHolders = undefined;
  readonly consumers = NO_CONSUMERS;
  readonly messageCount = 0;
  readonly consumerCount = 0;
  readonly unacked = 0;

  readonly name: string;
  readonly type: QueueType;
  readonly options: QueueOptions;
  /** The node serving it now, for the refusals' text; undefined while it has none. */
  private readonly owner: () => string | undefined;

  constructor(init: {
    name: string;
    type: QueueType;
    options: QueueOptions;
    owner: () => string | undefined;
  }) {
    ({ name: this.name, type: this.type, options: this.options, owner: this.owner } = init);
  }

  private gone = false;
  get deleted(): boolean {
    return this.gone;
  }

  private elsewhere(): ReturnType<typeof resourceLocked> {
    const owner = this.owner();
    const where = owner === undefined ? 'no node right now' : `node ${owner}`;
    return resourceLocked(`queue '${this.name}' is served by ${where}; connect to it`);
  }

  /** Nothing of its own to open or load: the owner has the entries. */
  async recover(): Promise<number> {
    return 0;
  }
  async open(): Promise<void> {}
  enqueue(): EnqueueOutcome {
    return 'rejected';
  }
  enqueued(): void {}
  addConsumer(_c: Consumer): void {
    throw this.elsewhere();
  }
  removeConsumer(): void {}
  dispatch(): void {}
  async get(): Promise<QueuedMessage | undefined> {
    throw this.elsewhere();
  }
  settle(): void {}
  touch(): void {}
  applyPolicy(): void {}
  purge(): number {
    throw this.elsewhere();
  }
  destroy(): number {
    this.gone = true;
    return 0;
  }
  /** The definitions delete drops the stored entries; the owner drops its copy in memory. */
  async dropStored(): Promise<void> {}
  stats(): QueueStats {
    return {
      ready: 0,
      unacked: 0,
      readyBytes: 0,
      consumers: 0,
      singleActiveConsumer: undefined,
      ...noCounts(),
    };
  }
}
