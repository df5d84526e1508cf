/**
 * The embedded store's log: append-only segment files beside the LMDB index (see
 * lmdb-store.ts), holding message bodies and the acks of messages not yet indexed.
 *
 * Why bodies are not in LMDB: LMDB reads through a memory map, and every page it touches
 * (B-tree inserts read the rightmost leaf; deletes copy the leaf) stays in the broker's RSS.
 * With 1 KiB bodies inline, a 1M-message backlog put ~1 GiB of mapped file into the broker's
 * RSS. Here records are appended with write() and read back with pread(): they live in the
 * page cache, not in the process, and a deep queue costs only its small index entries.
 *
 * A record is framed (frames.ts): u32 payload length, u32 CRC-32 of the payload, the payload. Its
 * location { s, o, l, c } (segment number, payload offset, length and CRC) is what an index
 * entry keeps; a read whose bytes are short or fail the CRC returns undefined. The framing
 * lets the store read the log back in order from a checkpoint (replay): that is how records
 * appended since the last index write survive a crash. Replay of a segment stops at the
 * first frame that is short or fails its CRC: the tail an interrupted write left, never
 * durable, so never confirmed.
 *
 * Segments are recycled whole: each counts the entries (indexed or not) that point into it,
 * and a segment that is full, has no entries left and lies before the checkpoint segment
 * (replay never reads it again) is deleted.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import {
  createDurableFile,
  FRAME_HEADER,
  fsyncDirectory,
  readFully,
  scanFrames,
  sealFrame,
  writeFully,
} from './frames.js';
import type { RecordWriter } from './records.js';

/** Flushes writing at once, at most (the thread pool has 4 threads by default). */
const MAX_WRITES = 3;

/** A place in the log: segment number and byte offset. */
export interface LogPosition {
  readonly s: number;
  readonly o: number;
}

export interface Location {
  /** Segment number. */
  readonly s: number;
  /** Offset in the segment. */
  readonly o: number;
  /** Length in bytes. */
  readonly l: number;
  /** CRC-32 of the bytes. */
  readonly c: number;
}

interface Segment {
  readonly n: number;
  readonly fd: number;
  /** Bytes handed out (appended, written or not). */
  size: number;
  /** Index entries pointing into it. */
  live: number;
  /** Created since the directory was last fsynced. */
  newFile: boolean;
}

/**
 * Appended bytes not yet written to their file, contiguous in one write buffer; reads of them
 * are served from here.
 */
interface Pending {
  readonly seg: Segment;
  /** Offset in the segment of buf[0]. */
  readonly position: number;
  readonly buf: Buffer;
  /** Bytes of buf in use. */
  length: number;
}

/**
 * Records are encoded straight into write buffers of this size (a bigger record gets its own):
 * no buffer per record, no copy into a batch, one write() per flush. Each write still costs
 * ~50 us of event loop under load (measured around the call: the hand-off to the thread
 * pool), which is why a flush gathers a whole loop iteration (see startFlush).
 */
const WRITE_BUFFER_BYTES = 128 * 1024;
/** Write buffers kept for reuse once written. */
const SPARE_BUFFERS = 8;

const NAME = /^(\d{8})\.seg$/;
const fileName = (n: number): string => `${String(n).padStart(8, '0')}.seg`;

export class SegmentFiles {
  private readonly segments = new Map<number, Segment>();
  private active!: Segment;
  /** Appended since the last flush began. */
  private pending: Pending[] = [];
  /** Batches handed to flushes whose writes have not completed, oldest first. */
  private readonly writing: { readonly batch: Pending[]; written: Promise<void> }[] = [];
  /** Settles when every batch handed to a flush so far is durable. */
  private flushed: Promise<void> | undefined;
  /** The flush the appends of the current event-loop iteration will join. */
  private queued: Promise<void> | undefined;
  /** The highest segment found at open (0: none): the last run was appending to it. */
  lastRecovered = 0;
  /** Segments from this number on may still be replayed: they are kept even when empty. */
  private keepFrom = 0;

  /**
   * @param dir the directory holding the segment files (created by the caller)
   * @param maxBytes a segment takes new bodies until it holds this many bytes
   */
  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  /** Opens the existing segments for reading and starts a fresh one for appending. */
  open(): void {
    let last = 0;
    for (const name of readdirSync(this.dir)) {
      const m = NAME.exec(name);
      if (!m) continue;
      const n = Number(m[1]);
      const fd = openSync(join(this.dir, name), 'r');
      // Never appended to again (a new active segment follows), so `size` is the file's.
      this.segments.set(n, { n, fd, size: fstatSync(fd).size, live: 0, newFile: false });
      last = Math.max(last, n);
    }
    this.lastRecovered = last;
    this.active = this.create(last + 1);
  }

  /** One more index entry points into segment `s` (call once per entry, also at recovery). */
  retain(s: number): void {
    const seg = this.segments.get(s);
    if (seg) seg.live++;
  }

  /** Index entries gone (their removal is durable); empty full segments are deleted. */
  release(s: number): void {
    const seg = this.segments.get(s);
    if (!seg) return;
    seg.live--;
    this.deleteIfEmpty(seg);
  }

  private deleteIfEmpty(seg: Segment): void {
    if (
      seg.live <= 0 &&
      seg.n < this.keepFrom &&
      seg !== this.active &&
      !this.unwritten(seg) &&
      this.segments.has(seg.n)
    ) {
      this.delete(seg);
    }
  }

  /**
   * The store's checkpoint moved to segment `s`: replay starts there from now on, so the
   * segments before it that no entry points into can go.
   */
  checkpointAt(s: number): void {
    if (s <= this.keepFrom) return;
    this.keepFrom = s;
    for (const seg of [...this.segments.values()]) this.deleteIfEmpty(seg);
  }

  /** Where the next record will go: everything appended so far lies before it. */
  position(): LogPosition {
    return { s: this.active.n, o: this.active.size };
  }

  /**
   * Reserves a location for a record, writes it into the write buffer with its frame header,
   * and queues it for the next flush. The caller then retains the segment once per entry it
   * keeps with the location.
   */
  append(record: RecordWriter): Location {
    const bytes = FRAME_HEADER + record.size;
    if (this.active.size > 0 && this.active.size + bytes > this.maxBytes) {
      const full = this.active;
      this.active = this.create(full.n + 1);
      this.deleteIfEmpty(full);
    }
    const seg = this.active;
    let p = this.pending[this.pending.length - 1];
    if (!p || p.seg !== seg || p.length + bytes > p.buf.length) {
      const buf =
        bytes <= WRITE_BUFFER_BYTES
          ? (this.spare.pop() ?? Buffer.allocUnsafeSlow(WRITE_BUFFER_BYTES))
          : Buffer.allocUnsafeSlow(bytes);
      p = { seg, position: seg.size, buf, length: 0 };
      this.pending.push(p);
    }
    const at = p.length;
    record.write(p.buf, at + FRAME_HEADER);
    const loc = {
      s: seg.n,
      o: seg.size + FRAME_HEADER,
      l: record.size,
      c: sealFrame(p.buf, at, record.size),
    };
    p.length += bytes;
    seg.size += bytes;
    return loc;
  }

  /** Write buffers whose bytes are in their files, for reuse. */
  private readonly spare: Buffer[] = [];

  /**
   * Reads every record from `from` on, in log order, handing each to `visit` (the payload is
   * a view of a scratch buffer: copy what is kept). Call after open(), before appending.
   */
  replay(from: LogPosition, visit: (loc: Location, payload: Buffer) => void): void {
    const numbers = [...this.segments.keys()]
      .filter((n) => n >= from.s && n !== this.active.n)
      .sort((a, b) => a - b);
    for (const n of numbers) {
      const seg = this.segments.get(n)!;
      const start = n === from.s ? from.o : 0;
      if (seg.size <= start) continue;
      const buf = Buffer.allocUnsafe(seg.size - start);
      const got = readFully(seg.fd, buf, start);
      scanFrames(buf, got, (payload, at, crc) => {
        visit({ s: n, o: start + at + FRAME_HEADER, l: payload.length, c: crc }, payload);
      });
    }
  }

  /**
   * Settles when every byte appended so far is written and durable. The appends of one
   * event-loop iteration share a write (group commit).
   *
   * Up to MAX_WRITES flushes run at once: an iteration's appends start their write at once
   * rather than waiting for the write before to finish, which took much of a confirm's wait
   * under load. A flush still settles only once every earlier one has: replay stops at the
   * first torn record, so a record counts as durable only with everything before it. For the
   * same reason a failed write fails every later flush too (the log has a hole).
   */
  durable(): Promise<void> {
    if (this.pending.length === 0) return this.flushed ?? Promise.resolve();
    return (this.queued ??= this.startFlush());
  }

  private async startFlush(): Promise<void> {
    // Every append of this turn of the event loop joins the flush (all I/O callbacks of the
    // poll phase: several socket reads and the acks they carry share one write).
    await new Promise((resolve) => setImmediate(resolve));
    // Only waiting for a slot: a failed write is reported to its own flush's awaiters.
    while (this.writing.length >= MAX_WRITES) await Promise.allSettled([this.writing[0]!.written]);
    this.queued = undefined;
    const w = { batch: this.pending, written: Promise.resolve() };
    this.pending = [];
    this.writing.push(w);
    w.written = this.flush(w.batch).finally(() => {
      this.writing.splice(this.writing.indexOf(w), 1);
      for (const p of w.batch) {
        // Entries removed before their bytes were written leave nothing to wait for.
        this.deleteIfEmpty(p.seg);
        if (p.buf.length === WRITE_BUFFER_BYTES && this.spare.length < SPARE_BUFFERS) this.spare.push(p.buf);
      }
    });
    const previous = this.flushed;
    const done = (this.flushed = previous ? Promise.all([previous, w.written]).then(() => {}) : w.written);
    await done;
  }

  private async flush(batch: Pending[]): Promise<void> {
    const touched = new Set<Segment>();
    for (const p of batch) {
      // Segments are opened with O_DSYNC (frames.ts): durable when the write returns.
      await writeFully(p.seg.fd, p.buf, p.length, p.position);
      touched.add(p.seg);
    }
    if ([...touched].some((seg) => seg.newFile)) {
      fsyncDirectory(this.dir);
      for (const seg of touched) seg.newFile = false;
    }
  }

  /** The bytes at `loc`, or undefined when they are missing or fail their checksum. */
  read(loc: Location): Buffer | undefined {
    const seg = this.segments.get(loc.s);
    if (!seg) return undefined;
    let buf = this.unwrittenBytes(seg, loc);
    if (!buf) {
      buf = Buffer.allocUnsafe(loc.l);
      if (readSync(seg.fd, buf, 0, loc.l, loc.o) !== loc.l) return undefined;
    }
    return crc32(buf) === loc.c ? buf : undefined;
  }

  /** Waits for the flush in progress, then closes every file. */
  async close(): Promise<void> {
    // A failed flush was reported to the appends it carried; closing only waits for it.
    await Promise.allSettled([this.durable()]);
    for (const seg of this.segments.values()) closeSync(seg.fd);
    this.segments.clear();
  }

  /** Whether the segment file holds the bytes of `loc` at all (a cheap check, no read). */
  holds(loc: Location): boolean {
    const seg = this.segments.get(loc.s);
    return seg !== undefined && loc.o + loc.l <= seg.size;
  }

  private create(n: number): Segment {
    const fd = createDurableFile(join(this.dir, fileName(n)));
    const seg: Segment = { n, fd, size: 0, live: 0, newFile: true };
    this.segments.set(n, seg);
    return seg;
  }

  private delete(seg: Segment): void {
    this.segments.delete(seg.n);
    closeSync(seg.fd);
    unlinkSync(join(this.dir, fileName(seg.n)));
  }

  private unwritten(seg: Segment): boolean {
    return (
      this.pending.some((p) => p.seg === seg) || this.writing.some((w) => w.batch.some((p) => p.seg === seg))
    );
  }

  /** A copy of bytes still in memory (appended but maybe not yet in the file). */
  private unwrittenBytes(seg: Segment, loc: Location): Buffer | undefined {
    for (const list of [...this.writing.map((w) => w.batch), this.pending]) {
      for (const p of list) {
        if (p.seg !== seg || loc.o < p.position || loc.o + loc.l > p.position + p.length) continue;
        // A copy: the write buffer is reused once written.
        return Buffer.from(p.buf.subarray(loc.o - p.position, loc.o - p.position + loc.l));
      }
    }
    return undefined;
  }
}
