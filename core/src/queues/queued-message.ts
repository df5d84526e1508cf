import type { Message } from '../message.js';

/** A message's place in one queue. A message routed to several queues has one of these per queue. */
export interface QueuedMessage {
  /** Per-queue sequence number: the FIFO order within a priority level. */
  readonly seq: number;
  /** Broker-wide id of the message (shared by all its queue entries). */
  readonly messageId: number;
  msg: Message;
  readonly priority: number;
  /** Epoch ms after which the message is dead; 0 = never. */
  readonly expiresAt: number;
  /** Times delivered; > 0 means the next delivery is flagged redelivered. */
  deliveryCount: number;
  /** Body bytes, counted against x-max-length-bytes. */
  readonly size: number;
  /** Written to the store (persistent message on a durable queue). */
  readonly persisted: boolean;
}
