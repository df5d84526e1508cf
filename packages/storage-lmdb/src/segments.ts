/**
 * Message bodies in append-only segment files, beside the LMDB index (see lmdb-store.ts).
 *
 * Why not in LMDB: LMDB reads through a memory map, and every page it touches (B-tree
 * inserts read the rightmost leaf; deletes copy the leaf) stays in the broker's RSS. With
 * 1 KiB bodies inline, a 1M-message backlog put ~1 GiB of mapped file into the broker's RSS.
 * Here bodies are appended with write() and read back with pread(): they live in the page
 * cache, not in the process, and a deep queue costs only its small index entries.
 *
 * Each body is written once (a fanout's queues share it) at a location { s, o, l, c }:
 * segment number, offset, length and CRC-32. The index entry holding the location is the
 * only reference; segment files carry no framing. A read whose bytes are short or fail the
 * CRC returns undefined: that is a body whose write never became durable (a crash between
 * the index commit and the segment fsync, so never confirmed) or a damaged disk.
 *
 * Segments are recycled whole: each counts the index entries that point into it, and a
 * segment that is full and has no entries left is deleted once the commit removing its last
 * entry is durable.
 */
import { closeSync, fdatasync, fstatSync, fsyncSync, openSync, readdirSync, readSync, unlinkSync, write } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

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

/** Appended bytes not yet written to their file; reads of them are served from here. */
interface Pending {
  readonly seg: Segment;
  readonly position: number;
  readonly bytes: Buffer[];
  length: number;
}

const NAME = /^(\d{8})\.seg$/;
const fileName = (n: number): string => `${String(n).padStart(8, '0')}.seg`;

export class SegmentFiles {
  private readonly segments = new Map<number, Segment>();
  private active!: Segment;
  /** Appended since the last flush began. */
  private pending: Pending[] = [];
  /** Handed to a flush that has not yet written them. */
  private writing: Pending[] = [];
  private flushing: Promise<void> | undefined;
  /** The highest segment found at open (0: none): the last run was appending to it. */
  lastRecovered = 0;
  private queued: Promise<void> | undefined;

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
    if (seg.live <= 0 && seg !== this.active && !this.unwritten(seg) && this.segments.has(seg.n)) this.delete(seg);
  }

  /** Deletes every segment no entry points into (after recovery counted them). */
  collect(): void {
    for (const seg of [...this.segments.values()]) {
      if (seg.live <= 0 && seg !== this.active) this.delete(seg);
    }
  }

  /**
   * Reserves a location for `bytes` and queues them for the next flush. The caller then
   * retains the segment once per index entry it writes with the location.
   */
  append(bytes: Buffer): Location {
    if (this.active.size > 0 && this.active.size + bytes.length > this.maxBytes) {
      const full = this.active;
      this.active = this.create(full.n + 1);
      this.deleteIfEmpty(full);
    }
    const seg = this.active;
    const loc = { s: seg.n, o: seg.size, l: bytes.length, c: crc32(bytes) };
    seg.size += bytes.length;
    const tail = this.pending[this.pending.length - 1];
    if (tail && tail.seg === seg) {
      tail.bytes.push(bytes);
      tail.length += bytes.length;
    } else {
      this.pending.push({ seg, position: loc.o, bytes: [bytes], length: bytes.length });
    }
    return loc;
  }

  /**
   * Settles when every byte appended so far is written and fdatasync'ed. Appends made while
   * a flush runs share the next one (group commit).
   */
  durable(): Promise<void> {
    if (this.pending.length === 0) return this.flushing ?? Promise.resolve();
    return (this.queued ??= this.flushAfter(this.flushing));
  }

  private async flushAfter(previous: Promise<void> | undefined): Promise<void> {
    // Always yield once, so every append of the current tick joins this flush.
    await previous?.catch(() => {});
    this.queued = undefined;
    const batch = this.pending;
    this.pending = [];
    this.writing = batch;
    const run = this.flush(batch);
    this.flushing = run;
    try {
      await run;
    } finally {
      if (this.flushing === run) this.flushing = undefined;
      this.writing = [];
      // Entries removed before their bytes were written leave nothing to wait for.
      for (const p of batch) this.deleteIfEmpty(p.seg);
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    const touched = new Set<Segment>();
    for (const p of batch) {
      const buf = p.bytes.length === 1 ? p.bytes[0]! : Buffer.concat(p.bytes, p.length);
      let done = 0;
      while (done < buf.length) {
        done += await new Promise<number>((resolve, reject) =>
          write(p.seg.fd, buf, done, buf.length - done, p.position + done, (err, n) => (err ? reject(err) : resolve(n))),
        );
      }
      touched.add(p.seg);
    }
    await Promise.all(
      [...touched].map((seg) => new Promise<void>((resolve, reject) => fdatasync(seg.fd, (err) => (err ? reject(err) : resolve())))),
    );
    if ([...touched].some((seg) => seg.newFile)) {
      // A new file's name is durable only once its directory is.
      const dirFd = openSync(this.dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
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
    await this.durable().catch(() => {});
    for (const seg of this.segments.values()) closeSync(seg.fd);
    this.segments.clear();
  }

  /** Whether the segment file holds the bytes of `loc` at all (a cheap check, no read). */
  holds(loc: Location): boolean {
    const seg = this.segments.get(loc.s);
    return seg !== undefined && loc.o + loc.l <= seg.size;
  }

  private create(n: number): Segment {
    const fd = openSync(join(this.dir, fileName(n)), 'w+');
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
    return this.pending.some((p) => p.seg === seg) || this.writing.some((p) => p.seg === seg);
  }

  /** A copy of bytes still in memory (appended but maybe not yet in the file). */
  private unwrittenBytes(seg: Segment, loc: Location): Buffer | undefined {
    for (const list of [this.writing, this.pending]) {
      for (const p of list) {
        if (p.seg !== seg || loc.o < p.position || loc.o + loc.l > p.position + p.length) continue;
        let at = p.position;
        for (const b of p.bytes) {
          if (loc.o >= at && loc.o + loc.l <= at + b.length) return b.subarray(loc.o - at, loc.o - at + loc.l);
          at += b.length;
        }
      }
    }
    return undefined;
  }
}
