/**
 * Queue ownership: one node owns a queue at a time, by a lease in Redis (`{v/q}:owner`, PX,
 * renewed every second) carrying the fencing epoch the owner got when it took the queue
 * (`{v/q}:epoch`, incremented by every new owner). The owner passes its epoch to every
 * queue-mutating script, which refuses a stale one (fence.ts).
 *
 * A lease is reported lost (onLost) and no longer renewed when Redis says it is no longer
 * this node's ('revoked': it lapsed, or another node holds it), or when this node could not
 * renew it for most of a lease ('expired': Redis unreachable, or this process paused): counted on this node's monotonic clock from
 * the moment it sent its last successful renewal, which is before Redis set the expiry, so
 * the node gives the queue up before Redis can hand it to another node.
 */
import { performance } from 'node:perf_hooks';
import { Cluster } from 'ioredis';
import { checkNodeId, queueHashTag, type ClusterKeys } from './keys.js';
import { clusterScripts, type RedisConnection, type ScriptCalls } from './scripts.js';
import { Ticker } from './ticker.js';

export interface QueueLeasesOptions {
  keys: ClusterKeys;
  nodeId: string;
  /** Default 5000. */
  leaseMs?: number;
  /** Default 1000. */
  renewEveryMs?: number;
  /**
   * Replicas that must have the new epoch (WAIT) before an acquire counts; default 0. On a
   * replication group 1, so a failover cannot bring back an older epoch and give it out twice.
   * Not on a Redis Cluster connection yet (WAIT must go to the shard that took the write).
   */
  minReplicas?: number;
  /** Bound of that WAIT; default 1000. */
  replicaWaitMs?: number;
  onLost: (lease: QueueLease, reason: 'revoked' | 'expired') => void;
  /** A renewal round that failed (Redis unreachable, ...): log it. */
  onError: (err: unknown) => void;
}

export interface QueueLease {
  vhost: string;
  queue: string;
  epoch: number;
}

export type AcquireResult =
  | { owned: true; epoch: number }
  | { owned: false; epoch: number; owner: string }
  /** Taken, but not on enough replicas in time: released again. */
  | { owned: false; epoch: number; owner: undefined };

export interface OwnerRecord {
  /** The node holding the lease, if any. */
  owner: string | undefined;
  /** The epoch its lease carries. */
  ownerEpoch: number | undefined;
  /** Left of the lease by the Redis server's clock; 0 without an owner. */
  leaseLeftMs: number;
  /** The queue's current fencing epoch (0 if never owned). */
  epoch: number;
}

/** Part of the lease after which a node that could not renew gives it up. */
const GIVE_UP_AT = 0.8;

interface Held {
  lease: QueueLease;
  ownerKey: string;
  /** performance.now() when the last successful renewal (or the acquire) was sent. */
  renewedAt: number;
}

export class QueueLeases {
  readonly nodeId: string;
  private readonly leaseMs: number;
  private readonly scripts: ScriptCalls;
  private readonly ticker: Ticker;
  private readonly held = new Map<string, Held>();
  /** Fires when the least recently renewed lease is due to be given up. */
  private giveUpTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisConnection,
    private readonly options: QueueLeasesOptions,
  ) {
    this.nodeId = checkNodeId(options.nodeId);
    this.leaseMs = options.leaseMs ?? 5000;
    if ((options.minReplicas ?? 0) > 0 && redis instanceof Cluster)
      throw new Error('minReplicas is not supported on a Redis Cluster connection yet');
    this.scripts = clusterScripts(redis);
    this.ticker = new Ticker(options.renewEveryMs ?? 1000, () => this.renewAll(), options.onError);
  }

  start(): void {
    this.ticker.start();
  }

  /** Stops renewing (the leases lapse on their own; release() gives one up at once). */
  stop(): void {
    this.ticker.stop();
    clearTimeout(this.giveUpTimer);
  }

  /** The leases this node holds. */
  leases(): QueueLease[] {
    return [...this.held.values()].map((h) => ({ ...h.lease }));
  }

  epochOf(vhost: string, queue: string): number | undefined {
    return this.held.get(queueHashTag(vhost, queue))?.lease.epoch;
  }

  async acquire(vhost: string, queue: string): Promise<AcquireResult> {
    const { keys } = this.options;
    const ownerKey = keys.owner(vhost, queue);
    const sentAt = performance.now();
    const [ok, epoch, owner] = (await this.scripts.junctionClusterAcquire(
      ownerKey,
      keys.epoch(vhost, queue),
      this.nodeId,
      this.leaseMs,
    )) as [number, number, string?];
    if (ok !== 1) return { owned: false, epoch, owner: owner! };
    const minReplicas = this.options.minReplicas ?? 0;
    if (minReplicas > 0) {
      const acked = (await this.redis.call(
        'WAIT',
        minReplicas,
        this.options.replicaWaitMs ?? 1000,
      )) as number;
      if (acked < minReplicas) {
        await this.scripts.junctionClusterRelease(ownerKey, this.nodeId, epoch);
        return { owned: false, epoch, owner: undefined };
      }
    }
    this.held.set(queueHashTag(vhost, queue), {
      lease: { vhost, queue, epoch },
      ownerKey,
      renewedAt: sentAt,
    });
    this.armGiveUp();
    return { owned: true, epoch };
  }

  /** Gives a held lease up at once (graceful hand-off); false when it was not held. */
  async release(vhost: string, queue: string): Promise<boolean> {
    const tag = queueHashTag(vhost, queue);
    const h = this.held.get(tag);
    if (!h) return false;
    this.held.delete(tag);
    return (await this.scripts.junctionClusterRelease(h.ownerKey, this.nodeId, h.lease.epoch)) === 1;
  }

  async read(vhost: string, queue: string): Promise<OwnerRecord> {
    const { keys } = this.options;
    const [owner, ownerEpoch, pttl, epoch] = (await this.scripts.junctionClusterReadOwner(
      keys.owner(vhost, queue),
      keys.epoch(vhost, queue),
    )) as [string | null, string | null, number, string | null];
    return {
      owner: owner ?? undefined,
      ownerEpoch: ownerEpoch === null ? undefined : Number(ownerEpoch),
      leaseLeftMs: Math.max(0, pttl),
      epoch: Number(epoch ?? 0),
    };
  }

  /**
   * One renewal of every held lease, sent back to back (one round trip on one server; on a
   * Redis Cluster each goes to its queue's shard, which a single pipeline could not).
   */
  async renewAll(): Promise<void> {
    const round = [...this.held.entries()];
    if (round.length === 0) return;
    const sentAt = performance.now();
    const replies = await Promise.allSettled(
      round.map(([, h]) =>
        this.scripts.junctionClusterRenew(h.ownerKey, this.nodeId, h.lease.epoch, this.leaseMs),
      ),
    );
    round.forEach(([tag, h], i) => {
      if (this.held.get(tag) !== h) return; // released or lost meanwhile
      const reply = replies[i]!;
      if (reply.status === 'rejected') this.options.onError(reply.reason);
      else if (reply.value === 1) h.renewedAt = sentAt;
      else this.lose(tag, h, 'revoked');
    });
    this.armGiveUp();
  }

  /**
   * Leases this node could not renew for most of a lease are given up before Redis lets them
   * go: on a timer of their own, since a renewal round that hangs on an unreachable Redis
   * must not delay it.
   */
  private armGiveUp(): void {
    clearTimeout(this.giveUpTimer);
    let oldest = Infinity;
    for (const h of this.held.values()) oldest = Math.min(oldest, h.renewedAt);
    if (oldest === Infinity) return;
    const due = oldest + this.leaseMs * GIVE_UP_AT - performance.now();
    this.giveUpTimer = setTimeout(
      () => {
        const now = performance.now();
        for (const [tag, h] of this.held)
          if (now - h.renewedAt >= this.leaseMs * GIVE_UP_AT) this.lose(tag, h, 'expired');
        this.armGiveUp();
      },
      Math.max(0, due),
    );
    this.giveUpTimer.unref();
  }

  private lose(tag: string, h: Held, reason: 'revoked' | 'expired'): void {
    this.held.delete(tag);
    this.options.onLost({ ...h.lease }, reason);
  }
}
