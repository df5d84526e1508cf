/**
 * The node registry: each node keeps `node:<id>` (its address and how many queues it owns)
 * alive with a PX lease it renews every second; a node whose lease lapses (dead, paused, cut
 * off from Redis) drops out of the live list on the Redis server's clock, whatever the
 * nodes' clocks say.
 */
import { performance } from 'node:perf_hooks';
import { checkNodeId, type ClusterKeys } from './keys.js';
import { clusterScripts, type RedisConnection, type ScriptCalls } from './scripts.js';
import { Ticker } from './ticker.js';

export interface NodeRegistryOptions {
  keys: ClusterKeys;
  nodeId: string;
  /** Where the other nodes reach this one (the node link, later). */
  address: string;
  /** Default 5000. */
  leaseMs?: number;
  /** Default 1000. */
  renewEveryMs?: number;
  /** How many queues this node owns, reported with each heartbeat (placement reads it). */
  ownedQueues?: () => number;
  /** A heartbeat that failed (Redis unreachable, ...): log it. */
  onError: (err: unknown) => void;
}

export interface LiveNode {
  id: string;
  address: string;
  queues: number;
  /** What is left of its lease, by the Redis server's clock. */
  leaseLeftMs: number;
}

export class NodeRegistry {
  readonly nodeId: string;
  private readonly scripts: ScriptCalls;
  private readonly ticker: Ticker;
  readonly leaseMs: number;
  /** performance.now() when the last heartbeat that Redis answered was sent; undefined before one. */
  private renewedAt: number | undefined;

  constructor(
    redis: RedisConnection,
    private readonly options: NodeRegistryOptions,
  ) {
    this.nodeId = checkNodeId(options.nodeId);
    this.scripts = clusterScripts(redis);
    this.leaseMs = options.leaseMs ?? 5000;
    this.ticker = new Ticker(options.renewEveryMs ?? 1000, () => this.heartbeat(), options.onError);
  }

  /** Registers (rejects when Redis cannot be reached), then renews in the background. */
  async start(): Promise<void> {
    await this.heartbeat();
    this.ticker.start();
  }

  async heartbeat(): Promise<void> {
    const { keys, address, ownedQueues } = this.options;
    const sentAt = performance.now();
    await this.scripts.junctionClusterHeartbeat(
      keys.node(this.nodeId),
      keys.nodes,
      this.nodeId,
      this.leaseMs,
      address,
      ownedQueues?.() ?? 0,
    );
    this.renewedAt = Math.max(this.renewedAt ?? sentAt, sentAt);
  }

  /**
   * How long ago (this node's monotonic clock) the last answered heartbeat was sent: past the
   * lease, Redis has dropped this node from the live list. Infinity before the first one.
   */
  heartbeatAgeMs(): number {
    return this.renewedAt === undefined ? Infinity : performance.now() - this.renewedAt;
  }

  /** By id. */
  async liveNodes(): Promise<LiveNode[]> {
    const { keys } = this.options;
    const rows = (await this.scripts.junctionClusterLiveNodes(keys.nodes, keys.nodeKeyPrefix)) as [
      string,
      string,
      string,
      number,
    ][];
    return rows
      .map(([id, address, queues, ttl]) => ({ id, address, queues: Number(queues), leaseLeftMs: ttl }))
      .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  }

  /** Stops renewing; with `leave`, removes the record at once instead of letting it lapse. */
  async stop(opts: { leave?: boolean } = {}): Promise<void> {
    this.ticker.stop();
    if (opts.leave)
      await this.scripts.junctionClusterLeave(
        this.options.keys.node(this.nodeId),
        this.options.keys.nodes,
        this.nodeId,
      );
  }
}
