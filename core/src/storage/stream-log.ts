/**
 * The stream log seam: what a store gives a `stream` queue. A stream is an append-only log of
 * messages, read without removing (each consumer keeps its own offset), retained by size and
 * age, optionally compacted by routing key. Every store keeps it in segments (a run of
 * consecutive offsets stored together) because retention and compaction work on whole
 * segments: deleting the oldest segment is one unlink / one DEL, never a scan of entries, and
 * finding an offset or a timestamp is a binary search over the segment table
 * (stream-segments.ts) plus a scan inside one segment.
 */
import type { MessageProperties } from '../message.js';

/** What a stream holds per message: the core's stored message without a queue message id. */
export interface StreamMessage {
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly body: Buffer;
}

export interface StreamEntry {
  /** Dense, starting at 0, never reused; retention moves firstOffset forward. */
  readonly offset: number;
  /**
   * Epoch ms when appended. Never lower than the entry before it (a clock stepping back is
   * clamped to the previous entry's timestamp), so offsetForTimestamp can binary-search.
   */
  readonly timestamp: number;
  readonly message: StreamMessage;
}

export interface StreamSettings {
  /** x-stream-max-segment-size-bytes (RabbitMQ's default is 500 MB: STREAM_DEFAULT_SEGMENT_BYTES). */
  readonly maxSegmentBytes: number;
  /** x-max-length-bytes: whole segments go, oldest first, while the stream holds more. */
  readonly maxBytes?: number | undefined;
  /** x-max-age in ms: a segment goes when its newest entry is older than this. */
  readonly maxAgeMs?: number | undefined;
  /**
   * Keep only the latest entry per routing key (Kafka's cleanup.policy=compact). Compaction
   * rewrites closed segments only, never the one being appended to, and runs in
   * enforceRetention(); a compacted stream's reads may skip offsets.
   */
  readonly compact?: boolean | undefined;
}

/** RabbitMQ's default x-stream-max-segment-size-bytes. */
export const STREAM_DEFAULT_SEGMENT_BYTES = 500_000_000;

export interface StreamAppend {
  /** Epoch ms (clamped up to the log's last timestamp). */
  readonly timestamp: number;
  readonly message: StreamMessage;
}

/** A deduplicating producer: entry i of an append has sequence firstSequence + i. */
export interface StreamProducer {
  readonly name: string;
  readonly firstSequence: number;
}

export interface StreamStats {
  /** Entries retained (after compaction, fewer than nextOffset - firstOffset). */
  readonly messages: number;
  /** Bytes of the retained entries as the store encodes them: what maxBytes is measured in. */
  readonly bytes: number;
  readonly segments: number;
}

/**
 * One stream's log, opened by Store.openStream. Appends are applied in call order; a read or
 * lookup reflects every append whose promise has settled. One log object per stream: opening
 * a stream that is open returns the same object.
 */
export interface StreamLog {
  /** Oldest offset still retained (the first offset of the oldest segment); nextOffset if empty. */
  readonly firstOffset: number;
  /** Offset the next appended entry gets. */
  readonly nextOffset: number;
  /**
   * Appends in order; resolves once durable (the fsync / Redis write the store's queues wait
   * for) with the offset of the first appended entry (nextOffset before the call) and how many
   * were appended. With a producer, entries whose sequence is <= the producer's last stored
   * sequence are skipped (deduplicated: a publisher resending after a reconnect), and the
   * producer's last sequence is stored in the same durable write as the entries.
   */
  append(
    entries: readonly StreamAppend[],
    producer?: StreamProducer,
  ): Promise<{ firstOffset: number; appended: number }>;
  /** The last sequence stored for a producer; undefined if it never appended. */
  lastProducerSequence(name: string): number | undefined;
  /** At most maxCount entries from `from` (clamped to firstOffset), ascending. */
  read(from: number, maxCount: number): Promise<StreamEntry[]>;
  /** First offset whose timestamp >= ts (nextOffset if none). */
  offsetForTimestamp(ts: number): Promise<number>;
  /**
   * Deletes whole segments past maxBytes / maxAgeMs (never the segment being appended to)
   * and, with compact, compacts the closed segments; returns the new firstOffset. The stream
   * queue type calls it on a timer and after appends; it is bounded by the segments it drops
   * or rewrites.
   */
  enforceRetention(now: number): Promise<number>;
  /**
   * Replaces the settings (a policy changed them): appends planned from now on roll at the new
   * segment size, and the next enforceRetention applies the new limits and compaction. No store
   * keeps them: they come from the queue's arguments and policy, which the definitions keep,
   * and are given again at each openStream.
   */
  updateSettings(settings: StreamSettings): void;
  /** Named consumer offsets (server-side tracking), durable when the promise settles. */
  storeConsumerOffset(name: string, offset: number): Promise<void>;
  consumerOffset(name: string): number | undefined;
  stats(): StreamStats;
  /** Waits for pending appends, then releases the log; the stream stays in the store. */
  close(): Promise<void>;
}

/**
 * Longest producer or consumer name, in UTF-8 bytes (RabbitMQ's stream reference limit): names
 * are keys in every store, and the embedded store's keys are bounded.
 */
export const STREAM_NAME_MAX_BYTES = 255;

/** Checks settings every store relies on (the stream queue type validates arguments first, with 406). */
export function checkStreamSettings(s: StreamSettings): void {
  const positive = (v: number | undefined): boolean => v === undefined || (Number.isSafeInteger(v) && v > 0);
  if (!positive(s.maxSegmentBytes) || !positive(s.maxBytes) || !positive(s.maxAgeMs))
    throw new RangeError(
      `stream settings must be positive integers: ${JSON.stringify({ ...s, compact: undefined })}`,
    );
}

/** Refuses a producer or consumer name no store can key on (the protocol side checks first, with 406). */
export function checkStreamName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > STREAM_NAME_MAX_BYTES)
    throw new RangeError(`stream producer and consumer names are 1 to ${STREAM_NAME_MAX_BYTES} bytes`);
}
