/**
 * The embedded durable store: a log of append-only segment files (segments.ts) holding
 * message records, and an LMDB index (through the `lmdb` package), in one data directory.
 *
 * The log is written first. An enqueue appends one record (the body, and the queues and ids
 * it goes to) and settles when the record is fdatasync'ed; records appended while an
 * fdatasync runs share the next one (group commit). The entry stays in memory (unindexed.ts)
 * until a checkpoint, about once a second: a checkpoint writes the entries still held to the
 * index, and with them the log position up to which the index is complete. An ack of an
 * entry not yet indexed only appends a small ack record. So a message acked before the
 * next checkpoint, the common case, never touches LMDB; one that stays (a backlog) is indexed
 * and paged like before. At open, the records past the checkpoint are replayed into the
 * index: enqueues add entries, acks remove them again.
 *
 * Durability: the environment is opened with overlappingSync off, so an LMDB transaction
 * settles only after it is committed and fsynced. An index entry can commit before its
 * record's fdatasync (checkpoints do not wait for it): after a crash its read fails the CRC
 * and the entry is dropped, which is right, since it was never confirmed.
 *
 * Layout (LMDB sub-databases):
 *   meta      'format' -> FORMAT_VERSION; 'flagAllUpTo' -> entries up to this id were held by
 *             a broker that crashed, and read as delivered (see flagAllUpTo); 'checkpoint' ->
 *             [segment, offset]: every record before it is reflected in `entries`
 *   defs      [kind, identity] -> definition
 *   entries   [vhost, queue, messageId] -> 32 bytes: expiresAt, deliveryCount at enqueue and
 *             where the body is (segment, offset, length, CRC; see encodeEntry, segments.ts)
 *   delivered [vhost, queue, messageId] -> 1: handed to a consumer since (a separate key, so
 *             marking needs no read of the entry and runs on lmdb-js's write thread)
 *   through   [vhost, queue] -> f64 id: every entry of the queue up to it was delivered (a
 *             FIFO queue's marks: one key rewritten per turn instead of a key per message)
 *   retained  [vhost, routingKey] -> StoredMessage
 *   sessions  [vhost, clientId] -> state
 *   streams   [vhost, queue] -> stream id; streamData [id, ...] -> a stream's index (its
 *             segments, producers, consumers: stream-files.ts), its files in streams/<id>/
 * and segments/NNNNNNNN.seg holding framed records (records.ts): an enqueue (id, the
 * queues it goes to with expiresAt and deliveryCount, exchange, routing key, properties,
 * body), written once however many queues it goes to (fanout), or acks (queue and ids).
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type {
  DefinitionChange,
  Definitions,
  EnqueueRecord,
  MqttSessionState,
  QueueRef,
  RecoveredState,
  RetainedMessage,
  Store,
  StoreCapabilities,
  StoredMessage,
  StreamLog,
  StreamSettings,
} from '@junction/core';
import {
  definitionIdentity as identity,
  emptyDefinitions,
  escapeStoredKeys,
  unescapeStoredKeys,
} from '@junction/core';
import { acquireLock, type Lock } from './lock.js';
import { tolerateOrphanCommitFailures } from './orphan-commits.js';
import {
  ACKS,
  decodeRecord,
  acksRecord,
  enqueueRecord,
  ENQUEUE,
  type AckGroup,
  type QueueTarget,
} from './records.js';
import { SegmentFiles, type Location, type LogPosition } from './segments.js';
import { StreamCatalog } from './stream-catalog.js';
import { UnindexedEntries } from './unindexed.js';

/**
 * Bumped on any incompatible change of the layout above (1: bodies inside LMDB; 2: bodies in
 * unframed segments, every entry indexed at enqueue).
 */
export const FORMAT_VERSION = 3;

export class StoreStateError extends Error {}

/** A checkpoint runs this long after the first entry it will index, at the latest... */
const CHECKPOINT_MS = 1000;
/** ...or as soon as this many entries wait for one (bounds memory while a backlog fills). */
const CHECKPOINT_ENTRIES = 100_000;

/**
 * An index entry, 32 bytes (written and read per message, so no general-purpose codec):
 * expiresAt f64, deliveryCount u32, then the body's location: segment u32, offset f64,
 * length u32, CRC-32 u32. Little-endian.
 */
interface Entry extends Location {
  e: number;
  d: number;
}
const DELIVERIES_AT = 8;
/** The value of a `delivered` mark (its key is the entry's). */
const DELIVERED = Buffer.from([1]);
const SEGMENT_AT = 12;
const ENTRY_BYTES = 32;

function encodeEntry(expiresAt: number, deliveryCount: number, loc: Location): Buffer {
  const b = Buffer.allocUnsafe(ENTRY_BYTES);
  b.writeDoubleLE(expiresAt, 0);
  b.writeUInt32LE(deliveryCount, DELIVERIES_AT);
  b.writeUInt32LE(loc.s, SEGMENT_AT);
  b.writeDoubleLE(loc.o, 16);
  b.writeUInt32LE(loc.l, 24);
  b.writeUInt32LE(loc.c, 28);
  return b;
}

function decodeEntry(b: Buffer): Entry {
  return {
    e: b.readDoubleLE(0),
    d: b.readUInt32LE(DELIVERIES_AT),
    s: b.readUInt32LE(SEGMENT_AT),
    o: b.readDoubleLE(16),
    l: b.readUInt32LE(24),
    c: b.readUInt32LE(28),
  };
}

type Kind = DefinitionChange['kind'];
/** An operation of a write batch; `error` is set when it threw inside the transaction. */
interface BatchOp {
  run(released: number[]): void;
  error: unknown;
}
type Key = (string | number)[];

export interface LmdbStoreOptions {
  /** The data directory; created if missing. */
  dir: string;
  /** A body segment file takes new bodies until it holds this many bytes (default 64 MiB). */
  segmentBytes?: number;
  /**
   * Told of an LMDB commit failure nobody awaited (see orphan-commits.ts), e.g. on a full
   * disk; the writes' own callers were told already.
   */
  onCommitFailure?: (err: Error) => void;
}

export class LmdbStore implements Store {
  readonly capabilities: StoreCapabilities = { durable: true };
  private root: RootDatabase | undefined;
  private lock: Lock | undefined;
  private meta!: Database<unknown, string>;
  private defs!: Database<unknown, Key>;
  private entries!: Database<Buffer, Key>;
  private delivered!: Database<Buffer, Key>;
  private through!: Database<Buffer, Key>;
  /**
   * Queues that have (or may have) per-message `delivered` keys: only their removals delete
   * one. A FIFO queue marks through ids instead, so its acks skip that write.
   */
  private readonly marked = new Set<string>();
  /** The highest message id enqueued (or recovered). */
  private highestId = 0;
  /**
   * After a crash (the lock was taken over from a dead broker), every recovered entry up to
   * this id reads as delivered: delivery marks are written asynchronously, after the
   * delivery left, so the last moments' marks may be missing, and "may have been delivered"
   * is true of every message a crashed broker held. 0 if the store never saw a crash.
   */
  private flagAllUpTo = 0;
  private segments: SegmentFiles | undefined;
  /** Entries in the log but not yet in `entries` (see the header). */
  private readonly unindexed = new UnindexedEntries();
  /**
   * Delivery marks not yet written, by queue key: they go into LMDB with the next checkpoint.
   * They only matter after a clean stop (which checkpoints): after a crash every recovered
   * entry reads as delivered anyway (flagAllUpTo). Written per turn, they cost a commit and
   * its fsyncs each time, and slowed the log's fdatasyncs down with them.
   */
  private readonly throughMarks = new Map<string, { q: QueueRef; id: number }>();
  private readonly deliveredMarks = new Map<string, { q: QueueRef; ids: Set<number> }>();
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointRunning: Promise<void> | undefined;
  private checkpointQueued: Promise<void> | undefined;
  private retainedDb!: Database<StoredMessage, Key>;
  private sessions!: Database<StoredSession, Key>;
  private streams: StreamCatalog | undefined;

  private untolerate: (() => void) | undefined;

  constructor(private readonly options: LmdbStoreOptions) {}

  async open(): Promise<RecoveredState> {
    if (!this.root) {
      mkdirSync(this.options.dir, { recursive: true });
      this.openEnv(await acquireLock(this.options.dir));
      this.untolerate = tolerateOrphanCommitFailures(this.options.onCommitFailure ?? (() => {}));
    }
    const fresh = this.defs.getCount() === 0;
    const checkpoint = await this.replayLog();
    // Count the entries per segment (so empty segments can go) and find the highest id.
    // A crash can leave an index entry whose body was never written (never confirmed):
    // entries past their file's end are dropped, and those into the two segments the last
    // run was appending to are checked against their CRC, so queue depths stay true. A body
    // damaged elsewhere is caught when it is read.
    const segments = this.segments!;
    const checkFrom = segments.lastRecovered - 1;
    let maxMessageId = 0;
    const unwritten: Key[] = [];
    for (const { key, value } of this.entries.getRange()) {
      const s = value.readUInt32LE(SEGMENT_AT);
      const loc = decodeEntry(value);
      if (!segments.holds(loc) || (s >= checkFrom && segments.read(loc) === undefined)) {
        unwritten.push(key);
        continue;
      }
      segments.retain(s);
      maxMessageId = Math.max(maxMessageId, key[2] as number);
    }
    if (unwritten.length > 0) {
      await this.root!.transaction(() => {
        for (const key of unwritten) void this.entries.remove(key);
      });
    }
    for (const { value } of this.through.getRange())
      maxMessageId = Math.max(maxMessageId, value.readDoubleLE(0));
    for (const key of this.delivered.getKeys())
      this.marked.add(queueKey({ vhost: key[0] as string, queue: key[1] as string }));
    segments.checkpointAt(checkpoint.s); // every entry is counted: empty segments can go
    // Kept in meta, so the flags outlive the next (clean) restart too; ids never fall below it.
    const flagged = this.meta.get('flagAllUpTo');
    this.flagAllUpTo = typeof flagged === 'number' ? flagged : 0;
    if (this.lock?.takenOver && maxMessageId > this.flagAllUpTo) {
      this.flagAllUpTo = maxMessageId;
      await this.meta.put('flagAllUpTo', maxMessageId);
    }
    maxMessageId = Math.max(maxMessageId, this.flagAllUpTo);
    this.highestId = maxMessageId;
    return {
      definitions: fresh ? null : this.readDefinitions(),
      maxMessageId,
      messages: (q) => this.iterate(q),
    };
  }

  /**
   * Replays the log from the checkpoint into the index (enqueues add entries, acks remove
   * those added), then moves the checkpoint to where this run starts appending.
   */
  private async replayLog(): Promise<LogPosition> {
    const segments = this.segments!;
    const saved = this.meta.get('checkpoint') as [number, number] | undefined; // checked in openEnv
    const found = new UnindexedEntries();
    segments.replay({ s: saved?.[0] ?? 0, o: saved?.[1] ?? 0 }, (loc, payload) => {
      const r = decodeRecord(payload);
      if (r?.kind === ENQUEUE) {
        for (const [vhost, queue, e, d] of r.queues) found.add(vhost, queue, r.id, { e, d, loc });
      } else if (r?.kind === ACKS) {
        for (const [vhost, queue, ids] of r.acks) for (const id of ids) found.take(vhost, queue, id);
      }
    });
    const at = segments.position();
    // Entries LMDB cannot key on (names over its key limit, written before the core bounded
    // names) are left out, so the broker always starts again on its data directory; their
    // queues could never be stored either.
    this.indexEntries(found);
    await this.meta.put('checkpoint', [at.s, at.o]);
    return at;
  }

  /**
   * Issues the puts of `entries` into the index (asynchronous, in order; lmdb-js commits them
   * before any write issued later, so awaiting a later write awaits them). A put LMDB refuses
   * (a key over its limit: the core bounds names, so only a store written before that) is
   * counted and skipped, never allowed to stop the other queues' entries.
   */
  private indexEntries(entries: UnindexedEntries): { refused: number; error: unknown } {
    let refused = 0;
    let error: unknown;
    for (const [vhost, queues] of entries.takeAll()) {
      for (const [queue, byId] of queues) {
        for (const [id, p] of byId) {
          try {
            this.entries
              .put([vhost, queue, id], encodeEntry(p.e, p.d, p.loc))
              .catch((err: unknown) => this.fail(err));
          } catch (err) {
            refused++;
            error ??= err;
          }
        }
      }
    }
    return { refused, error };
  }

  /**
   * The store failed in a way no single caller can be told about (a checkpoint could not
   * index what the log holds): from now on it is read-only. Writes are refused with this
   * error, no checkpoint moves past the log records not indexed (a restart replays them),
   * and the broker logs it and shows it (Broker.storeFailure, /readyz).
   */
  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = new Error(
      `the embedded store failed and is read-only until restarted: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
    for (const l of this.failureListeners) l(this.failure);
  }

  /** Set once the store failed (see fail()); every later write is refused with it. */
  failure: Error | undefined;
  private readonly failureListeners: ((err: Error) => void)[] = [];

  onFailure(listener: (err: Error) => void): void {
    this.failureListeners.push(listener);
    if (this.failure) listener(this.failure);
  }

  /**
   * Writes every unindexed entry to the index, with the log position up to which the index
   * is then complete. One at a time; a call while one runs gets the next (which takes
   * whatever arrived meanwhile). Settles when the checkpoint is durable.
   */
  checkpoint(): Promise<void> {
    if (!this.checkpointRunning) {
      const run = this.runCheckpoint().finally(() => {
        if (this.checkpointRunning === run) this.checkpointRunning = undefined;
      });
      return (this.checkpointRunning = run);
    }
    return (this.checkpointQueued ??= this.checkpointRunning
      // The running checkpoint's failure went to its own callers and into fail().
      .then(undefined, (err: unknown) => this.fail(err))
      .then(() => {
        this.checkpointQueued = undefined;
        return this.checkpoint();
      }));
  }

  private async runCheckpoint(): Promise<void> {
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    // Taken together, synchronously: every record before `at` is now either an entry being
    // indexed, an entry removed (its ack is before `at` too), or already in the index.
    if (this.failure) throw this.failure;
    const at = this.segments!.position();
    const { refused, error } = this.indexEntries(this.unindexed);
    const writes: Promise<unknown>[] = [];
    for (const { q, id } of this.throughMarks.values())
      writes.push(this.through.put([q.vhost, q.queue], encodeId(id)));
    this.throughMarks.clear();
    for (const { q, ids } of this.deliveredMarks.values()) {
      for (const id of ids) writes.push(this.delivered.put([q.vhost, q.queue, id], DELIVERED));
    }
    this.deliveredMarks.clear();
    await Promise.all(writes);
    if (refused > 0) {
      // Never checkpoint past log records the index does not hold: they would be lost.
      this.fail(error);
      throw this.failure!;
    }
    // lmdb-js commits asynchronous writes in the order they were issued: the checkpoint is
    // durable no earlier than the entries before it.
    await this.meta.put('checkpoint', [at.s, at.o]);
    this.segments?.checkpointAt(at.s);
  }

  /** A checkpoint within CHECKPOINT_MS of now, or at once if many entries wait. */
  private scheduleCheckpoint(): void {
    if (this.failure) return;
    if (this.unindexed.size >= CHECKPOINT_ENTRIES && !this.checkpointRunning) {
      this.checkpoint().catch((err: unknown) => this.fail(err));
    } else if (!this.checkpointTimer) {
      this.checkpointTimer = setTimeout(() => {
        this.checkpointTimer = undefined;
        this.checkpoint().catch((err: unknown) => this.fail(err));
      }, CHECKPOINT_MS);
      this.checkpointTimer.unref();
    }
  }

  private openEnv(lock: Lock): void {
    const dir = this.options.dir;
    this.lock = lock;
    try {
      checkHeader(join(dir, 'junction.mdb'));
      this.root = open({
        path: join(dir, 'junction.mdb'),
        maxDbs: 10,
        overlappingSync: false,
        compression: false,
      });
      this.meta = this.root.openDB({ name: 'meta' });
      this.defs = this.root.openDB({ name: 'defs' });
      this.entries = this.root.openDB({ name: 'entries', encoding: 'binary' });
      this.delivered = this.root.openDB({ name: 'delivered', encoding: 'binary' });
      this.through = this.root.openDB({ name: 'through', encoding: 'binary' });
      this.retainedDb = this.root.openDB({ name: 'retained' });
      this.sessions = this.root.openDB({ name: 'sessions' });
      this.streams = new StreamCatalog(this.root, this.meta, dir, (err) => this.fail(err));
      this.streams.removeOrphans();
      const format = this.meta.get('format');
      if (format === undefined) {
        this.meta.putSync('format', FORMAT_VERSION);
      } else if (typeof format !== 'number' || format > FORMAT_VERSION) {
        throw new StoreStateError(
          `data directory ${dir} was written by a newer Junction (store format ${String(format)}; this version reads up to ${FORMAT_VERSION})`,
        );
      } else if (format < FORMAT_VERSION) {
        throw new StoreStateError(
          `data directory ${dir} holds store format ${format} of an earlier Junction (${format === 1 ? 'bodies inside LMDB' : 'body segments without a log'}); this version reads format ${FORMAT_VERSION} only (export the definitions with the earlier version and import them into a fresh directory)`,
        );
      }
      const checkpoint = this.meta.get('checkpoint');
      if (checkpoint !== undefined && !isLogPosition(checkpoint)) {
        // Replaying from a guessed position could bring acked messages back or skip confirmed ones.
        throw new StoreStateError(
          `data directory ${dir} is corrupt: its log checkpoint is ${JSON.stringify(checkpoint)}, not [segment, offset]`,
        );
      }
      const segmentDir = join(dir, 'segments');
      mkdirSync(segmentDir, { recursive: true });
      this.segments = new SegmentFiles(segmentDir, this.options.segmentBytes ?? 64 * 2 ** 20);
      this.segments.open();
    } catch (err) {
      // A close failure after a failed open is reported as the store's failure, not dropped.
      this.root?.close().catch((closeErr: unknown) => this.fail(closeErr));
      this.segments?.close().catch((closeErr: unknown) => this.fail(closeErr));
      this.segments = undefined;
      this.streams = undefined;
      this.root = undefined;
      lock.release();
      this.lock = undefined;
      if (err instanceof StoreStateError) throw err;
      throw new StoreStateError(
        `data directory ${dir} holds no readable Junction store (corrupt or not LMDB): ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    if (!this.root) return;
    // Writes batched for this turn still go into the store before it closes, and every
    // entry into the index (a clean stop leaves nothing to replay).
    // A failure here was reported to those writes' callers (or put the store into failed).
    await this.batch?.committed.catch((err: unknown) => this.fail(err));
    if (!this.failure) await this.checkpoint().catch((err: unknown) => this.fail(err));
    clearTimeout(this.checkpointTimer);
    await this.streams?.closeAll();
    this.streams = undefined;
    const root = this.root;
    this.root = undefined;
    await root.flushed;
    await root.close();
    await this.segments?.close();
    this.segments = undefined;
    this.lock?.release();
    this.lock = undefined;
    this.untolerate?.();
    this.untolerate = undefined;
  }

  // ---- definitions ---------------------------------------------------------------------------

  private readDefinitions(): Definitions {
    const d: Definitions = emptyDefinitions();
    for (const { key, value } of this.defs.getRange()) {
      const kind = key[0] as Kind;
      (d[listOf(kind)] as unknown[]).push(unescapeStoredKeys(value));
    }
    return d;
  }

  async writeDefinitions(changes: readonly DefinitionChange[]): Promise<void> {
    const upTo = this.highestId;
    const dropped = changes.flatMap((c) =>
      c.op === 'delete' && c.kind === 'queue'
        ? [this.forgetUnindexed({ vhost: c.key.vhost, queue: c.key.name })]
        : [],
    );
    if (dropped.length > 0) await Promise.all(dropped);
    await this.write((released) => {
      for (const c of changes) {
        if (c.op === 'put') {
          void this.defs.put(
            [c.kind, defKey(c.kind, c.value as unknown as Record<string, unknown>)],
            escapeStoredKeys(c.value),
          );
        } else {
          void this.defs.remove([c.kind, defKey(c.kind, c.key as Record<string, unknown>)]);
          if (c.kind === 'queue') this.dropEntries({ vhost: c.key.vhost, queue: c.key.name }, upTo, released);
        }
      }
    });
  }

  // ---- writes --------------------------------------------------------------------------------

  /** Operations submitted in this turn of the event loop; one transaction runs them all. */
  private batch: { ops: BatchOp[]; committed: Promise<void> } | undefined;

  /**
   * Runs `op` inside a write transaction callback (on this thread, so it can read what it
   * changes) and settles when that transaction is durable. Every such write of one
   * event-loop turn shares one callback: the broker removes per message, and a callback and
   * a promise per call would cost more than the removal. `released` collects the segments
   * of removed entries; they are released once the removal is durable. Inside `op`, lmdb-js's
   * put/remove apply to the open transaction at once; the promises they return settle with
   * it, so `void` on them drops nothing: this method's promise is their outcome.
   *
   * Writes that need no read (enqueue, delivery marks) are plain asynchronous puts instead:
   * lmdb-js runs those on its write thread, off the broker's event loop. lmdb-js keeps
   * asynchronous writes and transaction callbacks in the order they were issued; a callback
   * runs one microtask after its ops were submitted, which only matters for queue drops
   * (see dropEntries).
   */
  private write(op: (released: number[]) => void): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    let batch = this.batch;
    if (!batch) {
      const ops: BatchOp[] = [];
      const committed = Promise.resolve().then(async () => {
        this.batch = undefined;
        const released: number[] = [];
        await this.root!.transaction(() => {
          // One operation that throws (a key LMDB refuses) fails alone: the others' writes
          // in the same transaction still commit.
          for (const o of ops) {
            try {
              o.run(released);
            } catch (err) {
              o.error = err ?? new Error('store write failed');
            }
          }
        });
        for (const s of released) this.segments?.release(s);
      });
      batch = this.batch = { ops, committed };
    }
    const entry: BatchOp = { run: op, error: undefined };
    batch.ops.push(entry);
    return batch.committed.then(() => {
      if (entry.error !== undefined) throw entry.error;
    });
  }

  // ---- messages ------------------------------------------------------------------------------

  enqueue(records: readonly EnqueueRecord[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    for (const r of records) {
      // The entry is keyed [vhost, queue, id] at the checkpoint: refuse now what LMDB would
      // refuse then, so only this publish fails (the core bounds names; this is the backstop).
      if (!keyFits(r.vhost, r.queue))
        return Promise.reject(new Error(`queue name too long for the store's keys`));
    }
    if (records.length === 1) {
      const r = records[0]!;
      this.logEnqueue(r, [[r.vhost, r.queue, r.expiresAt, r.deliveryCount]]);
    } else {
      // One record per message, naming every queue it goes to (a fanout's body is written once).
      const queuesOf = new Map<number, QueueTarget[]>();
      for (const r of records) {
        const q = queuesOf.get(r.messageId);
        if (q) q.push([r.vhost, r.queue, r.expiresAt, r.deliveryCount]);
        else queuesOf.set(r.messageId, [[r.vhost, r.queue, r.expiresAt, r.deliveryCount]]);
      }
      for (const r of records) {
        const queues = queuesOf.get(r.messageId);
        if (queues) this.logEnqueue(r, queues);
        queuesOf.delete(r.messageId);
      }
    }
    this.scheduleCheckpoint();
    return this.segments!.durable();
  }

  /** Appends the enqueue record of `r`'s message and holds an unindexed entry per queue. */
  private logEnqueue(r: EnqueueRecord, queues: QueueTarget[]): void {
    const segments = this.segments!;
    const m = r.message;
    const loc = segments.append(
      enqueueRecord(r.messageId, queues, m.exchange, m.routingKey, m.properties, m.body),
    );
    for (const [vhost, queue, e, d] of queues) {
      segments.retain(loc.s);
      this.unindexed.add(vhost, queue, r.messageId, { e, d, loc });
    }
    if (r.messageId > this.highestId) this.highestId = r.messageId;
  }

  remove(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    if (this.marked.size > 0) {
      for (const e of entries) {
        const key = queueKey(e);
        if (!this.marked.has(key)) continue;
        this.deliveredMarks.get(key)?.ids.delete(e.messageId);
        // A mark left behind by a failed commit only flags a message that is gone.
        inCommit(this.delivered.remove([e.vhost, e.queue, e.messageId]), (err) => this.fail(err));
      }
    }
    // Entries not yet indexed are removed with an ack record in the log; the rest in LMDB.
    let indexed: (QueueRef & { messageId: number })[] | undefined;
    for (const e of entries) {
      const p = this.unindexed.take(e.vhost, e.queue, e.messageId);
      if (p) {
        this.segments!.release(p.loc.s);
        this.logAck(e);
      } else {
        (indexed ??= []).push(e);
      }
    }
    const logged = this.acks?.logged;
    if (!indexed) return logged ?? Promise.resolve();
    const removed = this.write((released) => {
      for (const e of indexed) this.removeEntry([e.vhost, e.queue, e.messageId], released);
    });
    return logged ? Promise.all([logged, removed]).then(() => {}) : removed;
  }

  /**
   * The acks of this event-loop turn, logged as one record at its end: the broker removes
   * one message per ack, and a record (and a promise) per removal cost more than the removal.
   */
  private acks: { groups: AckGroup[]; logged: Promise<void> } | undefined;

  private logAck(e: QueueRef & { messageId: number }): void {
    let acks = this.acks;
    if (!acks) {
      const groups: AckGroup[] = [];
      const logged = Promise.resolve().then(() => {
        this.acks = undefined;
        return this.appendAcks(groups);
      });
      acks = this.acks = { groups, logged };
    }
    const last = acks.groups[acks.groups.length - 1];
    if (last && last[0] === e.vhost && last[1] === e.queue) last[2].push(e.messageId);
    else acks.groups.push([e.vhost, e.queue, [e.messageId]]);
  }

  private appendAcks(acks: AckGroup[]): Promise<void> {
    this.segments!.append(acksRecord(acks));
    return this.segments!.durable();
  }

  /**
   * Forgets the unindexed entries and held marks of a queue being dropped, and logs the
   * entries' acks so that no replay brings them back; settles when that is durable.
   */
  private async forgetUnindexed(q: QueueRef): Promise<void> {
    this.throughMarks.delete(queueKey(q));
    this.deliveredMarks.delete(queueKey(q));
    const gone = this.unindexed.takeQueue(q.vhost, q.queue);
    if (!gone || gone.size === 0) return;
    for (const p of gone.values()) this.segments!.release(p.loc.s);
    await this.appendAcks([[q.vhost, q.queue, [...gone.keys()]]]);
  }

  /** Removes an entry inside a write transaction, noting its segment. */
  private removeEntry(key: Key, released: number[]): void {
    const v = this.entries.getBinaryFast(key);
    if (v === undefined) return;
    released.push(v.readUInt32LE(SEGMENT_AT));
    void this.entries.remove(key);
  }

  /** Held until the next checkpoint (see deliveredMarks). */
  async markDelivered(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    for (const e of entries) {
      const key = queueKey(e);
      this.marked.add(key);
      let marks = this.deliveredMarks.get(key);
      if (!marks)
        this.deliveredMarks.set(key, (marks = { q: { vhost: e.vhost, queue: e.queue }, ids: new Set() }));
      marks.ids.add(e.messageId);
    }
    this.scheduleCheckpoint();
  }

  /** Held until the next checkpoint (see throughMarks). */
  async markDeliveredThrough(q: QueueRef, messageId: number): Promise<void> {
    this.throughMarks.set(queueKey(q), { q: { vhost: q.vhost, queue: q.queue }, id: messageId });
    this.scheduleCheckpoint();
  }

  /** Every entry of the queue up to this id was delivered (0: none known). */
  private deliveredThrough(q: QueueRef): number {
    const held = this.throughMarks.get(queueKey(q))?.id ?? 0;
    const v = this.through.getBinaryFast([q.vhost, q.queue]);
    return Math.max(held, v === undefined ? 0 : v.readDoubleLE(0));
  }

  /** Whether a delivery of the entry was marked. */
  private wasDelivered(q: QueueRef, messageId: number): boolean {
    return (
      this.deliveredMarks.get(queueKey(q))?.ids.has(messageId) === true ||
      this.delivered.getBinaryFast([q.vhost, q.queue, messageId]) !== undefined
    );
  }

  async dropQueue(queue: QueueRef): Promise<void> {
    const upTo = this.highestId;
    await this.forgetUnindexed(queue);
    await this.write((released) => this.dropEntries(queue, upTo, released));
  }

  /**
   * Removes a queue's entries and marks up to message id `upTo`: the highest id enqueued when
   * the drop was asked for. Entries are written as soon as they are enqueued, before this
   * batch runs, so a queue deleted and declared again in one turn keeps its new messages.
   */
  private dropEntries(q: QueueRef, upTo: number, released: number[]): void {
    const range = { start: [q.vhost, q.queue], end: [q.vhost, q.queue, upTo + 1] };
    for (const key of [...this.entries.getKeys(range)]) this.removeEntry(key, released);
    for (const key of [...this.delivered.getKeys(range)]) void this.delivered.remove(key);
    void this.through.remove([q.vhost, q.queue]);
  }

  /**
   * Settles once every entry of `q` logged so far can be read from the index. Entries still
   * held in `unindexed` need a checkpoint; but a checkpoint in progress has taken its entries
   * out of `unindexed` already and their puts may not be committed yet, so a read waits for
   * it too. (Without that wait, a page-in read that came while the checkpoint timer's commit
   * ran found none of the queue's entries, and the queue dropped its whole paged tail as a
   * hole left by failed writes.)
   */
  private async indexed(q: QueueRef): Promise<void> {
    if (this.unindexed.has(q.vhost, q.queue)) await this.checkpoint();
    else if (this.checkpointRunning) await this.checkpointRunning;
  }

  async readEntries(q: QueueRef, afterMessageId: number, limit: number): Promise<EnqueueRecord[]> {
    const out: EnqueueRecord[] = [];
    if (limit <= 0) return out;
    await this.indexed(q);
    const through = this.deliveredThrough(q);
    for (const { key, value } of this.entries.getRange({
      start: [q.vhost, q.queue, Math.floor(afterMessageId) + 1],
      end: [q.vhost, q.queue, MAX_ID],
    })) {
      const r = this.record(q, key[2] as number, value, through);
      if (!r) continue;
      out.push(r);
      if (out.length >= limit) break;
    }
    return out;
  }

  async countEntries(q: QueueRef): Promise<number> {
    await this.indexed(q);
    return this.entries.getKeysCount({ start: [q.vhost, q.queue], end: [q.vhost, q.queue, MAX_ID] });
  }

  /**
   * An entry with its body, or undefined when the body is unreadable (see the header: an
   * unconfirmed write cut by a crash, or a damaged disk). Such an entry cannot be
   * delivered; it is removed so that it does not hold its segment forever.
   */
  private record(q: QueueRef, messageId: number, raw: Buffer, through: number): EnqueueRecord | undefined {
    const value = decodeEntry(raw);
    if (
      messageId <= through ||
      (messageId <= this.flagAllUpTo && value.d === 0) ||
      this.wasDelivered(q, messageId)
    )
      value.d++;
    const bytes = this.segments!.read(value);
    const b = bytes && decodeRecord(bytes);
    if (b?.kind !== ENQUEUE) {
      this.unreadable.push([q.vhost, q.queue, messageId]);
      this.scheduleUnreadableRemoval();
      return undefined;
    }
    return {
      vhost: q.vhost,
      queue: q.queue,
      messageId,
      expiresAt: value.e,
      deliveryCount: value.d,
      message: {
        id: messageId,
        exchange: b.exchange,
        routingKey: b.routingKey,
        properties: b.properties,
        body: b.body,
      },
    };
  }

  private readonly unreadable: Key[] = [];

  private scheduleUnreadableRemoval(): void {
    if (this.unreadable.length !== 1) return; // already scheduled
    queueMicrotask(() => {
      const keys = this.unreadable.splice(0);
      if (this.root) {
        this.write((released) => {
          for (const key of keys) {
            this.removeEntry(key, released);
            void this.delivered.remove(key);
          }
          // Not swallowed: a removal that cannot commit is a store that cannot write.
        }).catch((err: unknown) => this.fail(err));
      }
    });
  }

  private async *iterate(q: QueueRef): AsyncIterable<EnqueueRecord> {
    const through = this.deliveredThrough(q);
    for (const { key, value } of this.entries.getRange({
      start: [q.vhost, q.queue],
      end: [q.vhost, q.queue, MAX_ID],
    })) {
      const r = this.record(q, key[2] as number, value, through);
      if (r) yield r;
    }
  }

  // ---- retained messages and client sessions -------------------------------------------------

  async putRetained(vhost: string, topic: string, msg: StoredMessage | null): Promise<void> {
    if (this.failure) throw this.failure;
    if (msg)
      await this.retainedDb.put([vhost, topic], { ...msg, properties: escapeStoredKeys(msg.properties) });
    else await this.retainedDb.remove([vhost, topic]);
  }

  async *retained(vhost: string): AsyncIterable<RetainedMessage> {
    for (const { key, value } of this.retainedDb.getRange({
      start: [vhost],
      end: [vhost, AFTER_EVERY_STRING],
    })) {
      const properties = unescapeStoredKeys(value.properties);
      yield { topic: key[1] as string, message: { ...value, properties, body: Buffer.from(value.body) } };
    }
  }

  async putMqttSession(vhost: string, clientId: string, state: MqttSessionState | null): Promise<void> {
    if (this.failure) throw this.failure;
    if (state) await this.sessions.put([vhost, clientId], toStoredSession(state));
    else await this.sessions.remove([vhost, clientId]);
  }

  async *mqttSessions(vhost: string): AsyncIterable<{ clientId: string; state: MqttSessionState }> {
    for (const { key, value } of this.sessions.getRange({
      start: [vhost],
      end: [vhost, AFTER_EVERY_STRING],
    })) {
      yield { clientId: key[1] as string, state: fromStoredSession(value) };
    }
  }

  // ---- streams (stream-catalog.ts, stream-files.ts) -----------------------------------------

  openStream(ref: QueueRef, settings: StreamSettings): Promise<StreamLog> {
    if (!this.streams) return Promise.reject(new Error('the embedded store is not open'));
    return this.streams.openStream(ref, settings);
  }

  dropStream(ref: QueueRef): Promise<void> {
    if (!this.streams) return Promise.reject(new Error('the embedded store is not open'));
    return this.streams.dropStream(ref);
  }
}

/**
 * Subscriptions are stored as [filter, qos] pairs: filters are client-chosen, and msgpackr
 * reads an object key `__proto__` back as `__proto_` (its guard against prototype pollution),
 * so a session subscribed to the filter `__proto__` lost it at restart. Sessions written as an
 * object (before this) still read.
 */
type StoredSession = Omit<MqttSessionState, 'subscriptions'> & {
  subscriptions: [string, number][] | Record<string, number>;
};

function toStoredSession(state: MqttSessionState): StoredSession {
  return { ...state, subscriptions: Object.entries(state.subscriptions) };
}

function fromStoredSession(value: StoredSession): MqttSessionState {
  if (!Array.isArray(value.subscriptions)) return value as MqttSessionState;
  const subscriptions = Object.create(null) as Record<string, number>;
  for (const [filter, qos] of value.subscriptions) subscriptions[filter] = qos;
  return { ...value, subscriptions };
}

/** LMDB refuses keys over 1,978 bytes; this leaves room for the key encoding's own bytes. */
const KEY_BUDGET = 1900;

/** Whether a key of these names (plus a number) fits LMDB's key limit. */
function keyFits(a: string, b = ''): boolean {
  return 20 + nameBytes(a) + nameBytes(b) <= KEY_BUDGET;
}

/** UTF-8 bytes of a name, or an upper bound when that is small (the hot path: every enqueue). */
function nameBytes(s: string): number {
  return s.length * 3 <= 600 ? s.length * 3 : Buffer.byteLength(s, 'utf8');
}

/**
 * A definition's key: its identity, or a digest of it when too long for a key (a binding's
 * identity holds its arguments, which the client chooses). Short identities keep the plain
 * form, so data directories written before stay readable; the value holds the definition.
 */
function defKey(kind: Kind, v: Record<string, unknown>): string {
  const id = identity(kind, v);
  if (keyFits(id)) return id;
  return `sha256:${createHash('sha256').update(id).digest('hex')}`;
}

/** LMDB's meta page magic, at this offset of the file's first page (64-bit builds). */
const LMDB_MAGIC = 0xbeefc0de;
const LMDB_MAGIC_OFFSET = 24;

/**
 * LMDB maps the file and trusts its meta pages: a file that is not LMDB can crash the
 * process instead of failing to open. So the header is checked first, with a plain read.
 * (Damage past the header is beyond this check: LMDB keeps no checksums.)
 */
/**
 * An asynchronous LMDB write whose failure someone else reports: lmdb-js commits the writes
 * of one turn together, and the caller awaits another write of the same commit (the
 * checkpoint) or loses nothing durable when it fails (a delivery mark). Its own promise
 * rejects too when the commit fails (a full disk): that failure goes to the store's
 * failed state instead of ending the process.
 */
function inCommit(write: Promise<unknown> | unknown, onFailure: (err: unknown) => void): void {
  // A failed commit puts the store into its visible failed, read-only state (fail()).
  if (write instanceof Promise) write.catch(onFailure);
}

function checkHeader(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a fresh directory
    throw err;
  }
  try {
    const head = Buffer.alloc(LMDB_MAGIC_OFFSET + 4);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n === 0) return; // created but never written
    if (n < head.length || head.readUInt32LE(LMDB_MAGIC_OFFSET) !== LMDB_MAGIC) {
      throw new Error(`${path} does not start with an LMDB meta page`);
    }
  } finally {
    closeSync(fd);
  }
}

const MAX_ID = Number.MAX_SAFE_INTEGER;

const queueKey = (q: QueueRef): string => `${q.vhost}\u0000${q.queue}`;

function isLogPosition(v: unknown): v is [number, number] {
  return Array.isArray(v) && v.length === 2 && v.every((n) => Number.isSafeInteger(n) && n >= 0);
}

function encodeId(id: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(id, 0);
  return b;
}

/**
 * The end of a [vhost, name] range: ordered-binary sorts a buffer after every string, so the
 * range holds every name. '\uffff' did not: names starting with a character past the Basic
 * Multilingual Plane (emoji, U+10000 up: UTF-8 F0-F4) sort after its EF BF BF, and such
 * retained topics and MQTT sessions were stored but never read back.
 */
const AFTER_EVERY_STRING = Buffer.from([0xff]);

function listOf(kind: Kind): keyof Definitions {
  return kind === 'policy' ? 'policies' : (`${kind}s` as keyof Definitions);
}
