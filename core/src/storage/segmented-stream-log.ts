/**
 * The StreamLog behaviour every store shares, over a few storage primitives a store implements
 * (write a planned append, read a segment, delete segments, drop compacted entries, store a
 * consumer offset). It owns the rules: offsets are assigned here, densely; timestamps never go
 * down; producer sequences deduplicate; segments roll at maxSegmentBytes; retention and
 * compaction pick whole segments. A store only persists what it is told, so memory, embedded
 * and Redis cannot disagree on what a stream holds.
 *
 * Concurrency: appends arriving while a write is in flight are merged into the next write
 * (group commit: one durable write for all of them). Retention and compaction run between
 * writes and exclude reads while they delete or rewrite segments; reads otherwise run beside
 * appends and see only entries whose write has completed (the segment table is updated after
 * the write resolves).
 */
import type {
  StreamAppend,
  StreamEntry,
  StreamLog,
  StreamProducer,
  StreamSettings,
  StreamStats,
} from './stream-log.js';
import { checkStreamName, checkStreamSettings } from './stream-log.js';
import type { StreamSegment } from './stream-segments.js';
import {
  duplicatesAtStart,
  rollsBefore,
  segmentIndexForOffset,
  segmentIndexForTimestamp,
  segmentsPastRetention,
} from './stream-segments.js';

/** An entry as a store encoded it: byteLength is what the segment's bytes count. */
export interface EncodedStreamEntry {
  readonly byteLength: number;
}

/** One segment's part of an append: its table row after the write, and the entries to append to it. */
export interface StreamWritePiece<E extends EncodedStreamEntry> {
  readonly segment: StreamSegment;
  /** The segment starts with this write (a roll, or the stream's first append). */
  readonly created: boolean;
  readonly entries: readonly E[];
}

export interface StreamWrite<E extends EncodedStreamEntry> {
  readonly pieces: readonly StreamWritePiece<E>[];
  /** Producers' last sequences after this write, stored in the same durable write. */
  readonly producers: ReadonlyMap<string, number>;
}

/** An entry read back, with the bytes it counts for (compaction subtracts them). */
export interface SizedStreamEntry {
  readonly entry: StreamEntry;
  readonly bytes: number;
}

/** What a store recovered for a stream when it opens it. */
export interface RecoveredStream {
  /** Ascending by id and offset. */
  readonly segments: readonly StreamSegment[];
  /** Offset the next append gets (the last segment's nextOffset, 0 for a new stream). */
  readonly nextOffset: number;
  readonly producers: ReadonlyMap<string, number>;
  readonly consumers: ReadonlyMap<string, number>;
}

interface AppendRequest {
  readonly entries: readonly StreamAppend[];
  readonly producer: StreamProducer | undefined;
  readonly resolve: (r: { firstOffset: number; appended: number }) => void;
  readonly reject: (err: unknown) => void;
}

/** Entries one write carries at most (group commit merges appends up to this). */
const MAX_WRITE_ENTRIES = 4096;

/** Compaction runs once the closed segments not compacted yet hold this share of the closed bytes. */
const COMPACTION_DIRTY_RATIO = 0.5;

/** Entries read per call while compaction scans a segment. */
const COMPACTION_READ = 1024;

export abstract class SegmentedStreamLog<E extends EncodedStreamEntry> implements StreamLog {
  private segments: StreamSegment[];
  private next: number;
  private readonly producers: Map<string, number>;
  private readonly consumers: Map<string, number>;
  private pending: AppendRequest[] = [];
  /** Serial jobs (writes, retention): each starts when the one before settled. */
  private tail: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private readers = 0;
  private readersDone: (() => void) | undefined;
  /** Set while retention or compaction deletes or rewrites segments: reads wait for it. */
  private exclusive: Promise<void> | undefined;
  private closed = false;

  protected constructor(
    private settings: StreamSettings,
    recovered: RecoveredStream,
  ) {
    checkStreamSettings(settings);
    this.segments = [...recovered.segments];
    this.next = recovered.nextOffset;
    this.producers = new Map(recovered.producers);
    this.consumers = new Map(recovered.consumers);
  }

  /** Encodes an entry as the store will write it (producer: the sequence it carries, if any). */
  protected abstract encode(entry: StreamEntry, producer: { name: string; sequence: number } | undefined): E;
  /**
   * Makes one append durable: entries, the segments' table rows and the producers, together.
   * On failure it leaves nothing of the append behind (the offsets are assigned again).
   */
  protected abstract write(w: StreamWrite<E>): Promise<void>;
  /** Entries of `segment` with offset >= from (at most maxCount), ascending, only below segment.nextOffset. */
  protected abstract readSegment(
    segment: StreamSegment,
    from: number,
    maxCount: number,
  ): Promise<SizedStreamEntry[]>;
  /** Deletes whole segments (retention, or compaction that left nothing in them). */
  protected abstract deleteSegments(segments: readonly StreamSegment[]): Promise<void>;
  /** Removes compacted-away entries from a closed segment and stores its new row. */
  protected abstract dropEntries(segment: StreamSegment, offsets: readonly number[]): Promise<void>;
  protected abstract writeConsumerOffset(name: string, offset: number): Promise<void>;
  /** Releases what the store holds open for the stream (after the last job settled). */
  protected abstract release(): Promise<void>;

  get firstOffset(): number {
    return this.segments[0]?.firstOffset ?? this.next;
  }

  get nextOffset(): number {
    return this.next;
  }

  append(
    entries: readonly StreamAppend[],
    producer?: StreamProducer,
  ): Promise<{ firstOffset: number; appended: number }> {
    if (this.closed) return Promise.reject(new Error('stream log is closed'));
    try {
      if (producer) checkStreamName(producer.name);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ entries, producer, resolve, reject });
      if (!this.flushQueued) {
        this.flushQueued = true;
        this.serial(() => this.flush());
      }
    });
  }

  updateSettings(settings: StreamSettings): void {
    checkStreamSettings(settings);
    // Planning and retention read the settings synchronously: the next job sees the new ones.
    this.settings = settings;
  }

  lastProducerSequence(name: string): number | undefined {
    return this.producers.get(name);
  }

  consumerOffset(name: string): number | undefined {
    return this.consumers.get(name);
  }

  /**
   * Queued behind the writes before it, so close() waits for it too: a consumer that leaves
   * while the broker shuts down (its connection closed first) still has its offset stored.
   */
  async storeConsumerOffset(name: string, offset: number): Promise<void> {
    checkStreamName(name);
    if (this.closed) throw new Error(`stream log closed: offset of '${name}' not stored`);
    await new Promise<void>((resolve, reject) =>
      this.serial(async () => {
        try {
          await this.writeConsumerOffset(name, offset);
          this.consumers.set(name, offset);
          resolve();
        } catch (err) {
          reject(err as Error);
        }
      }),
    );
  }

  stats(): StreamStats {
    let messages = 0;
    let bytes = 0;
    for (const s of this.segments) {
      messages += s.entries;
      bytes += s.bytes;
    }
    return { messages, bytes, segments: this.segments.length };
  }

  async read(from: number, maxCount: number): Promise<StreamEntry[]> {
    await this.enterRead();
    try {
      const out: StreamEntry[] = [];
      let at = Math.max(from, this.firstOffset);
      const segments = this.segments;
      for (let i = segmentIndexForOffset(segments, at); i < segments.length && out.length < maxCount; i++) {
        const seg = segments[i]!;
        const want = maxCount - out.length;
        const got = await this.readSegment(seg, Math.max(at, seg.firstOffset), want);
        for (const g of got) out.push(g.entry);
        if (got.length === want) break;
        at = seg.nextOffset;
      }
      return out;
    } finally {
      this.leaveRead();
    }
  }

  async offsetForTimestamp(ts: number): Promise<number> {
    await this.enterRead();
    try {
      const segments = this.segments;
      const i = segmentIndexForTimestamp(segments, ts);
      const seg = segments[i];
      if (!seg) return this.next;
      if (seg.firstTimestamp >= ts)
        return (await this.readSegment(seg, seg.firstOffset, 1))[0]?.entry.offset ?? seg.firstOffset;
      // Binary search on offsets: the entry at or after `mid` has a timestamp that only grows with mid.
      let lo = seg.firstOffset;
      let hi = seg.nextOffset;
      let found = seg.nextOffset;
      while (lo < hi) {
        const mid = lo + Math.floor((hi - lo) / 2);
        const e = (await this.readSegment(seg, mid, 1))[0]?.entry;
        if (e && e.timestamp >= ts) {
          found = e.offset;
          hi = mid;
        } else lo = e ? e.offset + 1 : hi;
      }
      return found;
    } finally {
      this.leaveRead();
    }
  }

  enforceRetention(now: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.serial(async () => {
        try {
          await this.exclusively(async () => {
            await this.dropPastRetention(now);
            if (this.settings.compact) await this.compact();
          });
          resolve(this.firstOffset);
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.release();
  }

  /** Runs job after every job queued before it; a job reports its own failure to its caller (never rejects). */
  private serial(job: () => Promise<void>): void {
    this.tail = this.tail.then(job);
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    // Bounded work per write: appends past MAX_WRITE_ENTRIES wait for the next one (a single
    // append larger than that still goes whole: its entries are confirmed together).
    let take = 0;
    for (let n = 0; take < this.pending.length && (take === 0 || n < MAX_WRITE_ENTRIES); take++)
      n += this.pending[take]!.entries.length;
    const batch = this.pending.splice(0, take);
    if (this.pending.length > 0) {
      this.flushQueued = true;
      this.serial(() => this.flush());
    }
    let plan: ReturnType<typeof this.plan>;
    try {
      // Planning encodes (a property msgpack cannot hold throws): the batch fails, the log goes on.
      plan = this.plan(batch);
      if (plan.write.pieces.length === 0 && plan.write.producers.size === 0) {
        for (const r of batch) r.resolve({ firstOffset: this.next, appended: 0 });
        return;
      }
      await this.write(plan.write);
    } catch (err) {
      for (const r of batch) r.reject(err);
      return;
    }
    // Only now do reads see the entries: the table moves once the write is durable.
    for (const p of plan.write.pieces) {
      if (p.created) this.segments.push(p.segment);
      else this.segments[this.segments.length - 1] = p.segment;
    }
    this.next = plan.next;
    for (const [name, seq] of plan.write.producers) this.producers.set(name, seq);
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(plan.results[i]!);
  }

  /** Assigns offsets and segments to a batch of appends, deduplicating producers' resends. */
  private plan(batch: readonly AppendRequest[]): {
    write: StreamWrite<E>;
    next: number;
    results: { firstOffset: number; appended: number }[];
  } {
    const pieces: { segment: StreamSegment; created: boolean; entries: E[] }[] = [];
    const producers = new Map<string, number>();
    const results: { firstOffset: number; appended: number }[] = [];
    let active = this.segments[this.segments.length - 1];
    let piece: { segment: StreamSegment; created: boolean; entries: E[] } | undefined;
    let next = this.next;
    for (const req of batch) {
      const p = req.producer;
      const last = p && (producers.get(p.name) ?? this.producers.get(p.name));
      const skip = p ? duplicatesAtStart(last, p.firstSequence, req.entries.length) : 0;
      results.push({ firstOffset: next, appended: req.entries.length - skip });
      for (let i = skip; i < req.entries.length; i++) {
        const a = req.entries[i]!;
        const timestamp = Math.max(a.timestamp, active?.lastTimestamp ?? a.timestamp);
        const sequence = p ? p.firstSequence + i : undefined;
        const encoded = this.encode(
          { offset: next, timestamp, message: a.message },
          p && sequence !== undefined ? { name: p.name, sequence } : undefined,
        );
        if (rollsBefore(active, encoded.byteLength, this.settings.maxSegmentBytes)) {
          active = {
            id: active ? active.id + 1 : 0,
            firstOffset: next,
            nextOffset: next,
            firstTimestamp: timestamp,
            lastTimestamp: timestamp,
            bytes: 0,
            entries: 0,
            compacted: false,
          };
          piece = { segment: active, created: true, entries: [] };
          pieces.push(piece);
        } else if (!piece) {
          piece = { segment: active!, created: false, entries: [] };
          pieces.push(piece);
        }
        piece.entries.push(encoded);
        next++;
        active = {
          ...active!,
          nextOffset: next,
          lastTimestamp: timestamp,
          bytes: active!.bytes + encoded.byteLength,
          entries: active!.entries + 1,
        };
        piece.segment = active;
        if (p && sequence !== undefined) producers.set(p.name, sequence);
      }
    }
    return { write: { pieces, producers }, next, results };
  }

  private async dropPastRetention(now: number): Promise<void> {
    const n = segmentsPastRetention(this.segments, this.settings, now);
    if (n === 0) return;
    const victims = this.segments.slice(0, n);
    await this.deleteSegments(victims);
    this.segments = this.segments.slice(n);
  }

  /**
   * Kafka's cleaner over closed segments: the latest offset per routing key among the segments
   * not compacted yet (compacted ones are already unique per key), then every closed segment
   * drops the entries a later one supersedes. The active segment is neither read nor rewritten.
   */
  private async compact(): Promise<void> {
    const closed = this.segments.slice(0, -1);
    const dirty = closed.filter((s) => !s.compacted);
    // Kafka's min.cleanable.dirty.ratio: a run reads every closed segment, so it waits until
    // the new part is at least half of them; each byte is then read a bounded number of times.
    const bytes = (list: readonly StreamSegment[]): number => list.reduce((n, s) => n + s.bytes, 0);
    if (dirty.length === 0 || bytes(dirty) < COMPACTION_DIRTY_RATIO * bytes(closed)) return;
    const latest = new Map<string, number>();
    for (const seg of dirty)
      await this.scanSegment(seg, (e) => {
        latest.set(e.entry.message.routingKey, e.entry.offset);
      });
    const rows = new Map<number, StreamSegment | null>();
    for (const seg of closed) {
      const dropped: number[] = [];
      let bytes = 0;
      await this.scanSegment(seg, (e) => {
        const l = latest.get(e.entry.message.routingKey);
        if (l !== undefined && l !== e.entry.offset) {
          dropped.push(e.entry.offset);
          bytes += e.bytes;
        }
      });
      if (dropped.length === seg.entries) {
        await this.deleteSegments([seg]);
        rows.set(seg.id, null);
        continue;
      }
      const row = {
        ...seg,
        bytes: seg.bytes - bytes,
        entries: seg.entries - dropped.length,
        compacted: true,
      };
      if (dropped.length > 0 || !seg.compacted) {
        await this.dropEntries(row, dropped);
        rows.set(seg.id, row);
      }
    }
    const kept: StreamSegment[] = [];
    for (const s of this.segments) {
      const r = rows.get(s.id);
      if (r === undefined) kept.push(s);
      else if (r !== null) kept.push(r);
    }
    this.segments = kept;
  }

  private async scanSegment(seg: StreamSegment, visit: (e: SizedStreamEntry) => void): Promise<void> {
    for (let at = seg.firstOffset; at < seg.nextOffset;) {
      const got = await this.readSegment(seg, at, COMPACTION_READ);
      for (const g of got) visit(g);
      if (got.length < COMPACTION_READ) return;
      at = got[got.length - 1]!.entry.offset + 1;
    }
  }

  private async enterRead(): Promise<void> {
    while (this.exclusive) await this.exclusive;
    this.readers++;
  }

  private leaveRead(): void {
    if (--this.readers === 0 && this.readersDone) {
      this.readersDone();
      this.readersDone = undefined;
    }
  }

  private async exclusively(job: () => Promise<void>): Promise<void> {
    let done!: () => void;
    this.exclusive = new Promise((r) => (done = r));
    try {
      if (this.readers > 0) await new Promise<void>((r) => (this.readersDone = r));
      await job();
    } finally {
      this.exclusive = undefined;
      done();
    }
  }
}
