/**
 * Where one queue's records live (store format 2): every key of a queue sits under the hash
 * tag `{<vhost>/<queue>}`, so on Redis Cluster they share one hash slot, and one script can
 * touch them all: the queue's entries, its bodies, its stream segments if it is a stream, and
 * the cluster's owner record and fencing epoch (packages/cluster, which builds its keys from
 * the same tag).
 */
import type { QueueRef } from '@junction/core';

/** `%`, `/`, `{` and `}` percent-encoded: the tag is unique per queue and is all one hash tag. */
function escapeTagPart(s: string): string {
  return s.replace(/[%/{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `{<vhost>/<queue>}`: the hash tag of every key of one queue. */
export function queueHashTag(vhost: string, queue: string): string {
  return `{${escapeTagPart(vhost)}/${escapeTagPart(queue)}}`;
}

/** A brace in the key prefix would become the hash tag of every key: refused. */
export function checkKeyPrefix(prefix: string): string {
  if (/[{}]/.test(prefix)) throw new Error(`key prefix '${prefix}' must not contain { or }`);
  return prefix;
}

/** The keys of one queue (P = prefix, T = P + tag). */
export class QueueKeys {
  /** P{v/q}: every key below starts with it. */
  readonly base: string;
  constructor(prefix: string, ref: QueueRef) {
    this.base = prefix + queueHashTag(ref.vhost, ref.queue);
  }
  /** Sorted set: member and score = messageId (enqueue order). */
  get entries(): string {
    return `${this.base}:z`;
  }
  /** Hash: e:<id> -> expiresAt, d:<id> -> deliveryCount, b:<id> -> msgpack body { x, k, p, b }. */
  get records(): string {
    return `${this.base}:h`;
  }
  /** Counter: the queue's fencing epoch (packages/cluster increments it on every takeover). */
  get epoch(): string {
    return `${this.base}:epoch`;
  }
  /** Base of the queue's stream keys (redis-stream-log.ts) when it is a stream. */
  get stream(): string {
    return `${this.base}:st`;
  }
}
