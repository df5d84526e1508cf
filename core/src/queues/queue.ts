/**
 * A classic queue: ready messages in strict priority order, consumers with credit, TTL,
 * length limits, dead-lettering and auto-delete/expiry. It dispatches synchronously when
 * something changes (a publish, an ack, a new consumer), so a message that can be
 * delivered at once never waits for a timer.
 */
import type { DeathReason } from '../events.js';
import type { Message } from '../message.js';
import type { SettleOutcome } from '../session.js';
import { FLOW_HIGH, FLOW_LOW, type FlowHolder } from '../flow.js';
import type { Consumer } from './consumer.js';
import { ConsumerSet } from './consumer-set.js';
import { Deque } from './deque.js';
import { PriorityBuffer } from './priority-buffer.js';
import type { QueuedMessage } from './queued-message.js';
import { queueSettings, type PolicyDefinition, type QueueSettings } from './queue-settings.js';
import type {
  Admission,
  EnqueueOutcome,
  Queue,
  QueueContext,
  QueueOptions,
  QueueStats,
  QueueType,
  StoredEntries,
} from './queue-type.js';
import type { QueueRecords } from '../storage/queue-records.js';
import { MAX_TIMER_MS } from '../timers.js';

/** Selector dispatch: filter calls per dispatch before the scan yields to the event loop. */
const FILTER_TESTS_PER_TURN = 2000;

/** Counters since the queue was made (QueueStats without the depths). */
type Counters = {
  -readonly [K in 'published' | 'delivered' | 'acked' | 'redelivered' | 'deadLettered' | 'dropped']: number;
};

/** Every counter at 0: a new queue's, or a stand-in's that counts nothing. */
export function noCounts(): Counters {
  return { published: 0, delivered: 0, acked: 0, redelivered: 0, deadLettered: 0, dropped: 0 };
}

/** enqueue() took the message and wrote nothing of its own (its store copy, if any, is staged). */
const TAKEN: EnqueueOutcome = { persisted: null };

/** A stored entry read back into a queue's memory (paging). */
export interface PagedEntry {
  readonly messageId: number;
  readonly msg: Message;
  readonly expiresAt: number;
  readonly deliveryCount: number;
  readonly size: number;
}

/**
 * Deep-queue paging (DESIGN-NOTES.md, "Deep durable queues page to the store"): a durable queue on a durable store keeps only
 * the head of its backlog in memory; persistent messages beyond the window stay in the
 * store only and are read back in order as the head drains.
 */
export interface QueuePager {
  /** The in-memory window: ready messages and their body bytes. */
  readonly maxMessages: number;
  readonly maxBytes: number;
  /** Up to `limit` stored entries of the queue after `afterId`, ascending, once the queue's writes in flight settled. */
  read(queue: ClassicQueue, afterId: number, limit: number): Promise<PagedEntry[]>;
  /** Purge: removes the queue's stored entries with afterId < messageId <= maxId. */
  drop(queue: ClassicQueue, afterId: number, maxId: number): void;
}

/**
 * The part of the backlog behind the in-memory head, in order: runs of persistent
 * messages left in the store ('paged': the queue's stored entries in (after, maxId]) and
 * runs of transient messages that arrived meanwhile ('mem': they cannot be stored, so they
 * wait in memory behind the run before them, keeping FIFO order).
 */
type Segment =
  | { kind: 'paged'; after: number; maxId: number; count: number; bytes: number }
  | { kind: 'mem'; entries: QueuedMessage[]; bytes: number };

/** Most entries one page-in read asks for. */
const PAGE_READ_MAX = 4096;

export class ClassicQueue implements Queue {
  readonly kind = 'queue' as const;
  ready: PriorityBuffer;
  /** Body bytes of the in-memory ready messages. */
  private memBytes = 0;
  /** Set by the vhost when this queue may page (durable queue, durable store, no priorities). */
  pager: QueuePager | null = null;
  /** The store's handle for this queue's entries; null when nothing of it is stored. */
  records: QueueRecords | null = null;
  private readonly tail = new Deque<Segment>();
  private tailCount = 0;
  private tailBytes = 0;
  private tailMemCount = 0;
  /** A page-in read in flight, and the purge generation it belongs to. */
  private loading: Promise<void> | null = null;
  private loadGen = 0;
  /** Store writes in flight while the queue has a paged tail: a page-in waits for them (created on use). */
  private pendingWrites: Set<Promise<void>> | undefined;
  /** Delivered, not yet settled. */
  unacked = 0;
  readonly consumers: ConsumerSet;
  private readonly counters: Counters = noCounts();
  deleted = false;
  /** Publishers held back by this queue's backlog (flow.ts); created by the first. */
  flowHolders: Set<FlowHolder> | undefined;

  private nextSeq = 1;
  private dispatching = false;
  private redispatch = false;
  private mayExpire: boolean;
  private ttlTimer: NodeJS.Timeout | undefined;
  private ttlTimerAt = 0;
  private expiresTimer: NodeJS.Timeout | undefined;
  private hadConsumer = false;
  /**
   * Publishes admitted by enqueue() whose write the vhost has not submitted yet (enqueued()
   * not called): nothing is delivered meanwhile, so no delivery or ack ever precedes the
   * write of its entry. More than one only when a dead-letter nests a publish into this queue.
   */
  private admitting = 0;
  /** Of the admissions above: the earliest expiry to schedule, and the time a TTL-0 message came in (0: none). */
  private admittedExpiry = 0;
  private admittedTtlZeroAt = 0;

  constructor(
    readonly type: QueueType,
    readonly host: QueueContext,
    readonly name: string,
    readonly options: QueueOptions,
    public settings: QueueSettings,
  ) {
    this.ready = new PriorityBuffer(settings.maxPriority);
    this.consumers = new ConsumerSet(settings.singleActiveConsumer);
    this.mayExpire = settings.messageTtl !== undefined;
    this.touch();
  }

  get durable(): boolean {
    return this.options.durable;
  }

  /** Kept in the store: durable and not exclusive (an exclusive queue dies with its connection). */
  get stored(): boolean {
    return this.options.durable && this.options.exclusiveOwner === null;
  }

  get messageCount(): number {
    return this.ready.length + this.tailCount;
  }

  /** Ready body bytes, paged ones included (paged bytes are estimated after a restart). */
  get readyBytes(): number {
    return this.memBytes + Math.max(0, this.tailBytes);
  }

  /** Ready messages whose bodies are in memory. */
  get inMemoryCount(): number {
    return this.ready.length + this.tailMemCount;
  }

  /** Ready messages held only in the store (paging). */
  get pagedCount(): number {
    return this.tailCount - this.tailMemCount;
  }

  /** A store write for this queue was submitted: a page-in must not read ahead of it. */
  private trackWrite(p: Promise<void>): void {
    if (this.tail.length === 0) return;
    const pending = (this.pendingWrites ??= new Set());
    pending.add(p);
    const done = (): void => {
      pending.delete(p);
    };
    p.then(done, done);
  }

  /** What a page-in awaits before it reads the store. */
  writesInFlight(): Promise<unknown> | null {
    const pending = this.pendingWrites;
    return !pending || pending.size === 0 ? null : Promise.allSettled([...pending]);
  }

  get consumerCount(): number {
    return this.consumers.size;
  }

  /** Consumers are falling behind: publishers into this queue should wait. */
  get congested(): boolean {
    return this.messageCount >= FLOW_HIGH && this.consumers.size > 0;
  }

  /** Lets held publishers go once the backlog is small again (or nobody consumes, or the queue is gone). */
  private releaseFlow(): void {
    if (!this.flowHolders || this.flowHolders.size === 0) return;
    if (this.messageCount > FLOW_LOW && this.consumers.size > 0 && !this.deleted) return;
    for (const h of this.flowHolders) h.release(this);
    this.flowHolders.clear();
  }

  applyPolicy(policy: PolicyDefinition | undefined): void {
    this.updateSettings(queueSettings(this.options.arguments, policy));
  }

  /** Applies new settings from a policy change; priority levels are fixed at declaration. */
  private updateSettings(settings: QueueSettings): void {
    this.settings = {
      ...settings,
      maxPriority: this.settings.maxPriority,
      singleActiveConsumer: this.settings.singleActiveConsumer,
    };
    this.mayExpire ||= settings.messageTtl !== undefined;
    this.enforceLimits();
    this.touch();
    this.dispatch();
  }

  /**
   * Admits a message (Queue.enqueue): the reject-publish limits and TTL apply here; delivery,
   * drop-head and expiry wait for enqueued(), once the publish's write is submitted.
   */
  enqueue(msg: Message, a: Admission): EnqueueOutcome {
    const s = this.settings;
    const size = msg.body.length;
    if (s.overflow !== 'drop-head' && this.wouldOverflow(size)) {
      if (s.overflow === 'reject-publish-dlx') {
        const entry = this.entry(msg, a.messageId, 0, false, size);
        this.counters.deadLettered++;
        this.host.deadLetter(this, [entry], 'maxlen', s.deadLetterExchange, s.deadLetterRoutingKey);
      }
      return 'rejected';
    }
    this.admitting++;
    const ttl = a.ttl;
    const persisted = a.persistent && this.stored;
    const effectiveTtl =
      ttl === undefined ? s.messageTtl : s.messageTtl === undefined ? ttl : Math.min(ttl, s.messageTtl);
    const expiresAt = effectiveTtl === undefined ? 0 : a.now + effectiveTtl;
    const entry = this.entry(msg, a.messageId, expiresAt, persisted, size);
    this.counters.published++;
    if (this.tail.length > 0 || (persisted && this.pager !== null && this.windowFull())) {
      // Behind a backlog: a TTL-0 message cannot be delivered now, so it expires at once (never stored).
      if (effectiveTtl === 0) {
        this.giveUp([entry], 'expired');
        return TAKEN;
      }
      this.appendTail(entry);
    } else {
      this.ready.push(entry);
      this.memBytes += size;
      if (expiresAt !== 0) {
        this.mayExpire = true;
        // AMQP/RabbitMQ: a message with TTL 0 is delivered if a consumer can take it now, else it expires.
        if (effectiveTtl === 0) this.admittedTtlZeroAt = a.now;
        else if (this.admittedExpiry === 0 || expiresAt < this.admittedExpiry)
          this.admittedExpiry = expiresAt;
      }
    }
    if (persisted) a.write.stage(this.name, expiresAt);
    if (this.host.events.observed)
      this.host.events.emit('enqueued', { vhost: this.host.vhost, queue: this.name, message: msg });
    return TAKEN;
  }

  enqueued(write: Promise<void> | null): void {
    if (write !== null) this.trackWrite(write);
    if ((this.admitting > 0 && --this.admitting > 0) || this.deleted) return;
    this.dispatch();
    const s = this.settings;
    if (s.maxLength !== undefined || s.maxLengthBytes !== undefined) this.enforceLimits();
    const ttlZeroAt = this.admittedTtlZeroAt;
    const expiry = this.admittedExpiry;
    this.admittedTtlZeroAt = this.admittedExpiry = 0;
    if (this.ready.length === 0) return;
    if (ttlZeroAt !== 0) this.expireDue(ttlZeroAt + 1);
    if (expiry !== 0) this.scheduleExpiry(expiry);
  }

  private entry(
    msg: Message,
    messageId: number,
    expiresAt: number,
    persisted: boolean,
    size: number,
  ): QueuedMessage {
    return {
      seq: this.nextSeq++,
      messageId,
      msg,
      priority: this.ready.levelOf(msg.properties.priority),
      expiresAt,
      deliveryCount: 0,
      size,
      persisted,
    };
  }

  async open(): Promise<void> {}

  /** Recovery: the head of the stored entries comes into memory, the rest (paging) is counted. */
  async recover(stored: StoredEntries): Promise<number> {
    const window = this.pager;
    let loaded = 0;
    let loadedBytes = 0;
    let lastId = 0;
    let more = false;
    for await (const r of stored.records) {
      if (window && (loaded >= window.maxMessages || loadedBytes >= window.maxBytes)) {
        more = true;
        break;
      }
      loaded++;
      loadedBytes += r.message.body.length;
      lastId = r.messageId;
      this.restore({
        messageId: r.messageId,
        msg: r.message,
        priority: 0,
        expiresAt: r.expiresAt,
        deliveryCount: r.deliveryCount,
        size: r.message.body.length,
        persisted: true,
      });
    }
    if (!more) return loaded;
    const rest = (await stored.count()) - loaded;
    // Paged body bytes are estimated from the loaded head (reading them would load them).
    this.restorePaged(
      lastId,
      stored.maxMessageId,
      rest,
      Math.round((rest * loadedBytes) / Math.max(1, loaded)),
    );
    return loaded + Math.max(0, rest);
  }

  /** Puts back an entry recovered from the store (restart): no dispatch, no events. */
  private restore(entry: Omit<QueuedMessage, 'seq'>): void {
    const e: QueuedMessage = {
      ...entry,
      seq: this.nextSeq++,
      priority: this.ready.levelOf(entry.msg.properties.priority),
    };
    this.ready.push(e);
    this.memBytes += e.size;
    if (e.expiresAt !== 0) {
      this.mayExpire = true;
      this.scheduleExpiry(e.expiresAt);
    }
  }

  /** Recovery: `count` more stored entries after `afterId` (up to `maxId`) stay in the store for now. */
  private restorePaged(afterId: number, maxId: number, count: number, bytes: number): void {
    if (count <= 0 || this.pager === null) return;
    this.tail.push({ kind: 'paged', after: afterId, maxId, count, bytes });
    this.tailCount += count;
    this.tailBytes += bytes;
  }

  /** In-memory window full: further persistent messages stay in the store only. */
  private windowFull(): boolean {
    const p = this.pager!;
    return this.ready.length >= p.maxMessages || this.memBytes >= p.maxBytes;
  }

  private belowLowMark(): boolean {
    const p = this.pager;
    if (p === null) return true;
    return this.ready.length < p.maxMessages / 2 && this.memBytes < p.maxBytes / 2;
  }

  private appendTail(entry: QueuedMessage): void {
    const last = this.tail.at(this.tail.length - 1);
    if (entry.persisted && this.pager !== null) {
      if (last?.kind === 'paged') {
        last.count++;
        last.bytes += entry.size;
        last.maxId = entry.messageId;
      } else {
        this.tail.push({
          kind: 'paged',
          after: entry.messageId - 1,
          maxId: entry.messageId,
          count: 1,
          bytes: entry.size,
        });
      }
    } else {
      if (last?.kind === 'mem') {
        last.entries.push(entry);
        last.bytes += entry.size;
      } else {
        this.tail.push({ kind: 'mem', entries: [entry], bytes: entry.size });
      }
      this.tailMemCount++;
    }
    this.tailCount++;
    this.tailBytes += entry.size;
  }

  /**
   * Tops the in-memory head up from the tail once it is below the low mark: transient runs
   * move over at once, a paged run starts an asynchronous read (dispatch follows it).
   * Returns true if messages were added synchronously.
   */
  private refill(): boolean {
    let added = false;
    while (this.tail.length > 0 && this.loading === null && !this.deleted && this.belowLowMark()) {
      const seg = this.tail.peek()!;
      if (seg.kind === 'mem') {
        this.tail.shift();
        for (const e of seg.entries) this.pushFromTail({ ...e, seq: this.nextSeq++ });
        this.tailMemCount -= seg.entries.length;
        this.tailCount -= seg.entries.length;
        this.tailBytes -= seg.bytes;
        added = true;
        continue;
      }
      this.load(seg);
    }
    return added;
  }

  private pushFromTail(e: QueuedMessage): void {
    this.ready.push(e);
    this.memBytes += e.size;
    if (e.expiresAt !== 0) {
      this.mayExpire = true;
      this.scheduleExpiry(e.expiresAt);
    }
  }

  private load(seg: Segment & { kind: 'paged' }): void {
    const pager = this.pager!;
    const gen = this.loadGen;
    const want = Math.max(1, Math.min(seg.count, PAGE_READ_MAX, pager.maxMessages - this.ready.length));
    const loading = pager.read(this, seg.after, want).then(
      (entries) => {
        if (gen !== this.loadGen || this.deleted) return;
        this.loading = null;
        let beyond = entries.length === 0;
        for (const r of entries) {
          if (r.messageId > seg.maxId) {
            beyond = true;
            break;
          }
          seg.after = r.messageId;
          seg.count--;
          seg.bytes -= r.size;
          this.tailCount--;
          this.tailBytes -= r.size;
          this.pushFromTail({
            seq: this.nextSeq++,
            messageId: r.messageId,
            msg: r.msg,
            priority: 0,
            expiresAt: r.expiresAt,
            deliveryCount: r.deliveryCount,
            size: r.size,
            persisted: true,
          });
        }
        if (beyond || seg.count <= 0) {
          // The run is exhausted: whatever it still counts never reached the store (a failed write).
          this.tail.shift();
          this.tailCount -= seg.count;
          this.tailBytes -= seg.bytes;
        }
        if (this.tail.length === 0) this.tailBytes = 0;
        this.dispatch();
      },
      () =>
        // The host logged it; try again shortly (the read stays "in flight" until then).
        new Promise<void>((resolve) => {
          setTimeout(() => {
            if (gen === this.loadGen && !this.deleted) {
              this.loading = null;
              this.dispatch();
            }
            resolve();
          }, 1000).unref();
        }),
    );
    this.loading = loading;
  }

  /** basic.get: take() the head, waiting for a page-in when only paged messages are left. */
  async get(noAck: boolean): Promise<QueuedMessage | undefined> {
    let e = this.take();
    while (!e && this.tail.length > 0 && !this.deleted && this.loading !== null) {
      await this.loading;
      e = this.take();
    }
    if (!e) return undefined;
    if (noAck) this.acked(e, false);
    else this.unacked++;
    return e;
  }

  private wouldOverflow(incoming: number): boolean {
    const { maxLength, maxLengthBytes } = this.settings;
    return (
      (maxLength !== undefined && this.messageCount + 1 > maxLength) ||
      (maxLengthBytes !== undefined && this.readyBytes + incoming > maxLengthBytes)
    );
  }

  /** drop-head: discard (dead-letter) the oldest messages until the queue is within its limits. */
  private enforceLimits(): void {
    const { maxLength, maxLengthBytes, overflow } = this.settings;
    if (overflow !== 'drop-head') return;
    const dropped: QueuedMessage[] = [];
    while (
      this.ready.length > 0 &&
      ((maxLength !== undefined && this.messageCount > maxLength) ||
        (maxLengthBytes !== undefined && this.readyBytes > maxLengthBytes))
    ) {
      const e = this.ready.shiftLowest()!;
      this.memBytes -= e.size;
      dropped.push(e);
    }
    if (dropped.length) this.giveUp(dropped, 'maxlen');
  }

  /** Dead-letters (or drops, without a DLX) entries that left the queue for good. */
  giveUp(entries: readonly QueuedMessage[], reason: DeathReason): void {
    this.forget(entries);
    if (this.settings.deadLetterExchange !== undefined) {
      this.counters.deadLettered += entries.length;
      this.host.deadLetter(
        this,
        entries,
        reason,
        this.settings.deadLetterExchange,
        this.settings.deadLetterRoutingKey,
      );
    } else {
      this.counters.dropped += entries.length;
      if (this.host.events.observed) {
        for (const e of entries)
          this.host.events.emit('dropped', {
            vhost: this.host.vhost,
            queue: this.name,
            message: e.msg,
            reason,
          });
      }
    }
  }

  dispatch(): void {
    // Entries whose write is not submitted yet may not go out: enqueued() dispatches.
    if (this.admitting > 0) return;
    if (this.dispatching) {
      this.redispatch = true;
      return;
    }
    if (this.consumers.size === 0) return;
    if (this.ready.length === 0 && !this.refill()) return;
    this.dispatching = true;
    try {
      do {
        this.redispatch = false;
        this.dispatchReady();
        if (this.tail.length > 0 && this.refill()) this.redispatch = true;
      } while (this.redispatch && !this.deleted);
    } finally {
      this.dispatching = false;
    }
    this.releaseFlow();
  }

  private dispatchReady(): void {
    const now = this.mayExpire ? Date.now() : 0;
    const ready = this.ready;
    while (ready.length > 0) {
      const e = ready.peek()!;
      if (e.expiresAt !== 0 && e.expiresAt < now) {
        this.expireDue(now);
        continue;
      }
      const c = this.consumers.next(e.msg);
      if (!c) {
        if (this.consumers.hasFilters && this.consumers.anyReady()) this.dispatchFiltered(now);
        return;
      }
      ready.shift();
      this.memBytes -= e.size;
      this.deliverTo(c, e, true);
    }
  }

  /**
   * The head matches no consumer's filter (selector): look further down the queue for
   * messages that some consumer with credit accepts, so one unselected message does not
   * block the queue for everyone. Each consumer keeps a cursor per priority level
   * (`filterSeen`): a message its filter refused is not tested again (requeue moves the
   * cursor back), so a new subscriber costs one pass over the queue, not one per publish.
   * At most FILTER_TESTS_PER_TURN filter calls run until the scan yields; it resumes on the
   * next turn, so many selector consumers on a deep queue never hold the event loop.
   */
  private dispatchFiltered(now: number): void {
    const budget = this.filterBudget;
    const levels = this.ready.maxPriority;
    const active = this.consumers.active;
    let progress = true;
    while (progress && budget.left > 0 && !this.deleted) {
      progress = false;
      for (const c of active ? [active] : [...this.consumers.all()]) {
        const filter = c.spec.filter;
        if (!filter || !c.canTake()) continue;
        const seen = (c.filterSeen ??= new Array<number>(levels + 1).fill(-1));
        const pick = (m: QueuedMessage) => (m.expiresAt === 0 || m.expiresAt >= now) && filter(m.msg);
        for (let p = levels; p >= 0 && budget.left > 0; p--) {
          const r = this.ready.takeAfter(p, seen[p]!, pick, budget);
          seen[p] = r.seen;
          if (r.taken) {
            this.memBytes -= r.taken.size;
            this.deliverTo(c, r.taken, false);
            progress = true;
            break;
          }
        }
        if (budget.left === 0) break;
      }
    }
    if (budget.left === 0 && !this.filterResume && !this.deleted) {
      this.filterResume = setImmediate(() => {
        this.filterResume = undefined;
        budget.left = FILTER_TESTS_PER_TURN;
        this.dispatch();
      });
    }
  }

  /** Filter calls left before the selector scan yields (refilled by filterResume). */
  private readonly filterBudget = { left: FILTER_TESTS_PER_TURN };
  private filterResume: NodeJS.Immediate | undefined;

  /** @param inOrder e was the head of the queue (so every older fresh message is gone) */
  private deliverTo(c: Consumer, e: QueuedMessage, inOrder: boolean): void {
    this.counters.delivered++;
    if (e.persisted && e.deliveryCount === 0 && !c.spec.noAck)
      this.records?.delivered(e.messageId, inOrder && this.settings.maxPriority === 0);
    if (e.deliveryCount > 0) this.counters.redelivered++;
    if (!c.spec.noAck) this.unacked++;
    c.owner.deliver(c, this, e);
  }

  /** The next live message, or undefined. */
  private take(): QueuedMessage | undefined {
    this.touch();
    const now = this.mayExpire ? Date.now() : 0;
    for (;;) {
      if (this.tail.length > 0) this.refill();
      const e = this.ready.peek();
      if (!e) return undefined;
      if (e.expiresAt !== 0 && e.expiresAt < now) {
        this.expireDue(now);
        continue;
      }
      this.ready.shift();
      this.memBytes -= e.size;
      this.counters.delivered++;
      if (e.deliveryCount > 0) this.counters.redelivered++;
      if (e.persisted && e.deliveryCount === 0)
        this.records?.delivered(e.messageId, this.settings.maxPriority === 0);
      return e;
    }
  }

  settle(e: QueuedMessage, outcome: SettleOutcome, unacked: boolean): void {
    if (outcome === 'ack') this.acked(e, unacked);
    else if (outcome === 'requeue') this.requeue(e);
    else this.rejected(e);
  }

  /** A delivery was acked (or delivered with no-ack): it leaves the queue for good. */
  private acked(e: QueuedMessage, wasUnacked: boolean): void {
    if (wasUnacked) this.unacked--;
    this.counters.acked++;
    if (e.persisted) this.records?.forget([e.messageId]);
    if (this.host.events.observed)
      this.host.events.emit('acked', { vhost: this.host.vhost, queue: this.name, message: e.msg });
  }

  /** A delivery comes back: to its original place, flagged redelivered. */
  private requeue(e: QueuedMessage): void {
    this.unacked--;
    if (this.deleted) return;
    this.ready.requeue(e);
    if (this.consumers.hasFilters) {
      // Filtered consumers test it again: their cursors move back before it.
      for (const c of this.consumers.all()) {
        const seen = c.filterSeen;
        if (seen && seen[e.priority]! >= e.seq) seen[e.priority] = e.seq - 1;
      }
    }
    this.memBytes += e.size;
    if (this.host.events.observed)
      this.host.events.emit('requeued', { vhost: this.host.vhost, queue: this.name, message: e.msg });
    this.enforceLimits();
  }

  /** A delivery was rejected without requeue. */
  private rejected(e: QueuedMessage): void {
    this.unacked--;
    if (this.deleted) return;
    this.giveUp([e], 'rejected');
  }

  addConsumer(c: Consumer): void {
    this.consumers.add(c);
    this.hadConsumer = true;
    this.touch();
    if (this.host.events.observed)
      this.host.events.emit('consumerAdded', {
        vhost: this.host.vhost,
        queue: this.name,
        consumerTag: c.tag,
      });
  }

  removeConsumer(c: Consumer): void {
    if (!this.consumers.remove(c)) return;
    if (this.host.events.observed)
      this.host.events.emit('consumerRemoved', {
        vhost: this.host.vhost,
        queue: this.name,
        consumerTag: c.tag,
      });
    this.touch();
    // AMQP 0-9-1 queue.declare auto-delete: deleted when its last consumer is gone (never if it had none).
    if (this.options.autoDelete && this.hadConsumer && this.consumers.size === 0) this.host.unused(this);
    else this.dispatch();
    this.releaseFlow();
  }

  purge(): number {
    const all = this.ready.clear();
    this.memBytes = 0;
    const paged = this.pagedCount;
    for (const seg of this.tail.clear()) {
      if (seg.kind === 'mem') all.push(...seg.entries);
      else if (!this.deleted) this.pager?.drop(this, seg.after, seg.maxId); // a deleted queue's entries all go anyway
    }
    this.tailCount = this.tailBytes = this.tailMemCount = 0;
    this.loadGen++;
    this.loading = null;
    this.releaseFlow();
    this.forget(all);
    this.counters.dropped += all.length + paged;
    if (this.host.events.observed) {
      for (const e of all)
        this.host.events.emit('dropped', {
          vhost: this.host.vhost,
          queue: this.name,
          message: e.msg,
          reason: 'purged',
        });
    }
    return all.length + paged;
  }

  /** Marks the queue gone; the vhost cancels its consumers and unbinds it. Returns the messages it held. */
  destroy(): number {
    this.deleted = true;
    clearImmediate(this.filterResume);
    clearTimeout(this.ttlTimer);
    clearTimeout(this.expiresTimer);
    for (const c of [...this.consumers.all()]) this.consumers.remove(c);
    this.records?.close();
    return this.purge();
  }

  async dropStored(): Promise<void> {
    await this.records?.drop();
  }

  /** The store forgets the stored ones of these entries (acked, dropped, expired). */
  private forget(entries: readonly QueuedMessage[]): void {
    if (this.records === null) return;
    const ids: number[] = [];
    for (const e of entries) if (e.persisted) ids.push(e.messageId);
    if (ids.length) this.records.forget(ids);
  }

  stats(): QueueStats {
    return {
      ready: this.messageCount,
      unacked: this.unacked,
      readyBytes: this.readyBytes,
      consumers: this.consumers.size,
      singleActiveConsumer: this.settings.singleActiveConsumer
        ? (this.consumers.active?.tag ?? null)
        : undefined,
      ...this.counters,
    };
  }

  /** Any use (declare, consume, get) restarts the x-expires clock. */
  touch(): void {
    const { expires } = this.settings;
    if (expires === undefined || this.deleted) return;
    clearTimeout(this.expiresTimer);
    if (this.consumers.size > 0) return;
    this.expiresTimer = setTimeout(() => {
      if (this.consumers.size === 0 && !this.deleted) this.host.unused(this);
    }, expires);
    this.expiresTimer.unref();
  }

  /** Removes every expired message at the head of each priority level. */
  private expireDue(now: number): void {
    const expired: QueuedMessage[] = [];
    for (;;) {
      const head = this.ready.peek();
      if (!head || head.expiresAt === 0 || head.expiresAt >= now) {
        // Lower levels may have expired heads too: sweep them without delivering.
        const lower = this.ready.takeFirst((m) => m.expiresAt !== 0 && m.expiresAt < now, 64);
        if (!lower) break;
        this.memBytes -= lower.size;
        expired.push(lower);
        continue;
      }
      this.ready.shift();
      this.memBytes -= head.size;
      expired.push(head);
    }
    if (expired.length) this.giveUp(expired, 'expired');
    const next = this.ready.peek();
    if (next && next.expiresAt !== 0) this.scheduleExpiry(next.expiresAt);
  }

  private scheduleExpiry(at: number): void {
    if (this.ttlTimer !== undefined && this.ttlTimerAt <= at) return;
    clearTimeout(this.ttlTimer);
    this.ttlTimerAt = at;
    this.ttlTimer = setTimeout(
      () => {
        this.ttlTimer = undefined;
        this.ttlTimerAt = 0;
        if (this.deleted) return;
        this.expireDue(Date.now());
        this.dispatch();
      },
      // A later expiry fires early and finds nothing due: expireDue() arms the timer again.
      Math.min(Math.max(0, at - Date.now() + 1), MAX_TIMER_MS),
    );
    this.ttlTimer.unref();
  }
}
