import type { BrokerError } from '../errors.js';
import type { Message } from '../message.js';
import type { DeliverySink } from '../session.js';
import type { Queue } from './queue-type.js';
import type { QueuedMessage } from './queued-message.js';

/** What a consumer's owner (a session) decides: session-wide credit and the delivery itself. */
export interface ConsumerOwner {
  readonly connectionId: string;
  /** Session-wide gates: flow, global prefetch, a full transport. */
  hasCredit(): boolean;
  deliver(consumer: Consumer, queue: Queue, entry: QueuedMessage): void;
  consumerCancelled(consumer: Consumer, reason: BrokerError): void;
}

export interface ConsumerSpec {
  readonly tag: string;
  readonly noAck: boolean;
  readonly exclusive: boolean;
  readonly priority: number;
  /** 0 = unlimited. */
  readonly prefetch: number;
  readonly filter: ((msg: Message) => boolean) | undefined;
  readonly arguments: Record<string, unknown>;
}

export class Consumer {
  /** Deliveries not yet settled. */
  unacked = 0;
  /**
   * Filtered consumers: per priority level, the highest sequence number up to which every
   * ready message was refused by the filter, so no message is tested twice (Queue.dispatchFiltered).
   */
  filterSeen: number[] | undefined;

  constructor(
    /** Changes only when the vhost puts another queue in its place (vhost.replaceQueue). */
    public queue: Queue,
    readonly owner: ConsumerOwner,
    readonly spec: ConsumerSpec,
    readonly sink: DeliverySink,
  ) {}

  get tag(): string {
    return this.spec.tag;
  }

  canTake(): boolean {
    const { noAck, prefetch } = this.spec;
    return (noAck || prefetch === 0 || this.unacked < prefetch) && this.owner.hasCredit();
  }
}
