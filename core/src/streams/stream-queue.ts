/**
 * The `stream` queue type (`x-queue-type: stream`, as RabbitMQ): an append-only log every
 * protocol writes into and any consumer replays. Publishes are appended to the store's stream
 * log (stream-log.ts) and confirmed once durable there; reads never remove anything: each
 * consumer has its own cursor (stream-cursor.ts) that starts where `x-stream-offset` says (or
 * where its `x-stream-consumer-name` stopped last time), reads the log in batches as its
 * prefetch allows, and tails it once caught up. Acks only give credit back. Retention (size,
 * age) drops whole segments on a timer and after appends; readers behind the new head move to
 * it. The rest of the broker sees it only through the Queue interface (queue-type.ts).
 */
import { BrokerError, preconditionFailed } from '../errors.js';
import { FLOW_HIGH, FLOW_LOW, type FlowHolder } from '../flow.js';
import type { FieldTable, Message } from '../message.js';
import type { SettleOutcome } from '../session.js';
import type { StreamAppend, StreamEntry, StreamLog, StreamSettings } from '../storage/stream-log.js';
import type { Consumer } from '../queues/consumer.js';
import type { QueuedMessage } from '../queues/queued-message.js';
import type { PolicyDefinition } from '../queues/queue-settings.js';
import type {
  Admission,
  ConsumerView,
  EnqueueOutcome,
  Queue,
  QueueContext,
  QueueOptions,
  QueueStats,
  QueueType,
  StoredEntries,
} from '../queues/queue-type.js';
import { parseOffsetSpec, resolveOffset, STREAM_OFFSET_ARG, type OffsetSpec } from './offset-spec.js';
import { checkStreamDeclaration, streamRetention } from './stream-arguments.js';
import { StreamCursor } from './stream-cursor.js';
import { consumerName, producerStamp, type ProducerStamp } from './stream-identities.js';
import { ActiveMembers } from './active-members.js';
import type { PartitionMember } from '../exchanges/super-stream.js';

/** Entries one read asks the log for: a reader reads ahead of its credit into a buffer of at most this many. */
const READ_BATCH = 256;
/** How often retention runs (age-based retention needs a clock, size-based one runs after appends too). */
const RETENTION_INTERVAL_MS = 1000;
/** A named consumer's position is stored at most this often while it reads (and when it stops). */
const OFFSET_STORE_INTERVAL_MS = 1000;

/** The offset and append time a delivered stream message carries, as headers. */
export const DELIVERED_OFFSET_HEADER = 'x-stream-offset';
export const DELIVERED_TIMESTAMP_HEADER = 'x-stream-timestamp';

/** A delivery of a stream entry: the session hands it back in settle(). */
interface StreamDelivery extends QueuedMessage {
  readonly reader: Reader;
  readonly offset: number;
}

/** One consumer's reading state. */
interface Reader {
  readonly consumer: Consumer;
  /** Null until the attach offset is resolved (a timestamp lookup reads the log). */
  cursor: StreamCursor | null;
  readonly name: string | undefined;
  /** Entries read from the log, not yet delivered (at most READ_BATCH). */
  buffer: StreamEntry[];
  /** A read is in flight; `again` asks the running pump to look once more before it stops. */
  pumping: boolean;
  again: boolean;
  detached: boolean;
  /** The resume offset last stored for a named consumer. */
  storedOffset: number | undefined;
  /** A single-active-consumer group member (its name is the group): reads only while active. */
  readonly grouped: boolean;
  active: boolean;
}

interface PendingAppend {
  readonly entry: StreamAppend;
  readonly stamp: ProducerStamp | undefined;
  resolve(): void;
  reject(err: unknown): void;
}

/** Two publishes one append can carry: both unstamped, or one producer's consecutive sequences. */
function sameRun(a: ProducerStamp | undefined, b: ProducerStamp | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.name === b.name && b.sequence === a.sequence + 1;
}

export const streamQueueType: QueueType = {
  name: 'stream',
  create({ context, name, options, policy, recovering }) {
    const ref = `queue '${name}' in vhost '${context.vhost}'`;
    let retention: StreamSettings;
    try {
      checkStreamDeclaration(
        {
          durable: options.durable,
          exclusive: options.exclusiveOwner !== null,
          autoDelete: options.autoDelete,
          arguments: options.arguments,
        },
        ref,
      );
      retention = streamRetention(options.arguments, policy);
    } catch (err) {
      if (!recovering) throw err;
      context.log.warn(
        { err, queue: name, vhost: context.vhost },
        'stored stream arguments are invalid; using defaults',
      );
      retention = streamRetention({});
    }
    return new StreamQueue(context, name, options, retention, ref);
  },
};

export class StreamQueue implements Queue, PartitionMember {
  readonly kind = 'queue' as const;
  readonly type = streamQueueType;
  deleted = false;
  flowHolders: Set<FlowHolder> | undefined;
  private log: StreamLog | null = null;
  /** Settles when the log is open; appends and reads issued before wait on it (in order). */
  private opening: Promise<StreamLog> | null = null;
  private readonly readers: Reader[] = [];
  /** Publishes of this turn waiting for their append (flushAppends). */
  private readonly pending: PendingAppend[] = [];
  /** Publishes enqueued whose append has not settled yet. */
  private appending = 0;
  private readonly consumerList: Consumer[] = [];
  private retentionTimer: NodeJS.Timeout | undefined;
  private offsetTimer: NodeJS.Timeout | undefined;
  private retentionRunning = false;
  /** Retention was asked for while it ran: it runs once more after, for appends it may not have seen. */
  private retentionAgain = false;
  private readonly counters = { published: 0, delivered: 0, acked: 0 };
  /** Single-active-consumer groups, and which member of each reads now. */
  private readonly members = new ActiveMembers<Reader>();
  private readonly activeOf = new Map<string, Reader>();
  /**
   * Each consumer name's latest position in this process (handed over, or being stored): read
   * before the log's own, whose write may still be in flight when the consumer comes back.
   */
  private readonly positions = new Map<string, number>();
  /** This stream's index as a partition of an x-super-stream exchange (0 when it is none). */
  private partitionIndex = 0;

  readonly consumers: ConsumerView = {
    get size(): number {
      return this.all().length;
    },
    all: (): readonly Consumer[] => this.consumerList,
    active: undefined,
  };

  constructor(
    private readonly ctx: QueueContext,
    readonly name: string,
    readonly options: QueueOptions,
    private retention: StreamSettings,
    private readonly ref: string,
  ) {}

  get stored(): boolean {
    return true;
  }

  /**
   * Publishes waiting for the log: past FLOW_HIGH the publishers are held back (flow.ts), so a
   * publisher without confirms cannot queue appends faster than the store makes them durable.
   * Readers never congest a stream: they are independent of publishers.
   */
  get congested(): boolean {
    return this.appending >= FLOW_HIGH;
  }

  private appended(n: number): void {
    this.appending -= n;
    if (this.appending > FLOW_LOW || !this.flowHolders || this.flowHolders.size === 0) return;
    for (const h of this.flowHolders) h.release(this);
    this.flowHolders.clear();
  }

  // ---- declare / recover ------------------------------------------------------------------

  open(): Promise<void> {
    return this.openLog().then(() => undefined);
  }

  async recover(_stored: StoredEntries): Promise<number> {
    const log = await this.openLog();
    return log.stats().messages;
  }

  private openLog(): Promise<StreamLog> {
    this.opening ??= this.ctx.store
      .openStream({ vhost: this.ctx.vhost, queue: this.name }, this.retention)
      .then((log) => {
        this.log = log;
        // A policy that changed while the log was opening.
        log.updateSettings(this.retention);
        this.startTimers();
        return log;
      });
    return this.opening;
  }

  private logReady(): Promise<StreamLog> {
    return this.log ? Promise.resolve(this.log) : this.openLog();
  }

  touch(): void {}

  applyPolicy(policy: PolicyDefinition | undefined): void {
    this.retention = streamRetention(this.options.arguments, policy);
    const log = this.log;
    // Not open yet: openLog hands the log the settings in force once it opened.
    if (!log || this.deleted) return;
    log.updateSettings(this.retention);
    // A max-age or compaction policy needs the timer, one that went stops it.
    clearInterval(this.retentionTimer);
    this.retentionTimer = undefined;
    this.startTimers();
    // Tighter limits apply now, not at the next append or tick.
    this.runRetention();
  }

  // ---- enqueue ----------------------------------------------------------------------------

  enqueue(msg: Message, a: Admission): EnqueueOutcome {
    let stamp;
    try {
      stamp = producerStamp(msg.properties.headers);
    } catch (err) {
      // A malformed producer stamp: this stream refuses the message (the publisher gets a nack).
      this.ctx.log.debug({ err, queue: this.name }, 'stream message refused');
      return 'rejected';
    }
    this.counters.published++;
    const entry = {
      timestamp: a.now,
      message: {
        exchange: msg.exchange,
        routingKey: msg.routingKey,
        properties: msg.properties,
        body: msg.body,
      },
    };
    const written = new Promise<void>((resolve, reject) => {
      this.pending.push({ entry, stamp, resolve, reject });
    });
    this.appending++;
    if (this.pending.length === 1) queueMicrotask(() => this.flushAppends());
    const events = this.ctx.events;
    if (events.observed) events.emit('enqueued', { vhost: this.ctx.vhost, queue: this.name, message: msg });
    return { persisted: written };
  }

  enqueued(_write: Promise<void> | null): void {}

  /**
   * The publishes of one event-loop turn, appended in as few calls as keep their order and
   * their producers' sequences apart: a run of unstamped messages is one append, a run of one
   * producer's consecutive sequences another (the log deduplicates per call by its first
   * sequence). Fewer, larger appends cost the log less per message than one call each.
   */
  private flushAppends(): void {
    const batch = this.pending.splice(0);
    const log = this.log ? Promise.resolve(this.log) : this.openLog();
    let i = 0;
    while (i < batch.length) {
      const first = batch[i]!;
      let j = i + 1;
      while (j < batch.length && sameRun(batch[j - 1]!.stamp, batch[j]!.stamp)) j++;
      const run = batch.slice(i, j);
      const producer = first.stamp && { name: first.stamp.name, firstSequence: first.stamp.sequence };
      // Chained on one promise in call order: the log applies appends in the order they are made.
      log
        .then((l) =>
          l.append(
            run.map((p) => p.entry),
            producer,
          ),
        )
        .then(
          () => {
            this.appended(run.length);
            for (const p of run) p.resolve();
            this.wakeAll();
            this.retentionSoon();
          },
          (err: unknown) => {
            this.appended(run.length);
            for (const p of run) p.reject(err);
          },
        );
      i = j;
    }
  }

  // ---- consume / credit -------------------------------------------------------------------

  addConsumer(c: Consumer): void {
    if (c.spec.noAck)
      throw new BrokerError(
        'NOT_IMPLEMENTED',
        `NOT_IMPLEMENTED - automatic acknowledgement not supported by stream ${this.ref}`,
      );
    if (c.spec.prefetch === 0)
      throw preconditionFailed(`consumer prefetch count is not set for stream ${this.ref}`);
    const args = c.spec.arguments as FieldTable;
    const spec = parseOffsetSpec(args[STREAM_OFFSET_ARG], Date.now());
    const name = consumerName(args);
    const sac = args['x-single-active-consumer'];
    if (sac !== undefined && typeof sac !== 'boolean')
      throw preconditionFailed(`invalid arg 'x-single-active-consumer': expected a boolean`);
    // RabbitMQ: a single active consumer of a stream is one of a named group.
    if (sac === true && name === undefined)
      throw preconditionFailed(`single active consumer on stream ${this.ref} needs 'x-stream-consumer-name'`);
    const reader: Reader = {
      consumer: c,
      cursor: null,
      name,
      buffer: [],
      pumping: false,
      again: false,
      detached: false,
      storedOffset: undefined,
      grouped: sac === true,
      active: true,
    };
    this.readers.push(reader);
    this.consumerList.push(c);
    if (reader.grouped) {
      reader.active = false;
      this.members.join(name!, reader);
    }
    const events = this.ctx.events;
    if (events.observed)
      events.emit('consumerAdded', { vhost: this.ctx.vhost, queue: this.name, consumerTag: c.tag });
    this.attach(reader, spec)
      .then(() => {
        if (reader.detached) return;
        if (reader.grouped) this.repick(reader.name!);
        else this.pump(reader);
      })
      .catch((err: unknown) => {
        this.ctx.log.error(
          { err, queue: this.name, vhost: this.ctx.vhost },
          'stream consumer could not attach',
        );
        this.cancelReader(reader, err);
      });
  }

  /** PartitionMember: bound (or unbound) as a partition of an x-super-stream exchange. */
  partitionBound(index: number | undefined): void {
    this.partitionIndex = index ?? 0;
    for (const group of [...this.members.names()]) this.repick(group);
  }

  /**
   * Re-picks a group's active member after a join, a leave or a partition change. The group's
   * position passes from the member that stops (its oldest unacknowledged offset: what it had
   * in flight comes again, at-least-once) to the one that starts, which reads nothing before.
   */
  private repick(group: string): void {
    const next = this.members.active(group, this.partitionIndex);
    const prev = this.activeOf.get(group);
    if (next === prev) {
      // Picked while still attaching: it starts once its cursor exists.
      if (next?.cursor && !next.active) this.activate(group, next);
      return;
    }
    if (prev) {
      prev.active = false;
      prev.buffer = [];
      if (prev.cursor) this.positions.set(group, prev.cursor.resumeOffset);
      this.storeGroupOffset(group);
    }
    if (!next) {
      this.activeOf.delete(group);
      return;
    }
    this.activeOf.set(group, next);
    if (next.cursor) this.activate(group, next);
  }

  private activate(group: string, r: Reader): void {
    r.active = true;
    const from = this.positions.get(group);
    if (from !== undefined) r.cursor = new StreamCursor(from, r.consumer.spec.prefetch);
    this.pump(r);
  }

  private async attach(r: Reader, spec: OffsetSpec): Promise<void> {
    const log = await this.logReady();
    const stored =
      r.name === undefined ? undefined : (this.positions.get(r.name) ?? log.consumerOffset(r.name));
    // A named consumer that stored a position resumes there; x-stream-offset is for its first start.
    const start =
      stored !== undefined
        ? Math.min(Math.max(stored, log.firstOffset), log.nextOffset)
        : await resolveOffset(spec, log);
    if (r.detached) return;
    r.cursor = new StreamCursor(start, r.consumer.spec.prefetch);
    r.storedOffset = stored;
  }

  removeConsumer(c: Consumer): void {
    const i = this.readers.findIndex((r) => r.consumer === c);
    if (i < 0) return;
    const [r] = this.readers.splice(i, 1);
    this.consumerList.splice(this.consumerList.indexOf(c), 1);
    r!.detached = true;
    r!.buffer = [];
    this.storeOffset(r!);
    if (r!.grouped) {
      this.members.leave(r!.name!, r!);
      if (this.activeOf.get(r!.name!) === r) {
        if (r!.cursor) this.positions.set(r!.name!, r!.cursor.resumeOffset);
        this.activeOf.delete(r!.name!);
      }
      this.repick(r!.name!);
    }
    const events = this.ctx.events;
    if (events.observed)
      events.emit('consumerRemoved', { vhost: this.ctx.vhost, queue: this.name, consumerTag: c.tag });
  }

  private cancelReader(r: Reader, err: unknown): void {
    if (r.detached) return;
    this.removeConsumer(r.consumer);
    const reason =
      err instanceof BrokerError
        ? err
        : new BrokerError('INTERNAL_ERROR', `INTERNAL_ERROR - reading stream ${this.ref} failed`, {
            cause: err,
          });
    r.consumer.owner.consumerCancelled(r.consumer, reason);
  }

  dispatch(): void {
    for (const r of this.readers) this.pump(r);
  }

  private wakeAll(): void {
    for (const r of this.readers) this.pump(r);
  }

  /** Delivers what the reader's credit allows, reading ahead from the log; one pump per reader at a time. */
  private pump(r: Reader): void {
    if (r.pumping) {
      r.again = true;
      return;
    }
    if (!r.cursor || r.detached || this.deleted || !r.active) return;
    r.pumping = true;
    this.pumpLoop(r)
      .catch((err: unknown) => {
        this.ctx.log.error({ err, queue: this.name, vhost: this.ctx.vhost }, 'stream read failed');
        this.cancelReader(r, err);
      })
      .finally(() => {
        r.pumping = false;
        // Asked again while the loop was on its way out (credit, an append, an activation).
        if (r.again) this.pump(r);
      });
  }

  private async pumpLoop(r: Reader): Promise<void> {
    const log = this.log!;
    const cursor = r.cursor!;
    for (;;) {
      r.again = false;
      while (r.buffer.length > 0 && cursor.credit > 0 && r.consumer.canTake() && !r.detached && r.active) {
        this.deliver(r, r.buffer.shift()!);
      }
      if (r.detached || this.deleted || !r.active || r.buffer.length > 0) return;
      if (cursor.credit <= 0 || !r.consumer.canTake()) return;
      if (cursor.position < log.firstOffset) cursor.skipTo(log.firstOffset);
      if (cursor.position >= log.nextOffset) {
        // Caught up: an append wakes the reader again (the tail). An append that settled while
        // this pump was finishing asked for another look.
        if (r.again) continue;
        return;
      }
      const batch = await log.read(cursor.position, READ_BATCH);
      if (r.detached || this.deleted || !r.active || r.cursor !== cursor) return;
      if (batch.length === 0) {
        // Retention removed what we asked for between the bound check and the read.
        if (cursor.position < log.firstOffset) cursor.skipTo(log.firstOffset);
        else return;
        continue;
      }
      r.buffer = batch;
    }
  }

  private deliver(r: Reader, e: StreamEntry): void {
    const cursor = r.cursor!;
    cursor.delivered(e.offset);
    this.counters.delivered++;
    const m = e.message;
    const headers: FieldTable = {
      ...m.properties.headers,
      [DELIVERED_OFFSET_HEADER]: e.offset,
      [DELIVERED_TIMESTAMP_HEADER]: e.timestamp,
    };
    const d: StreamDelivery = {
      seq: e.offset,
      messageId: e.offset,
      msg: {
        exchange: m.exchange,
        routingKey: m.routingKey,
        properties: { ...m.properties, headers },
        body: m.body,
      },
      priority: 0,
      expiresAt: 0,
      deliveryCount: 0,
      size: m.body.length,
      persisted: true,
      reader: r,
      offset: e.offset,
    };
    r.consumer.owner.deliver(r.consumer, this, d);
  }

  async get(_noAck: boolean): Promise<QueuedMessage | undefined> {
    // RabbitMQ's answer, code and text (rabbit_stream_queue:dequeue/5).
    throw new BrokerError(
      'NOT_IMPLEMENTED',
      `NOT_IMPLEMENTED - basic.get not supported by stream queues ${this.ref}`,
    );
  }

  // ---- settle -----------------------------------------------------------------------------

  settle(entry: QueuedMessage, outcome: SettleOutcome, _unacked: boolean): void {
    const d = entry as StreamDelivery;
    // Every outcome gives the credit back; nothing is requeued or dead-lettered (RabbitMQ).
    if (outcome === 'ack') {
      this.counters.acked++;
      const events = this.ctx.events;
      if (events.observed) events.emit('acked', { vhost: this.ctx.vhost, queue: this.name, message: d.msg });
    }
    if (d.reader.detached || !d.reader.cursor) return;
    d.reader.cursor.settled(d.offset);
    if (d.reader.name !== undefined) this.offsetsDue();
  }

  // ---- named consumer offsets ---------------------------------------------------------------

  private offsetsDue(): void {
    if (this.offsetTimer || this.deleted) return;
    this.offsetTimer = setTimeout(() => {
      this.offsetTimer = undefined;
      for (const r of this.readers) this.storeOffset(r);
    }, OFFSET_STORE_INTERVAL_MS);
    this.offsetTimer.unref();
  }

  private storeGroupOffset(group: string): void {
    const log = this.log;
    const offset = this.positions.get(group);
    if (!log || offset === undefined || this.deleted) return;
    log
      .storeConsumerOffset(group, offset)
      .catch((err: unknown) =>
        this.ctx.log.error(
          { err, queue: this.name, consumer: group },
          'storing a stream consumer offset failed',
        ),
      );
  }

  private storeOffset(r: Reader): void {
    const log = this.log;
    // An inactive group member's cursor is stale: only the member that reads speaks for the group.
    if (r.name === undefined || !r.cursor || !log || this.deleted || !r.active) return;
    const offset = r.cursor.resumeOffset;
    if (offset === r.storedOffset) return;
    r.storedOffset = offset;
    this.positions.set(r.name, offset);
    log
      .storeConsumerOffset(r.name, offset)
      .catch((err: unknown) =>
        this.ctx.log.error(
          { err, queue: this.name, consumer: r.name },
          'storing a stream consumer offset failed',
        ),
      );
  }

  // ---- retention ------------------------------------------------------------------------------

  private startTimers(): void {
    if (this.retention.maxAgeMs === undefined && !this.retention.compact) return;
    this.retentionTimer = setInterval(() => this.runRetention(), RETENTION_INTERVAL_MS);
    this.retentionTimer.unref();
  }

  private retentionSoon(): void {
    if (this.retention.maxBytes === undefined && !this.retention.compact) return;
    queueMicrotask(() => this.runRetention());
  }

  private runRetention(): void {
    const log = this.log;
    if (!log || this.deleted) return;
    if (this.retentionRunning) {
      this.retentionAgain = true;
      return;
    }
    this.retentionRunning = true;
    this.retentionAgain = false;
    log
      .enforceRetention(Date.now())
      .then((first) => {
        for (const r of this.readers) {
          r.cursor?.skipTo(first);
          if (r.buffer.length && r.buffer[0]!.offset < first)
            r.buffer = r.buffer.filter((e) => e.offset >= first);
        }
        this.wakeAll();
      })
      .catch((err: unknown) => this.ctx.log.error({ err, queue: this.name }, 'stream retention failed'))
      .finally(() => {
        this.retentionRunning = false;
        // Requests that came meanwhile coalesce into one more run.
        if (this.retentionAgain) this.runRetention();
      });
  }

  // ---- purge / delete -------------------------------------------------------------------------

  purge(): number {
    throw new BrokerError(
      'NOT_IMPLEMENTED',
      `NOT_IMPLEMENTED - queue.purge not supported by stream queues ${this.ref}`,
    );
  }

  destroy(): number {
    const count = this.messageCount;
    this.deleted = true;
    clearInterval(this.retentionTimer);
    clearTimeout(this.offsetTimer);
    for (const r of this.readers) {
      r.detached = true;
      r.buffer = [];
    }
    this.readers.length = 0;
    this.consumerList.length = 0;
    return count;
  }

  async dropStored(): Promise<void> {
    // dropStream closes an open log itself; a log still opening is waited for (a failed open
    // was logged where it failed and leaves nothing to close).
    if (this.opening && !this.log)
      await this.opening.then(
        () => undefined,
        (err: unknown) => this.ctx.log.warn({ err, queue: this.name }, 'the deleted stream had not opened'),
      );
    await this.ctx.store.dropStream({ vhost: this.ctx.vhost, queue: this.name });
  }

  // ---- stats ----------------------------------------------------------------------------------

  get messageCount(): number {
    return this.log?.stats().messages ?? 0;
  }

  get consumerCount(): number {
    return this.readers.length;
  }

  get unacked(): number {
    let n = 0;
    for (const r of this.readers) n += r.cursor?.unsettledCount ?? 0;
    return n;
  }

  stats(): QueueStats {
    const s = this.log?.stats();
    return {
      ready: s?.messages ?? 0,
      unacked: this.unacked,
      readyBytes: s?.bytes ?? 0,
      consumers: this.readers.length,
      singleActiveConsumer: undefined,
      published: this.counters.published,
      delivered: this.counters.delivered,
      acked: this.counters.acked,
      redelivered: 0,
      deadLettered: 0,
      dropped: 0,
    };
  }
}
