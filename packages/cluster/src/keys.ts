/**
 * Where the cluster's records live in Redis. Every record of one queue sits under the hash
 * tag `{<vhost>/<queue>}`, so on Redis Cluster they share one hash slot with each other and
 * with the queue's data (once the store moves its queue keys under the same tag), and one
 * script can touch them all. The node registry is small and shared: it lives under
 * `{cluster}`, one slot of its own.
 */

/** `%`, `/`, `{` and `}` percent-encoded: the tag is unique per queue and is all one hash tag. */
function escapeTagPart(s: string): string {
  return s.replace(/[%/{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `{<vhost>/<queue>}`: the hash tag of every key of one queue. */
export function queueHashTag(vhost: string, queue: string): string {
  return `{${escapeTagPart(vhost)}/${escapeTagPart(queue)}}`;
}

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function checkNodeId(id: string): string {
  if (!NODE_ID.test(id)) throw new Error(`node id '${id}' is not 1-64 of A-Z a-z 0-9 . _ -`);
  return id;
}

export class ClusterKeys {
  /** e.g. 'junction:'; must not hold a brace, which would become the hash tag. */
  constructor(readonly prefix = 'junction:') {
    if (/[{}]/.test(prefix)) throw new Error(`key prefix '${prefix}' must not contain { or }`);
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
