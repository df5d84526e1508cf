/**
 * Entries whose records are in the log (the segment files) but not yet in the LMDB index.
 * Most persistent messages are acked within milliseconds: kept here until the next
 * checkpoint, such a message costs the index nothing, neither a put nor a delete.
 */
import type { Location } from './segments.js';

export interface UnindexedEntry {
  /** expiresAt */
  readonly e: number;
  /** deliveryCount at enqueue */
  readonly d: number;
  readonly loc: Location;
}

/** The entries of one queue, by message id (insertion order is id order). */
export type QueueEntries = Map<number, UnindexedEntry>;

export class UnindexedEntries {
  /** vhost -> queue -> entries: two lookups with the caller's strings, no key to build. */
  private byVhost = new Map<string, Map<string, QueueEntries>>();
  size = 0;

  add(vhost: string, queue: string, id: number, entry: UnindexedEntry): void {
    let queues = this.byVhost.get(vhost);
    if (!queues) this.byVhost.set(vhost, (queues = new Map()));
    let entries = queues.get(queue);
    if (!entries) queues.set(queue, (entries = new Map()));
    if (!entries.has(id)) this.size++;
    entries.set(id, entry);
  }

  /** Removes and returns the entry, if it is here. */
  take(vhost: string, queue: string, id: number): UnindexedEntry | undefined {
    const entries = this.byVhost.get(vhost)?.get(queue);
    const entry = entries?.get(id);
    if (entry) {
      entries!.delete(id);
      this.size--;
    }
    return entry;
  }

  /** Removes and returns every entry of a queue. */
  takeQueue(vhost: string, queue: string): QueueEntries | undefined {
    const queues = this.byVhost.get(vhost);
    const entries = queues?.get(queue);
    if (!entries) return undefined;
    queues!.delete(queue);
    this.size -= entries.size;
    return entries;
  }

  has(vhost: string, queue: string): boolean {
    return (this.byVhost.get(vhost)?.get(queue)?.size ?? 0) > 0;
  }

  /** Removes and returns everything, queue by queue. */
  takeAll(): Map<string, Map<string, QueueEntries>> {
    const all = this.byVhost;
    this.byVhost = new Map();
    this.size = 0;
    return all;
  }
}
