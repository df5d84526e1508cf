/**
 * This process as a cluster node: its id (the configured name plus a random suffix, so a
 * restarted node is a new incarnation that inherits nothing of its previous self's leases),
 * its heartbeat in the node registry, its queue leases, and whether it can serve (/readyz).
 * It has a Redis connection of its own, apart from the store's, so a store busy with a big
 * commit does not delay a heartbeat.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ClusterKeys, NodeRegistry, QueueLeases, type LiveNode, type QueueLease } from '@junction/cluster';
import type { ClusterNodeInfo } from '@junction/management';
import { openRedis } from './redis-connection.js';

export interface ClusterNodeOptions {
  /** The storage URL: the cluster's records live beside the store's. */
  url: string;
  /** This incarnation's id (newNodeId). */
  nodeId: string;
  /** host:port where the other nodes reach this one's link. */
  linkAddress: string;
  log: Logger;
  /** Replicas that must have a new queue epoch before an acquire counts (WAIT); default 0. */
  minReplicas?: number;
  /** Default 5000 (registry and queue leases). */
  leaseMs?: number;
  /** Default 1000. */
  renewEveryMs?: number;
}

/** Nodes seen and since gone that /api/nodes keeps showing as down, at most. */
const MAX_REMEMBERED = 256;
/** As QueueLeases: past this part of the lease without a heartbeat, the node stops serving. */
const STALE_AT = 0.8;
const SUFFIX_BYTES = 4;

export function newNodeId(name: string): string {
  return `${name}-${randomBytes(SUFFIX_BYTES).toString('hex')}`;
}

export function nodeNameOf(id: string): string {
  return id.slice(0, -(SUFFIX_BYTES * 2 + 1));
}

export class ClusterNode {
  readonly nodeId: string;
  readonly keys = new ClusterKeys();
  readonly registry: NodeRegistry;
  readonly leases: QueueLeases;
  /** Set by the queue ownership: a lost queue must stop being served here at once. */
  onLeaseLost: ((lease: QueueLease, reason: 'revoked' | 'expired') => void) | undefined;
  private readonly seen = new Map<string, LiveNode>();
  private readonly healthTimer: NodeJS.Timeout;
  private reachable = true;
  private lastError: unknown;
  private closed = false;

  private constructor(
    readonly redis: Redis,
    private readonly options: ClusterNodeOptions,
  ) {
    this.nodeId = options.nodeId;
    const { log } = options;
    const leaseMs = options.leaseMs ?? 5000;
    const renewEveryMs = options.renewEveryMs ?? 1000;
    const remember = (err: unknown): void => {
      this.lastError = err;
      log.debug({ err }, 'cluster heartbeat failed');
    };
    this.registry = new NodeRegistry(redis, {
      keys: this.keys,
      nodeId: this.nodeId,
      address: options.linkAddress,
      leaseMs,
      renewEveryMs,
      ownedQueues: () => this.leases.leases().length,
      onError: remember,
    });
    this.leases = new QueueLeases(redis, {
      keys: this.keys,
      nodeId: this.nodeId,
      leaseMs,
      renewEveryMs,
      minReplicas: options.minReplicas ?? 0,
      onLost: (lease, reason) => {
        log.warn({ vhost: lease.vhost, queue: lease.queue, epoch: lease.epoch, reason }, 'queue lease lost');
        this.onLeaseLost?.(lease, reason);
      },
      onError: remember,
    });
    this.healthTimer = setInterval(() => this.checkHealth(), renewEveryMs);
    this.healthTimer.unref();
  }

  /** Connects, registers (rejects when Redis cannot be reached) and starts the heartbeats. */
  static async start(options: ClusterNodeOptions): Promise<ClusterNode> {
    const box: { node?: ClusterNode } = {};
    const { redis, display } = openRedis(
      options.url,
      () => box.node !== undefined && !box.node.closed,
      (err) => {
        if (box.node) box.node.lastError = err;
      },
      { commandTimeout: 3000 },
    );
    const node = (box.node = new ClusterNode(redis, options));
    try {
      await redis.connect();
      await node.registry.start();
    } catch (err) {
      await node.close();
      throw new Error(`cannot join the cluster on ${display}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    node.leases.start();
    options.log.info(
      { node: node.nodeId, link: options.linkAddress, storage: display },
      'joined the cluster',
    );
    return node;
  }

  /** Why this node cannot serve, or null when it can: its heartbeat must be current. */
  unreadyReason(): string | null {
    const age = this.registry.heartbeatAgeMs();
    if (age < this.registry.leaseMs * STALE_AT) return null;
    const why = this.lastError instanceof Error ? `: ${this.lastError.message}` : '';
    return `no heartbeat answered by Redis for ${Math.round(age)} ms (lease ${this.registry.leaseMs} ms)${why}; this node has given up its queue leases`;
  }

  /** Logs the moments this node loses and regains Redis, once each. */
  private checkHealth(): void {
    const reason = this.unreadyReason();
    if (reason !== null && this.reachable) {
      this.reachable = false;
      this.options.log.error(
        { node: this.nodeId, reason },
        'lost contact with Redis: not ready, not confirming',
      );
    } else if (reason === null && !this.reachable) {
      this.reachable = true;
      this.options.log.info({ node: this.nodeId }, 'Redis reachable again: ready');
    }
  }

  /** Every node live in the registry, and those seen since this process started that are gone. */
  async nodes(): Promise<ClusterNodeInfo[]> {
    const live = await this.registry.liveNodes();
    const liveIds = new Set(live.map((n) => n.id));
    for (const n of live) {
      this.seen.delete(n.id); // re-inserted: the map stays in order of last sighting
      this.seen.set(n.id, n);
    }
    while (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
    return [...this.seen.values()]
      .map((n) => {
        const up = liveIds.has(n.id);
        return {
          id: n.id,
          name: nodeNameOf(n.id),
          state: up ? ('running' as const) : ('down' as const),
          address: n.address,
          queues: up ? n.queues : 0,
          leaseLeftMs: up ? n.leaseLeftMs : 0,
          self: n.id === this.nodeId,
        };
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Leaves the registry at once (others see this node gone now, not after its lease). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    this.leases.stop();
    try {
      if (this.redis.status === 'ready') {
        await Promise.all(this.leases.leases().map((l) => this.leases.release(l.vhost, l.queue)));
        await this.registry.stop({ leave: true });
      } else await this.registry.stop();
    } catch (err) {
      this.options.log.warn({ err }, 'leaving the cluster failed; the records lapse with their leases');
    }
    this.redis.disconnect();
  }
}
