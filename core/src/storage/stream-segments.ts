/**
 * The segment table every store keeps for a stream, and the decisions made on it: where an
 * offset or a timestamp lives (binary search over segments), when the active segment rolls,
 * which whole segments retention deletes. One copy of these rules for memory, embedded and
 * Redis, so the three stores agree on what a stream holds after the same appends.
 */
import type { StreamSettings } from './stream-log.js';

/** A run of consecutive offsets stored together. Immutable: an update replaces it. */
export interface StreamSegment {
  /** Increasing, never reused within a stream (the embedded store's file name, Redis' key suffix). */
  readonly id: number;
  /** First offset assigned to the segment. */
  readonly firstOffset: number;
  /** One past the last offset assigned to it. */
  readonly nextOffset: number;
  readonly firstTimestamp: number;
  readonly lastTimestamp: number;
  /** Encoded bytes of the entries it holds (what maxBytes and maxSegmentBytes count). */
  readonly bytes: number;
  /** Entries it holds: fewer than nextOffset - firstOffset once compaction dropped some. */
  readonly entries: number;
  /** Compaction has run over it since it was closed (it is "clean" in Kafka's words). */
  readonly compacted: boolean;
}

/** Index of the segment holding `offset`, or of the first one after it (segments.length if none). */
export function segmentIndexForOffset(segments: readonly StreamSegment[], offset: number): number {
  let lo = 0;
  let hi = segments.length;
  // First segment whose nextOffset > offset: it holds the offset, or it is the next one after a gap.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segments[mid]!.nextOffset <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first segment whose newest entry is at or after `ts` (segments.length if none). */
export function segmentIndexForTimestamp(segments: readonly StreamSegment[], ts: number): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segments[mid]!.lastTimestamp < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Whether an entry of `bytes` starts a new segment: the active one would pass maxSegmentBytes.
 * An entry larger than a segment still gets a segment of its own.
 */
export function rollsBefore(
  active: StreamSegment | undefined,
  bytes: number,
  maxSegmentBytes: number,
): boolean {
  return !active || (active.bytes > 0 && active.bytes + bytes > maxSegmentBytes);
}

/**
 * How many of the oldest segments retention deletes at `now`: while the stream holds more than
 * maxBytes, or the segment's newest entry is older than maxAgeMs. Never the last (active) one,
 * so the stream keeps its nextOffset and a tailing reader its place.
 */
export function segmentsPastRetention(
  segments: readonly StreamSegment[],
  settings: StreamSettings,
  now: number,
): number {
  let total = 0;
  for (const s of segments) total += s.bytes;
  let n = 0;
  while (n < segments.length - 1) {
    const s = segments[n]!;
    const tooBig = settings.maxBytes !== undefined && total > settings.maxBytes;
    const tooOld = settings.maxAgeMs !== undefined && s.lastTimestamp < now - settings.maxAgeMs;
    if (!tooBig && !tooOld) break;
    total -= s.bytes;
    n++;
  }
  return n;
}

/**
 * How many leading entries of an append a deduplicating producer already stored: entry i has
 * sequence firstSequence + i, and those up to `last` were appended before.
 */
export function duplicatesAtStart(last: number | undefined, firstSequence: number, count: number): number {
  if (last === undefined) return 0;
  return Math.max(0, Math.min(count, last - firstSequence + 1));
}
