/**
 * The embedded store's streams (Store.openStream): each stream is a directory of append-only
 * segment files, streams/<id>/NNNNNNNN-G.seg (segment id, rewrite generation), framed and
 * written as the message log is (frames.ts: CRC-32 per frame, O_DSYNC writes, directory
 * fsync for new files). The rules (offsets, roll, retention, compaction, dedup) are the
 * core's SegmentedStreamLog; this file only stores what it is told.
 *
 * The file is the source of truth for appends: an append is durable, and confirmed, once its
 * frames are written; nothing else is written per append. A frame's payload carries its
 * offset, timestamp and producer sequence (f64 offset, f64 timestamp, u32 length + msgpack
 * [exchange, routingKey, properties, producer name, sequence], body), so the state after the
 * last checkpoint is read back from the files themselves.
 *
 * The index, in LMDB (sub-database `streamData`, keys [streamId, ...]), is small: per segment
 * its table row (first/next offset, first/last timestamp, bytes, entries), its generation,
 * the file length the row covers, and a sparse position index (the offset and file position
 * of a frame every SAMPLE_BYTES), so read(from) is a binary search over segments and over one
 * segment's samples, then a scan of at most SAMPLE_BYTES. Producers' last sequences and
 * consumer offsets are keyed there too. Rows are checkpointed about once a second and before
 * retention or compaction change files; consumer offsets are written when stored.
 *
 * Recovery (open): the last checkpointed segment is read on from the length its row covers,
 * and segment files newer than every row from their start; reading stops at the first frame
 * that is torn, fails its CRC or does not carry the next offset (never durable, so never
 * confirmed), and the file is cut there, so offsets stay dense. Files no row names below the
 * newest row are what a retention or compaction left when it was interrupted after its LMDB
 * commit: they are deleted.
 */
import { closeSync, fstatSync, ftruncateSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'lmdb';
import { Packr } from 'msgpackr';
import {
  escapeStoredKeys,
  SegmentedStreamLog,
  unescapeStoredKeys,
  type MessageProperties,
  type RecoveredStream,
  type SizedStreamEntry,
  type StreamEntry,
  type StreamSegment,
  type StreamSettings,
  type StreamWrite,
} from '@junction/core';
import {
  createDurableFile,
  FRAME_HEADER,
  fsyncDirectory,
  readFully,
  reopenDurableFile,
  scanFrames,
  sealFrame,
  writeFully,
} from './frames.js';

/** A sample of the position index every this many bytes of a segment (Kafka indexes every 4 KiB; reads scan up to this). */
const SAMPLE_BYTES = 64 * 1024;
/** Reads of at most this many entries start with a smaller chunk... */
const SMALL_READ = 16;
/** ...a sample's span and this much more. */
const SMALL_READ_SLACK = 16 * 1024;
/** Bytes read at once when scanning a segment. */
const READ_CHUNK = 256 * 1024;
/** Checkpoint of the rows this long after the first change, at the latest. */
const CHECKPOINT_MS = 1000;
/** Closed segments' files kept open at once (the active one is always open). */
const OPEN_FILES = 32;

/** f64 offset, f64 timestamp, u32 meta length. */
const PAYLOAD_HEAD = 20;

/** Plain maps, no shared record structures: a frame must decode on its own. */
const metaCodec = new Packr({ useRecords: false, moreTypes: true });

type Meta = [
  exchange: string,
  routingKey: string,
  properties: MessageProperties,
  producer: string | null,
  seq: number,
];

export type StreamKey = (string | number)[];

export interface StreamHooks {
  /** The log closed: the store forgets it. */
  onClose(): void;
  /** A failure no caller awaited (a background checkpoint). */
  onFailure(err: unknown): void;
}

/** A segment's row in LMDB. */
interface StoredRow {
  r: StreamSegment;
  /** Generation: compaction writes the segment again under the next one. */
  g: number;
  /** File length the row covers. */
  z: number;
  /** Sample offsets and positions. */
  so: number[];
  sp: number[];
}

interface SegmentFile {
  row: StreamSegment;
  gen: number;
  /** -1 while closed (only closed segments are closed; see OPEN_FILES). */
  fd: number;
  /** Bytes of durable frames. */
  size: number;
  sampleOffsets: number[];
  samplePositions: number[];
  /** Changed since the last checkpoint. */
  dirty: boolean;
}

interface EncodedFrame {
  readonly byteLength: number;
  readonly frame: Buffer;
  readonly offset: number;
}

const NAME = /^(\d{8})-(\d+)\.seg$/;
const fileName = (id: number, gen: number): string => `${String(id).padStart(8, '0')}-${gen}.seg`;

/** What a stream's files hold once recovered, for the log to start from. */
interface Opened {
  files: Map<number, SegmentFile>;
  recovered: RecoveredStream;
  /** Producers read back from frames past the checkpoint (checkpointed at once). */
  replayedProducers: Map<string, number>;
}

export class LmdbStreamLog extends SegmentedStreamLog<EncodedFrame> {
  private readonly producersDirty = new Map<string, number>();
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> = Promise.resolve();
  /** Closed segments whose file is open, least recently read first. */
  private readonly openClosed: SegmentFile[] = [];

  private constructor(
    settings: StreamSettings,
    opened: Opened,
    private readonly dir: string,
    private readonly id: number,
    private readonly db: Database<unknown, StreamKey>,
    private readonly hooks: StreamHooks,
  ) {
    super(settings, opened.recovered);
    this.files = opened.files;
    for (const [name, seq] of opened.replayedProducers) this.producersDirty.set(name, seq);
  }

  private readonly files: Map<number, SegmentFile>;

  /** Opens (recovering) the stream whose files are in `dir` and whose index is db's [id, ...] keys. */
  static async open(
    settings: StreamSettings,
    dir: string,
    id: number,
    db: Database<unknown, StreamKey>,
    hooks: StreamHooks,
  ): Promise<LmdbStreamLog> {
    const opened = recover(dir, id, db);
    const log = new LmdbStreamLog(settings, opened, dir, id, db, hooks);
    // What recovery read past the checkpoint is indexed at once, so it is not read again.
    await log.checkpoint();
    return log;
  }

  protected encode(
    entry: StreamEntry,
    producer: { name: string; sequence: number } | undefined,
  ): EncodedFrame {
    const m = entry.message;
    const meta: Meta = [
      m.exchange,
      m.routingKey,
      escapeStoredKeys(m.properties),
      producer?.name ?? null,
      producer?.sequence ?? 0,
    ];
    // A view of msgpackr's scratch buffer, valid until its next pack: copied right away.
    const packed = metaCodec.pack(meta);
    const length = PAYLOAD_HEAD + packed.length + m.body.length;
    const frame = Buffer.allocUnsafe(FRAME_HEADER + length);
    const at = FRAME_HEADER;
    frame.writeDoubleLE(entry.offset, at);
    frame.writeDoubleLE(entry.timestamp, at + 8);
    frame.writeUInt32LE(packed.length, at + 16);
    packed.copy(frame, at + PAYLOAD_HEAD);
    m.body.copy(frame, at + PAYLOAD_HEAD + packed.length);
    sealFrame(frame, 0, length);
    return { byteLength: frame.length, frame, offset: entry.offset };
  }

  protected async write(w: StreamWrite<EncodedFrame>): Promise<void> {
    /** What to put back if a write fails: the offsets of this append are assigned again. */
    const undo: { f: SegmentFile; size: number; created: boolean }[] = [];
    try {
      for (const piece of w.pieces) {
        let f = this.files.get(piece.segment.id);
        const created = !f || piece.created;
        if (created) {
          // The segment appended to so far is closed now: its file joins the bounded set.
          for (const prev of this.files.values()) if (prev.fd >= 0) this.retire(prev);
          f = {
            row: piece.segment,
            gen: 0,
            fd: createDurableFile(join(this.dir, fileName(piece.segment.id, 0))),
            size: 0,
            sampleOffsets: [],
            samplePositions: [],
            dirty: true,
          };
          this.files.set(piece.segment.id, f);
        }
        undo.push({ f: f!, size: f!.size, created });
        const buf =
          piece.entries.length === 1
            ? piece.entries[0]!.frame
            : Buffer.concat(piece.entries.map((e) => e.frame));
        await writeFully(f!.fd, buf, buf.length, f!.size);
      }
      if (undo.some((u) => u.created)) fsyncDirectory(this.dir);
    } catch (err) {
      this.undoWrite(undo);
      throw err;
    }
    w.pieces.forEach((piece, i) => {
      const f = undo[i]!.f;
      let pos = f.size;
      for (const e of piece.entries) {
        sample(f, e.offset, pos);
        pos += e.byteLength;
      }
      f.size = pos;
      f.row = piece.segment;
      f.dirty = true;
    });
    for (const [name, seq] of w.producers) this.producersDirty.set(name, seq);
    this.scheduleCheckpoint();
  }

  /**
   * Cuts what a failed append wrote (a full disk mid-way), so no frame of it is read back after
   * a crash with offsets the next append reuses; a segment it created goes.
   */
  private undoWrite(undo: readonly { f: SegmentFile; size: number; created: boolean }[]): void {
    for (const { f, size, created } of undo) {
      if (created) {
        this.closeFile(f);
        this.files.delete(f.row.id);
        unlinkSync(join(this.dir, fileName(f.row.id, 0)));
      } else ftruncateSync(f.fd, size);
    }
  }

  protected async readSegment(
    segment: StreamSegment,
    from: number,
    maxCount: number,
  ): Promise<SizedStreamEntry[]> {
    const out: SizedStreamEntry[] = [];
    // A few entries (a timestamp search's probe) are within a sample's span of where the scan starts.
    const chunk = maxCount <= SMALL_READ ? SAMPLE_BYTES + SMALL_READ_SLACK : READ_CHUNK;
    await this.scan(segment, from, chunk, (payload, bytes) => {
      const offset = payload.readDoubleLE(0);
      if (offset < from) return true;
      out.push({ entry: decodeEntry(payload), bytes });
      return out.length < maxCount;
    });
    return out;
  }

  /**
   * Visits the frames of a segment from the sample at or before `from`, below the segment's
   * nextOffset, until visit returns false.
   */
  private async scan(
    segment: StreamSegment,
    from: number,
    chunk: number,
    visit: (payload: Buffer, bytes: number) => boolean,
  ): Promise<void> {
    const f = this.files.get(segment.id);
    if (!f) return;
    const fd = this.fdOf(f);
    const limit = f.size;
    let pos = f.samplePositions[lastAtOrBefore(f.sampleOffsets, from)] ?? 0;
    let want = chunk;
    for (let going = true; going && pos < limit;) {
      const buf = Buffer.allocUnsafe(Math.min(want, limit - pos));
      const got = readFully(fd, buf, pos);
      const used = scanFrames(buf, got, (payload) => {
        if (payload.readDoubleLE(0) >= segment.nextOffset || !visit(payload, payload.length + FRAME_HEADER)) {
          going = false;
          return false;
        }
      });
      if (!going) return;
      if (used === 0) {
        // A frame bigger than the chunk: read it whole. Anything else is damage in durable bytes.
        const size = got >= FRAME_HEADER ? FRAME_HEADER + buf.readUInt32LE(0) : 0;
        if (size <= got || pos + size > limit)
          throw new Error(
            `stream segment ${join(this.dir, fileName(segment.id, f.gen))} is damaged at ${pos}`,
          );
        want = size;
        continue;
      }
      pos += used;
      want = chunk;
    }
  }

  protected async deleteSegments(segments: readonly StreamSegment[]): Promise<void> {
    // Rows first: a file without a row below the newest one is deleted at the next open.
    await this.checkpoint();
    await Promise.all(segments.map((s) => this.db.remove([this.id, 's', s.id])));
    for (const s of segments) {
      const f = this.files.get(s.id);
      if (!f) continue;
      this.closeFile(f);
      this.files.delete(s.id);
      unlinkSync(join(this.dir, fileName(s.id, f.gen)));
    }
  }

  protected async dropEntries(segment: StreamSegment, offsets: readonly number[]): Promise<void> {
    const f = this.files.get(segment.id);
    if (!f) return;
    await this.checkpoint();
    if (offsets.length === 0) {
      f.row = segment;
      await this.db.put([this.id, 's', segment.id], storedRow(f));
      return;
    }
    // The kept frames go into the next generation's file; the row names it once that is
    // durable, and only then does the old file go (see recover()).
    const dropped = new Set(offsets);
    const gen = f.gen + 1;
    const next: SegmentFile = {
      row: segment,
      gen,
      fd: createDurableFile(join(this.dir, fileName(segment.id, gen))),
      size: 0,
      sampleOffsets: [],
      samplePositions: [],
      dirty: false,
    };
    try {
      // A chunk at a time, so a segment of any size is rewritten in bounded memory.
      for (let from = f.row.firstOffset; from < f.row.nextOffset;) {
        const kept: Buffer[] = [];
        let keptBytes = 0;
        let scanned = 0;
        let last = -1;
        const start = from;
        await this.scan(f.row, start, READ_CHUNK, (payload, bytes) => {
          const offset = payload.readDoubleLE(0);
          if (offset < start) return true;
          last = offset;
          scanned += bytes;
          if (!dropped.has(offset)) {
            sample(next, offset, next.size + keptBytes);
            const frame = Buffer.allocUnsafe(bytes);
            payload.copy(frame, FRAME_HEADER);
            sealFrame(frame, 0, payload.length);
            kept.push(frame);
            keptBytes += bytes;
          }
          return scanned < READ_CHUNK;
        });
        if (last < 0) break;
        const buf = Buffer.concat(kept);
        await writeFully(next.fd, buf, buf.length, next.size);
        next.size += buf.length;
        from = last + 1;
      }
      fsyncDirectory(this.dir);
      await this.db.put([this.id, 's', segment.id], storedRow(next));
    } catch (err) {
      closeSync(next.fd);
      unlinkSync(join(this.dir, fileName(segment.id, gen)));
      throw err;
    }
    this.closeFile(f);
    unlinkSync(join(this.dir, fileName(segment.id, f.gen)));
    this.files.set(segment.id, next);
    this.retire(next);
  }

  protected async writeConsumerOffset(name: string, offset: number): Promise<void> {
    await this.db.put([this.id, 'c', name], offset);
  }

  protected async release(): Promise<void> {
    clearTimeout(this.checkpointTimer);
    await this.checkpoint();
    for (const f of this.files.values()) this.closeFile(f);
    this.hooks.onClose();
  }

  /** Writes the rows and producer sequences changed since the last checkpoint. */
  checkpoint(): Promise<void> {
    const run = this.checkpointing.then(async () => {
      clearTimeout(this.checkpointTimer);
      this.checkpointTimer = undefined;
      const writes: Promise<unknown>[] = [];
      for (const [segId, f] of this.files) {
        if (!f.dirty) continue;
        f.dirty = false;
        writes.push(this.db.put([this.id, 's', segId], storedRow(f)));
      }
      const producers = [...this.producersDirty];
      this.producersDirty.clear();
      for (const [name, seq] of producers) writes.push(this.db.put([this.id, 'p', name], seq));
      try {
        await Promise.all(writes);
      } catch (err) {
        // Written again with the next checkpoint (unless a later sequence replaced them).
        for (const f of this.files.values()) f.dirty = true;
        for (const [name, seq] of producers)
          if (!this.producersDirty.has(name)) this.producersDirty.set(name, seq);
        throw err;
      }
    });
    this.checkpointing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointTimer) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      this.checkpoint().catch((err: unknown) => this.reportCheckpointFailure(err));
    }, CHECKPOINT_MS);
    this.checkpointTimer.unref();
  }

  /**
   * A background checkpoint failed (a full disk): the rows are written again with the next
   * one, and the store is told (nothing is lost: recovery reads past the old rows).
   */
  private reportCheckpointFailure(err: unknown): void {
    this.hooks.onFailure(err);
  }

  private fdOf(f: SegmentFile): number {
    if (f.fd < 0) {
      f.fd = reopenDurableFile(join(this.dir, fileName(f.row.id, f.gen)));
      this.retire(f);
    } else this.touch(f);
    return f.fd;
  }

  /** A closed segment's open file: kept among the OPEN_FILES most recently used. */
  private retire(f: SegmentFile): void {
    if (this.openClosed.includes(f)) return;
    this.openClosed.push(f);
    if (this.openClosed.length > OPEN_FILES) this.closeFile(this.openClosed[0]!);
  }

  private touch(f: SegmentFile): void {
    const i = this.openClosed.indexOf(f);
    if (i >= 0) {
      this.openClosed.splice(i, 1);
      this.openClosed.push(f);
    }
  }

  private closeFile(f: SegmentFile): void {
    const i = this.openClosed.indexOf(f);
    if (i >= 0) this.openClosed.splice(i, 1);
    if (f.fd >= 0) closeSync(f.fd);
    f.fd = -1;
  }
}

/** Adds a position sample for the frame of `offset` at `pos` if it is the file's first or SAMPLE_BYTES past the last. */
function sample(f: SegmentFile, offset: number, pos: number): void {
  const last = f.samplePositions[f.samplePositions.length - 1];
  if (last === undefined || pos - last >= SAMPLE_BYTES) {
    f.sampleOffsets.push(offset);
    f.samplePositions.push(pos);
  }
}

/** Index of the last element <= v (0 if none: scanning starts at the file's start). */
function lastAtOrBefore(sorted: readonly number[], v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return Math.max(0, lo - 1);
}

function storedRow(f: SegmentFile): StoredRow {
  return { r: f.row, g: f.gen, z: f.size, so: f.sampleOffsets, sp: f.samplePositions };
}

function decodeMeta(payload: Buffer): Meta {
  const metaLength = payload.readUInt32LE(16);
  // Copied: values unpacked from a view would keep the whole read chunk alive.
  return metaCodec.unpack(Buffer.from(payload.subarray(PAYLOAD_HEAD, PAYLOAD_HEAD + metaLength))) as Meta;
}

function decodeEntry(payload: Buffer): StreamEntry {
  const [exchange, routingKey, properties] = decodeMeta(payload);
  const metaLength = payload.readUInt32LE(16);
  return {
    offset: payload.readDoubleLE(0),
    timestamp: payload.readDoubleLE(8),
    message: {
      exchange,
      routingKey,
      properties: unescapeStoredKeys(properties),
      body: Buffer.from(payload.subarray(PAYLOAD_HEAD + metaLength)),
    },
  };
}

/**
 * Reads a stream's index rows and its files back (see the header): replays frames past the
 * checkpoint, cuts a torn tail, deletes what an interrupted retention or compaction left.
 */
function recover(dir: string, id: number, db: Database<unknown, StreamKey>): Opened {
  const rows = new Map<number, StoredRow>();
  const producers = new Map<string, number>();
  const consumers = new Map<string, number>();
  for (const { key, value } of db.getRange({ start: [id], end: [id + 1] })) {
    const kind = key[1];
    if (kind === 's') rows.set(key[2] as number, value as StoredRow);
    else if (kind === 'p') producers.set(key[2] as string, value as number);
    else if (kind === 'c') consumers.set(key[2] as string, value as number);
  }
  const newest = Math.max(-1, ...rows.keys());
  const files = new Map<number, SegmentFile>();
  const fresh: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = NAME.exec(name);
    if (!m) continue;
    const segId = Number(m[1]);
    const gen = Number(m[2]);
    const row = rows.get(segId);
    if (row ? row.g !== gen : segId <= newest) {
      unlinkSync(join(dir, name));
      continue;
    }
    if (!row) {
      fresh.push(segId);
      continue;
    }
    files.set(segId, {
      row: row.r,
      gen,
      fd: -1,
      size: row.z,
      sampleOffsets: row.so,
      samplePositions: row.sp,
      dirty: false,
    });
  }
  for (const segId of rows.keys())
    if (!files.has(segId))
      throw new Error(
        `stream ${id}: segment ${segId} is indexed but its file ${join(dir, fileName(segId, rows.get(segId)!.g))} is missing`,
      );
  fresh.sort((a, b) => a - b);
  const replayedProducers = new Map<string, number>();
  let next = newest >= 0 ? rows.get(newest)!.r.nextOffset : 0;
  const order = [...(newest >= 0 ? [newest] : []), ...fresh];
  let cut = false;
  for (const segId of order) {
    const existing = files.get(segId);
    const path = join(dir, fileName(segId, existing?.gen ?? 0));
    if (cut) {
      // After a torn frame nothing later was durable (writes go in order).
      unlinkSync(path);
      continue;
    }
    const fd = reopenDurableFile(path);
    const f: SegmentFile = existing ?? {
      row: {
        id: segId,
        firstOffset: next,
        nextOffset: next,
        firstTimestamp: 0,
        lastTimestamp: 0,
        bytes: 0,
        entries: 0,
        compacted: false,
      },
      gen: 0,
      fd: -1,
      size: 0,
      sampleOffsets: [],
      samplePositions: [],
      dirty: true,
    };
    f.fd = fd;
    const end = fstatSync(fd).size;
    if (end > f.size) {
      const buf = Buffer.allocUnsafe(end - f.size);
      const got = readFully(fd, buf, f.size);
      let row = f.row;
      const used = scanFrames(buf, got, (payload, at) => {
        const offset = payload.readDoubleLE(0);
        if (offset !== next) return false;
        const timestamp = payload.readDoubleLE(8);
        const [, , , producer, seq] = decodeMeta(payload);
        if (producer !== null) replayedProducers.set(producer, seq);
        sample(f, offset, f.size + at);
        row = {
          ...row,
          firstTimestamp: row.entries === 0 ? timestamp : row.firstTimestamp,
          nextOffset: offset + 1,
          lastTimestamp: timestamp,
          bytes: row.bytes + FRAME_HEADER + payload.length,
          entries: row.entries + 1,
        };
        next = offset + 1;
      });
      f.row = row;
      if (used < end - f.size) {
        ftruncateSync(fd, f.size + used);
        cut = true;
      }
      f.size += used;
      f.dirty = true;
    } else if (end < f.size) {
      closeSync(fd);
      throw new Error(
        `stream ${id}: segment file ${path} is shorter (${end}) than its index says (${f.size})`,
      );
    }
    if (f.row.entries === 0 && !existing) {
      // A segment created but never durably written to.
      closeSync(fd);
      unlinkSync(path);
      continue;
    }
    files.set(segId, f);
  }
  // Only the active (last) segment stays open; closed ones open when read.
  const ordered = [...files.values()].sort((a, b) => a.row.id - b.row.id);
  for (const f of ordered.slice(0, -1)) {
    if (f.fd >= 0) closeSync(f.fd);
    f.fd = -1;
  }
  const last = ordered[ordered.length - 1];
  if (last && last.fd < 0) last.fd = reopenDurableFile(join(dir, fileName(last.row.id, last.gen)));
  for (const [name, seq] of replayedProducers) producers.set(name, seq);
  return {
    files,
    recovered: { segments: ordered.map((f) => f.row), nextOffset: next, producers, consumers },
    replayedProducers,
  };
}
