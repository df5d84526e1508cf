/**
 * Where the cluster's records live in Redis. Every record of one queue sits under the hash
 * tag `{<vhost>/<queue>}`, so on Redis Cluster they share one hash slot with each other and
 * with the queue's data (the Redis store's keys.ts, where the tag is built), and one
 * script can touch them all. The node registry is small and shared: it lives under
 * `{cluster}`, one slot of its own.
 */

import { checkKeyPrefix, queueHashTag } from '@junction/storage-redis';

export { queueHashTag };

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function checkNodeId(id: string): string {
  if (!NODE_ID.test(id)) throw new Error(`node id '${id}' is not 1-64 of A-Z a-z 0-9 . _ -`);
  return id;
}

export class ClusterKeys {
  /** e.g. 'junction:'; must not hold a brace, which would become the hash tag. */
  constructor(readonly prefix = 'junction:') {
    checkKeyPrefix(prefix);
  }

  /** Hash `address`, `queues`; expires (PX) unless its node renews it. */
  node(id: string): string {
    return `${this.nodeKeyPrefix}${id}`;
  }

  /** Prefix of node(id), for the script that lists the live nodes. */
  get nodeKeyPrefix(): string {
    return `${this.prefix}{cluster}:node:`;
  }

  /** Sorted set: node id, scored by its lease's expiry (Redis server time, ms). */
  get nodes(): string {
    return `${this.prefix}{cluster}:nodes`;
  }

  /** Hash `node`, `epoch`: the queue's owner; expires (PX) unless the owner renews it. */
  owner(vhost: string, queue: string): string {
    return `${this.prefix}${queueHashTag(vhost, queue)}:owner`;
  }

  /** Counter: the queue's fencing epoch, incremented by every new owner; never expires. */
  epoch(vhost: string, queue: string): string {
    return `${this.prefix}${queueHashTag(vhost, queue)}:epoch`;
  }
}
