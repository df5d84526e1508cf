/**
 * One queue's records in the store: the handle a queue keeps for its own entries, so a delivery
 * mark or an ack goes from the queue to the store directly, never back through the vhost. The
 * entries themselves are written by the publish that brings them (PublishWrite, one store call
 * for a whole fan-out, so a body routed to four queues is written once, not four times).
 */
import type { Logger } from 'pino';
import type { EnqueueRecord, QueueRef, Store } from './store.js';

export interface QueueRecords {
  readonly ref: QueueRef;
  /** The store forgets these entries (acked, dropped, expired); resolves once it did. */
  remove(messageIds: readonly number[]): Promise<void>;
  /** remove() whose failure is logged: no caller can be told (an ack has no answer). */
  forget(messageIds: readonly number[]): void;
  /**
   * A stored entry was handed out for the first time: after a restart it comes back flagged
   * redelivered. `inOrder`: it was the oldest entry never delivered (a FIFO head), so one mark
   * per turn covers it and every older entry (markDeliveredThrough, where the store has it).
   */
  delivered(messageId: number, inOrder: boolean): void;
  /** Up to `limit` entries with ids above `afterId`, ascending, with their bodies (paging). */
  readAfter(afterId: number, limit: number): Promise<EnqueueRecord[]>;
  /** The queue is deleted: no more marks (they would land on a queue declared again under its name). */
  close(): void;
  /** After close(): every entry of the queue goes. */
  drop(): Promise<void>;
}

/** The queue's handle, or null on a store that keeps nothing (memory): then there is nothing to write. */
export function queueRecords(store: Store, ref: QueueRef, log: Logger): QueueRecords | null {
  return store.capabilities.durable ? new StoredQueueRecords(store, ref, log) : null;
}

class StoredQueueRecords implements QueueRecords {
  /** Newest in-order delivery of this turn, not yet marked (0: none). */
  private deliveredThrough = 0;
  private closed = false;

  constructor(
    private readonly store: Store,
    readonly ref: QueueRef,
    private readonly log: Logger,
  ) {}

  remove(messageIds: readonly number[]): Promise<void> {
    const { vhost, queue } = this.ref;
    return this.store.remove(messageIds.map((messageId) => ({ vhost, queue, messageId })));
  }

  forget(messageIds: readonly number[]): void {
    this.remove(messageIds).catch((err: unknown) =>
      this.log.error({ err, ...this.ref }, 'store remove failed'),
    );
  }

  delivered(messageId: number, inOrder: boolean): void {
    if (inOrder && this.store.markDeliveredThrough) {
      if (this.deliveredThrough === 0) queueMicrotask(this.flushDeliveredThrough);
      this.deliveredThrough = messageId;
      return;
    }
    this.store
      .markDelivered([{ ...this.ref, messageId }])
      .catch((err: unknown) => this.log.error({ err, ...this.ref }, 'store markDelivered failed'));
  }

  private readonly flushDeliveredThrough = (): void => {
    const id = this.deliveredThrough;
    this.deliveredThrough = 0;
    if (this.closed) return;
    this.store.markDeliveredThrough!(this.ref, id).catch((err: unknown) =>
      this.log.error({ err, ...this.ref }, 'store markDeliveredThrough failed'),
    );
  };

  readAfter(afterId: number, limit: number): Promise<EnqueueRecord[]> {
    return this.store.readEntries(this.ref, afterId, limit);
  }

  close(): void {
    this.closed = true;
  }

  drop(): Promise<void> {
    return this.store.dropQueue(this.ref);
  }
}
