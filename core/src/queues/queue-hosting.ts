/**
 * Where a stored queue is served in a cluster: by one owner node at a time (a lease in the
 * shared store). On every other node the vhost holds a stand-in in its place, so routing,
 * bindings, passive declares and management see the queue everywhere. The server's cluster
 * module implements this; a single node has none and serves every queue itself.
 */
import type { Queue, QueueContext, QueueOptions, QueueType } from './queue-type.js';

export interface QueueHosting {
  /**
   * A declare on this node is about to create a stored queue: choose its owner (placement)
   * and, when that is this node, take the queue's lease before it exists.
   */
  place(vhost: string, queue: string): Promise<void>;
  /**
   * The stand-in to hold for a stored queue this node does not serve (a proxy to its owner),
   * or undefined when this node serves it (the queue type's own queue is made).
   */
  standIn(ctx: QueueContext, name: string, options: QueueOptions, type: QueueType): Queue | undefined;
  /** The queue was deleted (here or on another node): give its lease up. */
  removed(vhost: string, queue: string): void;
}
