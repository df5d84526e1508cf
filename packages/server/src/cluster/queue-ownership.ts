/**
 * Which node serves each stored queue (the core's QueueHosting): the node holding the queue's
 * lease (QueueLeases, with its fencing epoch). A declare places the queue (placeQueue: here
 * unless this node would own more than its share, else the live node with the fewest); every
 * second, and whenever definitions arrive, each node looks for stored queues with no owner
 * (new ones placed elsewhere, or their owner's lease lapsed: dead, paused, cut off) and takes
 * those placement gives it, loading them from the store. A queue another node owns is a
 * RemoteQueue here, pointed at its owner's node link (publishes forwarded, consumers proxied);
 * each pass re-points it to the owner the lease records name. A lost lease makes the queue a
 * RemoteQueue at once (its consumers re-attach to the next owner). Every node computes
 * placement from the same registry, and the lease settles any race.
 */
import type { Logger } from 'pino';
import { placeQueue, queueHashTag, type NodeLoad, type QueueLease } from '@junction/cluster';
import { RemoteQueue, isRemoteQueue } from '@junction/core/internal';
import {
  type Broker,
  type Queue,
  type QueueContext,
  type QueueHosting,
  type QueueOptions,
  type QueueType,
  type Store,
} from '@junction/core';
import type { ClusterNode } from './cluster-node.js';
import type { MessageIdBlocks } from './message-id-blocks.js';
import type { NodePeers } from './node-peers.js';

export class QueueOwnership implements QueueHosting {
  private broker: Broker | undefined;
  /** Owners seen by the last claim pass, by queue hash tag (management, refusal texts). */
  private readonly owners = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private passing: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly node: ClusterNode,
    private readonly ids: MessageIdBlocks,
    /** The store's writes to a queue run behind its fencing epoch from the moment it is taken. */
    private readonly store: Store,
    private readonly log: Logger,
    private readonly peers: NodePeers,
  ) {
    node.onLeaseLost = (lease) => this.lost(lease);
    peers.onChange = () => this.kick();
  }

  /** Starts the claim passes over `broker`'s stored queues. */
  start(broker: Broker): void {
    this.broker = broker;
    this.timer = setInterval(() => this.kick(), 1000);
    this.timer.unref();
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** The node owning a queue: this one when it holds the lease, else the last one seen. */
  ownerOf(vhost: string, queue: string): string | undefined {
    if (this.node.leases.epochOf(vhost, queue) !== undefined) return this.node.nodeId;
    return this.owners.get(queueHashTag(vhost, queue));
  }

  // ---- QueueHosting -----------------------------------------------------------------------

  async place(vhost: string, queue: string): Promise<void> {
    const loads = await this.loads();
    if (placeQueue(this.node.nodeId, loads) === this.node.nodeId) await this.take(vhost, queue);
  }

  standIn(ctx: QueueContext, name: string, options: QueueOptions, type: QueueType): Queue | undefined {
    const vhost = ctx.vhost;
    if (this.node.leases.epochOf(vhost, name) !== undefined) return undefined;
    const q = new RemoteQueue({ vhost, name, options, type, log: this.log });
    const owner = this.ownerOf(vhost, name);
    if (owner !== undefined) q.setOwner(this.peers.peer(owner) ?? null);
    return q;
  }

  removed(vhost: string, queue: string): void {
    this.owners.delete(queueHashTag(vhost, queue));
    this.store.setQueueEpoch?.({ vhost, queue }, undefined);
    if (this.node.leases.epochOf(vhost, queue) === undefined) return;
    this.node.leases.release(vhost, queue).then(
      () => undefined,
      (err: unknown) => this.log.warn({ err, vhost, queue }, 'releasing a deleted queue failed; it lapses'),
    );
  }

  // ---- claiming -----------------------------------------------------------------------------

  /** Runs a claim pass now, or once more after the one in flight. */
  kick(): void {
    if (this.stopped || !this.broker) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    this.passing = this.pass()
      .catch((err: unknown) => this.log.warn({ err }, 'queue claim pass failed'))
      .finally(() => {
        this.passing = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves when the pass in flight (if any) is done. */
  async settled(): Promise<void> {
    while (this.passing) await this.passing;
  }

  private async pass(): Promise<void> {
    const broker = this.broker!;
    // Nothing to claim while this node is cut off: its heartbeat is stale, others take over.
    if (this.node.unreadyReason() !== null) return;
    const live = await this.node.registry.liveNodes();
    this.peers.track(live);
    const remote: [string, RemoteQueue][] = [];
    for (const v of broker.vhosts.values())
      for (const q of v.queues.values()) if (isRemoteQueue(q)) remote.push([v.name, q]);
    if (remote.length === 0) return;
    const records = await Promise.all(remote.map(([v, q]) => this.node.leases.read(v, q.name)));
    const loads = this.loadsOf(live);
    for (let i = 0; i < remote.length; i++) {
      const [vhost, rq] = remote[i]!;
      const queue = rq.name;
      const owner = records[i]!.owner;
      if (owner !== undefined && owner !== this.node.nodeId) {
        this.owners.set(queueHashTag(vhost, queue), owner);
        rq.setOwner(this.peers.peer(owner) ?? null);
        continue;
      }
      rq.setOwner(null);
      this.owners.delete(queueHashTag(vhost, queue));
      if (placeQueue('', loads) !== this.node.nodeId) continue;
      if (await this.take(vhost, queue)) {
        loads.find((l) => l.id === this.node.nodeId)!.queues++;
        await this.load(vhost, queue);
      }
    }
  }

  /** Live nodes and their queues; this node's own count is what it holds now. */
  private async loads(): Promise<NodeLoad[]> {
    return this.loadsOf(await this.node.registry.liveNodes());
  }

  private loadsOf(live: readonly { id: string; queues: number }[]): NodeLoad[] {
    const loads = live.map((n) => ({ id: n.id, queues: n.queues }));
    const self = loads.find((l) => l.id === this.node.nodeId);
    if (self) self.queues = this.node.leases.leases().length;
    else loads.push({ id: this.node.nodeId, queues: this.node.leases.leases().length });
    return loads;
  }

  /**
   * Takes the lease; then a fresh id block, so this node's ids for the queue are above every
   * id it holds. False when another node has it.
   */
  private async take(vhost: string, queue: string): Promise<boolean> {
    const r = await this.node.leases.acquire(vhost, queue);
    if (!r.owned) {
      if (r.owner !== undefined) this.owners.set(queueHashTag(vhost, queue), r.owner);
      return false;
    }
    // A lost lease leaves its epoch set: any write still on its way after the loss is fenced.
    this.store.setQueueEpoch?.({ vhost, queue }, r.epoch);
    await this.ids.jump();
    this.log.info({ vhost, queue, epoch: r.epoch }, 'queue owned here');
    return true;
  }

  /** Replaces the stand-in by the queue itself, loaded from the store. */
  private async load(vhost: string, queue: string): Promise<void> {
    const started = performance.now();
    const q = await this.broker?.vhosts.get(vhost)?.rehost(queue);
    if (q)
      this.log.info(
        { vhost, queue, messages: q.messageCount, loadMs: Math.round(performance.now() - started) },
        'queue loaded from the store',
      );
  }

  private lost(lease: QueueLease): void {
    const v = this.broker?.vhosts.get(lease.vhost);
    if (!v) return;
    // The queue becomes a RemoteQueue now: publishes are held and consumers wait for the next owner.
    v.rehost(lease.queue).then(
      () => this.kick(),
      (err: unknown) => this.log.error({ err, queue: lease.queue }, 'dropping a lost queue failed'),
    );
  }
}
