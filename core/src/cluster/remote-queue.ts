/**
 * A queue owned by another node, as this node's vhost holds it: the broker puts a
 * RemoteQueue in the vhost in place of the local queue (`vhost.replaceQueue`), routes into it
 * and consumes from it like any queue, and tells it who owns the queue now (`setOwner`, a
 * NodePeer over the channel to that node, or null while the owner is unknown or changing).
 * It is no registered queue type (`type` is the owner's, for management).
 *
 * - Publish: `enqueue()` forwards the message and returns the owner's commit as `persisted`,
 *   so a publisher's confirm waits for every destination queue, local and remote. While there
 *   is no owner (no channel, or the owner answered that the queue is not served there yet)
 *   publishes are held, in order, and sent once an owner is set; a publish held longer than
 *   `holdMs` (10 s) is nacked with the reason. A publish in flight when the channel went down
 *   has an unknown outcome: it is held and sent again (the owner may then have it twice).
 * - Consume: a local consumer becomes a proxy consumer on the owner with its prefetch as
 *   credit (queue-export.ts); deliveries wait here, at most that credit, until the local
 *   consumer can take them. On an owner change consumers are re-attached to the new owner
 *   without a cancel, as RabbitMQ quorum queues do on a leader change; what they held unacked
 *   is requeued by the old owner (it comes again flagged redelivered) and their settles of it
 *   go nowhere. The owner cancels them (basic.cancel to the client) only when the queue is
 *   deleted or refuses them (an exclusive consumer in the way).
 * - Stats come from the owner, cached, refreshed at most every `statsMaxAgeMs`.
 * Bounds: `maxPending` publishes held or in flight per remote queue (beyond it the publish is
 * refused: a nack), MAX_WIRE_BODY_BYTES per message, the owner's maxCredit per consumer.
 */
import type { Logger } from 'pino';
import { BrokerError, preconditionFailed } from '../errors.js';
import { FLOW_HIGH, FLOW_LOW, type FlowHolder } from '../flow.js';
import type { Message } from '../message.js';
import type { Consumer } from '../queues/consumer.js';
import type { QueuedMessage } from '../queues/queued-message.js';
import type {
  Admission,
  ConsumerView,
  EnqueueOutcome,
  Queue,
  QueueOptions,
  QueueStats,
  QueueType,
  StoredEntries,
} from '../queues/queue-type.js';
import type { SettleOutcome } from '../session.js';
import { Deque } from '../queues/deque.js';
import {
  BATCH_BODY_BYTES,
  FrameTooLarge,
  MAX_BATCH_PUBLISHES,
  MAX_WIRE_BODY_BYTES,
  fromWire,
  toWire,
  type Frame,
  type PublishResult,
  type Reply,
  type WirePublish,
} from './frames.js';
import type { AttachmentHandler, NodePeer } from './node-peer.js';

export interface RemoteQueueLimits {
  /** How long a publish is held while the queue has no reachable owner before it is nacked. */
  readonly holdMs: number;
  /** Publishes held or in flight at once; beyond it a publish is refused (nack). */
  readonly maxPending: number;
  /** Stats are asked of the owner at most this often. */
  readonly statsMaxAgeMs: number;
  /** After the owner answered "not served here": ask again this much later. */
  readonly retryMs: number;
}

export const DEFAULT_REMOTE_QUEUE_LIMITS: RemoteQueueLimits = {
  holdMs: 10_000,
  maxPending: 10_000,
  statsMaxAgeMs: 1000,
  retryMs: 100,
};

export interface RemoteQueueInit {
  readonly vhost: string;
  readonly name: string;
  readonly options: QueueOptions;
  /** The owner's queue type (management shows it). */
  readonly type: QueueType;
  readonly log: Logger;
  readonly limits?: Partial<RemoteQueueLimits>;
}

/** A delivery from the owner: settled back to that owner over the channel it came by. */
interface RemoteEntry extends QueuedMessage {
  readonly peer: NodePeer;
  /** Proxy id (0: a basic.get) and delivery id at the owner. */
  readonly proxy: number;
  readonly delivery: number;
}

/** A publish waiting for an owner, handed to the queue that takes this one's place. */
export interface HeldPublish {
  readonly msg: Message;
  readonly ttl: number | undefined;
  resolve(): void;
  reject(err: Error): void;
}

interface Pending {
  readonly seq: number;
  readonly publish: WirePublish;
  resolve(): void;
  reject(err: Error): void;
  /**
   * When it first had to wait for an owner (0: never yet). The bound counts from there, not
   * from its last retry, so a publish an owner keeps answering "not served here" ends too.
   */
  heldSince: number;
}

const EMPTY_STATS: QueueStats = {
  ready: 0,
  unacked: 0,
  readyBytes: 0,
  consumers: 0,
  singleActiveConsumer: undefined,
  published: 0,
  delivered: 0,
  acked: 0,
  redelivered: 0,
  deadLettered: 0,
  dropped: 0,
};

const MALFORMED: PublishResult = { ok: false, why: 'failed', text: 'malformed answer from the owner' };

/** A queue is remote (owned by another node). */
export function isRemoteQueue(q: Queue): q is RemoteQueue {
  return q instanceof RemoteQueue;
}

/** One local consumer's proxy at the current owner. */
class Attachment implements AttachmentHandler {
  peer: NodePeer | null = null;
  id = 0;
  /** Deliveries the local consumer could not take yet (at most its credit at the owner). */
  readonly buffer = new Deque<RemoteEntry>();
  private seq = 0;

  constructor(
    private readonly rq: RemoteQueue,
    readonly consumer: Consumer,
  ) {}

  delivered(f: Extract<Frame, { t: 'dlv' }>): void {
    const peer = this.peer!;
    const msg = fromWire(f.m);
    this.buffer.push({
      seq: ++this.seq,
      messageId: f.d,
      msg,
      priority: 0,
      expiresAt: f.e,
      deliveryCount: f.n,
      size: msg.body.length,
      persisted: false,
      peer,
      proxy: this.id,
      delivery: f.d,
    });
    this.rq.pump(this);
  }

  cancelled(f: Extract<Frame, { t: 'cxl' }>): void {
    this.rq.ownerCancelled(this, f);
  }

  /** Leaves the owner it is attached to: buffered deliveries go back there. */
  leave(tellOwner: boolean): void {
    const peer = this.peer;
    if (!peer) return;
    this.peer = null;
    peer.detach(this.id);
    for (let e = this.buffer.shift(); e; e = this.buffer.shift()) peer.settle(e.proxy, e.delivery, 'requeue');
    if (tellOwner && peer.open) {
      peer.flushSettles();
      const id = this.id;
      peer.request({ t: 'unsub', id }).then(
        (r) => this.rq.logFailure(r, 'cancel of a proxy consumer'),
        (err: unknown) => this.rq.log.debug({ err }, 'proxy consumer cancel not answered (channel down)'),
      );
    }
  }
}

export class RemoteQueue implements Queue {
  readonly kind = 'queue' as const;
  readonly name: string;
  readonly type: QueueType;
  readonly options: QueueOptions;
  readonly log: Logger;
  deleted = false;
  flowHolders: Set<FlowHolder> | undefined;
  readonly limits: RemoteQueueLimits;
  private readonly vhost: string;
  private owner: NodePeer | null = null;
  /** Channels whose down event this queue listens to already. */
  private readonly watched = new WeakSet<NodePeer>();
  private readonly inFlight = new Set<Pending>();
  /** Publishes of this turn, sent as one batch at its end. */
  private outbox: Pending[] = [];
  /** Waiting for an owner, in publish order. */
  private held: Pending[] = [];
  private seq = 0;
  private holdTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private ownerCongested = false;
  private readonly attachments = new Map<Consumer, Attachment>();
  private cached: QueueStats = EMPTY_STATS;
  private statsAt = 0;
  private statsLoading = false;
  private lastRefusalLog = 0;

  /** The local consumers (the owner's count, all nodes, is in stats()). */
  readonly consumers: ConsumerView;

  constructor(init: RemoteQueueInit) {
    this.vhost = init.vhost;
    this.name = init.name;
    this.type = init.type;
    this.options = init.options;
    this.log = init.log;
    this.limits = { ...DEFAULT_REMOTE_QUEUE_LIMITS, ...init.limits };
    const attachments = this.attachments;
    this.consumers = {
      get size() {
        return attachments.size;
      },
      all: () => [...attachments.keys()],
      active: undefined,
    };
  }

  get stored(): boolean {
    return this.options.durable && this.options.exclusiveOwner === null;
  }

  /** The node serving the queue now (null: unknown or changing: publishes are held). */
  get ownerNode(): string | null {
    return this.owner?.node ?? null;
  }

  /** Publishes waiting for an owner. */
  get heldCount(): number {
    return this.held.length;
  }

  /**
   * Who owns the queue now: the peer over the channel to it, or null while nobody is known
   * (publishes are held, consumers wait). Held publishes go out at once, in order; consumers
   * re-attach to the new owner.
   */
  setOwner(peer: NodePeer | null): void {
    const next = peer?.open ? peer : null;
    if (next === this.owner) {
      if (next) this.flush();
      return;
    }
    const old = this.owner;
    this.owner = next;
    for (const a of this.attachments.values()) a.leave(old !== null);
    if (!next) return;
    if (!this.watched.has(next)) {
      this.watched.add(next);
      next.onDown(() => {
        if (this.owner === next) this.ownerLost();
      });
    }
    this.statsAt = 0;
    for (const a of this.attachments.values()) this.attach(a);
    this.flush();
  }

  /** The channel to the owner went down: hold what was in flight, wait for setOwner. */
  private ownerLost(): void {
    this.owner = null;
    for (const a of this.attachments.values()) a.leave(false);
    for (const p of [...this.inFlight]) this.rehold(p);
  }

  // ---- publish --------------------------------------------------------------------------

  enqueue(msg: Message, a: Admission): EnqueueOutcome {
    if (msg.body.length > MAX_WIRE_BODY_BYTES) {
      this.refusalLog(`a message of ${msg.body.length} bytes is over the node channel's limit`);
      return 'rejected';
    }
    if (this.inFlight.size + this.held.length >= this.limits.maxPending) {
      this.refusalLog(`${this.limits.maxPending} publishes already wait for the owner`);
      return 'rejected';
    }
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const persisted = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const p: Pending = {
      seq: ++this.seq,
      publish: { m: toWire(msg), ttl: a.ttl ?? null },
      resolve,
      reject,
      heldSince: 0,
    };
    if (this.owner && this.held.length === 0) this.forward(p);
    else this.hold(p);
    return { persisted };
  }

  enqueued(): void {}

  get congested(): boolean {
    return this.ownerCongested || this.inFlight.size + this.held.length >= FLOW_HIGH;
  }

  private releaseFlow(): void {
    if (!this.flowHolders?.size || this.ownerCongested) return;
    if (this.inFlight.size + this.held.length > FLOW_LOW) return;
    for (const h of this.flowHolders) h.release(this);
    this.flowHolders.clear();
  }

  /** Sends `p` to the owner with the others of this turn (one `enq` batch per turn). */
  private forward(p: Pending): void {
    this.inFlight.add(p);
    this.outbox.push(p);
    if (this.outbox.length > 1) return;
    queueMicrotask(() => this.sendOutbox());
  }

  private sendOutbox(): void {
    const out = this.outbox;
    this.outbox = [];
    const peer = this.owner;
    if (!peer) {
      for (const p of out) this.rehold(p);
      return;
    }
    let start = 0;
    while (start < out.length) {
      let end = start;
      let bytes = 0;
      while (
        end < out.length &&
        end - start < MAX_BATCH_PUBLISHES &&
        (end === start || bytes < BATCH_BODY_BYTES)
      )
        bytes += out[end++]!.publish.m.b.length;
      this.sendBatch(peer, out.slice(start, end));
      start = end;
    }
  }

  private sendBatch(peer: NodePeer, batch: Pending[]): void {
    const frame: Frame = { t: 'enq', v: this.vhost, q: this.name, ps: batch.map((p) => p.publish) };
    peer.request(frame).then(
      (r) => {
        const each = r.ok && 'each' in r && r.each.length === batch.length ? r.each : undefined;
        for (let i = 0; i < batch.length; i++)
          this.answered(batch[i]!, each ? each[i]! : r.ok ? MALFORMED : r);
      },
      (err: unknown) => {
        if (err instanceof FrameTooLarge) {
          for (const p of batch) this.answered(p, { ok: false, why: 'failed', text: err.message });
          return;
        }
        // The channel went down (or the request timed out) before the answer: the outcome is
        // unknown, so they are sent again.
        this.log.debug({ err, queue: this.name }, 'forwarded publishes not answered');
        if (this.owner === peer && !peer.open) this.ownerLost();
        for (const p of batch) if (this.inFlight.has(p)) this.rehold(p);
        this.retrySoon();
      },
    );
  }

  private answered(p: Pending, r: PublishResult): void {
    if (!this.inFlight.delete(p)) return;
    if (r.ok) {
      this.ownerCongested = r.congested === true;
      p.resolve();
      this.releaseFlow();
      return;
    }
    if (r.why === 'not-owner') {
      // The owner is changing (or still loading the queue): wait for it, within the bound.
      this.rehold(p);
      this.retrySoon();
      return;
    }
    p.reject(new Error(`queue '${this.name}' on node ${this.ownerNode ?? '?'}: ${r.text}`));
    this.releaseFlow();
  }

  private hold(p: Pending): void {
    if (p.heldSince === 0) p.heldSince = Date.now();
    this.held.push(p);
    this.armHoldTimer();
  }

  /** Back to waiting, in its publish order among the held ones. */
  private rehold(p: Pending): void {
    this.inFlight.delete(p);
    if (p.heldSince === 0) p.heldSince = Date.now();
    let i = this.held.length;
    while (i > 0 && this.held[i - 1]!.seq > p.seq) i--;
    this.held.splice(i, 0, p);
    this.armHoldTimer();
  }

  /** Sends what is held to the owner, in order. */
  private flush(): void {
    const owner = this.owner;
    if (!owner || this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    for (const p of held) this.forward(p);
  }

  private retrySoon(): void {
    if (this.retryTimer || this.deleted) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.deleted) return;
      this.flush();
      for (const a of this.attachments.values()) if (!a.peer) this.attach(a);
    }, this.limits.retryMs);
    this.retryTimer.unref();
  }

  private armHoldTimer(): void {
    if (this.holdTimer || this.held.length === 0) return;
    const due = this.held.reduce((m, p) => Math.min(m, p.heldSince), Infinity) + this.limits.holdMs;
    this.holdTimer = setTimeout(
      () => {
        this.holdTimer = undefined;
        this.expireHeld();
      },
      Math.max(0, due - Date.now()),
    );
    this.holdTimer.unref();
  }

  /** Nacks the publishes held past the bound. */
  private expireHeld(): void {
    const now = Date.now();
    const keep: Pending[] = [];
    let expired = 0;
    for (const p of this.held) {
      if (now - p.heldSince < this.limits.holdMs) keep.push(p);
      else {
        expired++;
        p.reject(
          new Error(
            `queue '${this.name}' in vhost '${this.vhost}' had no reachable owner node for ${this.limits.holdMs} ms`,
          ),
        );
      }
    }
    this.held = keep;
    if (expired > 0)
      this.log.warn(
        { queue: this.name, vhost: this.vhost, expired, holdMs: this.limits.holdMs },
        'held publishes nacked: the queue had no reachable owner node',
      );
    this.armHoldTimer();
    this.releaseFlow();
  }

  private refusalLog(why: string): void {
    const now = Date.now();
    if (now - this.lastRefusalLog < 1000) return;
    this.lastRefusalLog = now;
    this.log.warn({ queue: this.name, vhost: this.vhost }, `publish to a remote queue refused: ${why}`);
  }

  // ---- consume --------------------------------------------------------------------------

  addConsumer(c: Consumer): void {
    if (c.spec.filter)
      throw preconditionFailed(
        `selectors are not supported on queue '${this.name}' (it is owned by another node)`,
      );
    const a = new Attachment(this, c);
    this.attachments.set(c, a);
    if (this.owner) this.attach(a);
  }

  private attach(a: Attachment): void {
    const peer = this.owner;
    if (!peer || this.attachments.get(a.consumer) !== a) return;
    a.peer = peer;
    a.id = peer.attach(a);
    const s = a.consumer.spec;
    const frame: Frame = {
      t: 'sub',
      v: this.vhost,
      q: this.name,
      id: a.id,
      tag: s.tag,
      prio: s.priority,
      excl: s.exclusive,
      credit: s.noAck ? 0 : s.prefetch,
      args: s.arguments as Extract<Frame, { t: 'sub' }>['args'],
    };
    const id = a.id;
    peer.request(frame).then(
      (r) => {
        if (r.ok || a.peer !== peer || a.id !== id) return;
        if (r.why === 'not-owner') {
          a.leave(false);
          this.retrySoon();
        } else if (r.why === 'refused') {
          this.cancelLocal(a, new BrokerError(r.code, r.text));
        } else this.logFailure(r, 'proxy consumer');
      },
      (err: unknown) =>
        this.log.debug({ err, queue: this.name }, 'proxy consumer not answered (channel down)'),
    );
  }

  /** The owner cancelled a proxy: the queue was deleted (the client hears of it) or moved (re-attach). */
  ownerCancelled(a: Attachment, f: Extract<Frame, { t: 'cxl' }>): void {
    if (this.attachments.get(a.consumer) !== a) return;
    a.leave(false);
    if (f.moved) this.retrySoon();
    else this.cancelLocal(a, new BrokerError(f.code, f.text));
  }

  private cancelLocal(a: Attachment, reason: BrokerError): void {
    if (this.attachments.get(a.consumer) !== a) return;
    a.leave(true);
    this.attachments.delete(a.consumer);
    a.consumer.owner.consumerCancelled(a.consumer, reason);
  }

  removeConsumer(c: Consumer): void {
    const a = this.attachments.get(c);
    if (!a) return;
    this.attachments.delete(c);
    a.leave(true);
  }

  /** Hands buffered deliveries to the local consumer while it can take them. */
  pump(a: Attachment): void {
    const c = a.consumer;
    while (a.buffer.length > 0 && this.attachments.get(c) === a && c.canTake()) {
      const e = a.buffer.shift()!;
      c.owner.deliver(c, this, e);
    }
  }

  dispatch(): void {
    for (const a of this.attachments.values()) this.pump(a);
  }

  async get(noAck: boolean): Promise<QueuedMessage | undefined> {
    const peer = this.owner;
    if (!peer) return undefined;
    peer.flushSettles();
    const r = await peer.request({ t: 'get', v: this.vhost, q: this.name, noAck });
    if (!r.ok) {
      if (r.why === 'refused') throw new BrokerError(r.code, r.text);
      return undefined;
    }
    if (!('got' in r) || r.got === null) return undefined;
    const g = r.got;
    const msg = fromWire(g.m);
    this.cached = { ...this.cached, ready: g.left };
    const e: RemoteEntry = {
      seq: 0,
      messageId: g.d,
      msg,
      priority: 0,
      expiresAt: g.e,
      deliveryCount: g.n,
      size: msg.body.length,
      persisted: false,
      peer,
      proxy: 0,
      delivery: g.d,
    };
    return e;
  }

  settle(entry: QueuedMessage, outcome: SettleOutcome): void {
    const e = entry as RemoteEntry;
    // From an owner since gone: it requeued the message when the channel went down.
    if (e.peer.open) e.peer.settle(e.proxy, e.delivery, outcome);
  }

  // ---- the rest of Queue --------------------------------------------------------------

  async open(): Promise<void> {}

  async recover(_stored: StoredEntries): Promise<number> {
    return 0;
  }

  /** x-expires and policies are the owner's. */
  touch(): void {}

  applyPolicy(): void {}

  /** Asks the owner to purge; returns the ready count last known (the owner's answer refreshes it). */
  purge(): number {
    const n = this.cached.ready;
    const peer = this.owner;
    if (peer)
      peer.request({ t: 'purge', v: this.vhost, q: this.name }).then(
        (r) => {
          this.statsAt = 0;
          this.logFailure(r, 'purge');
        },
        (err: unknown) => this.log.warn({ err, queue: this.name }, 'purge of a remote queue not answered'),
      );
    return n;
  }

  /**
   * The publishes held for want of an owner, taken out (this node became the owner:
   * vhost.replaceQueue publishes them into the local queue and settles them with its commit).
   */
  takeHeld(): HeldPublish[] {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const held = this.held.splice(0);
    this.releaseFlow();
    return held.map((p) => ({
      msg: fromWire(p.publish.m),
      ttl: p.publish.ttl ?? undefined,
      resolve: p.resolve,
      reject: p.reject,
    }));
  }

  /** Gone from this node's vhost: consumers leave the owner, held publishes are nacked. */
  destroy(): number {
    this.deleted = true;
    clearTimeout(this.holdTimer);
    clearTimeout(this.retryTimer);
    for (const a of this.attachments.values()) a.leave(true);
    this.attachments.clear();
    for (const p of this.held.splice(0))
      p.reject(new Error(`queue '${this.name}' in vhost '${this.vhost}' is gone from this node`));
    this.releaseFlow();
    return 0;
  }

  /** The owner keeps the queue's stored data. */
  async dropStored(): Promise<void> {}

  get messageCount(): number {
    return this.stats().ready;
  }

  get consumerCount(): number {
    return this.stats().consumers;
  }

  get unacked(): number {
    return this.stats().unacked;
  }

  /** The owner's stats, as last fetched (a fetch starts when they are older than statsMaxAgeMs). */
  stats(): QueueStats {
    const peer = this.owner;
    if (peer && !this.statsLoading && Date.now() - this.statsAt >= this.limits.statsMaxAgeMs) {
      this.statsLoading = true;
      peer.request({ t: 'stats', v: this.vhost, q: this.name }).then(
        (r) => {
          this.statsLoading = false;
          this.statsAt = Date.now();
          if (r.ok && 'stats' in r) this.cached = r.stats;
        },
        (err: unknown) => {
          this.statsLoading = false;
          this.log.debug({ err, queue: this.name }, 'stats of a remote queue not answered');
        },
      );
    }
    return this.cached;
  }

  logFailure(r: Reply, what: string): void {
    if (!r.ok) this.log.warn({ queue: this.name, why: r.why, text: r.text }, `${what} refused by the owner`);
  }
}
