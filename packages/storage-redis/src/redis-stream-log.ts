/**
 * The Redis store's streams (Store.openStream): one Redis stream per segment, entry ids set
 * to the offsets (XADD '<offset>-1'), and the segment table in a hash (layout:
 * stream-scripts.ts). The rules (offsets, roll, retention, compaction, dedup) are the core's
 * SegmentedStreamLog; this file only stores what it is told.
 *
 * Why a Redis stream per segment: XRANGE from an id is a radix-tree seek, so read(from) is a
 * lookup in the segment table plus one XRANGE, and a compacted segment's gaps cost nothing
 * (XDEL in place, no rewrite). Retention deletes whole segments, one DEL each, never a scan
 * of entries (one big stream would need XTRIM MINID, which walks what it removes, and a
 * list would need LTRIM plus an offset base per compaction). A timestamp lookup is a binary
 * search over segment rows, then over one segment with single-entry XRANGEs.
 *
 * Durability is the store's: an append settles when Redis answered its script, as durable
 * as the server's AOF settings (README). Every key of a stream is under its queue's hash tag
 * (keys.ts) and every script names its keys in KEYS, so a stream lives in one Cluster slot.
 * Like the store's queue writes, every write runs fenced while the queue has an epoch
 * (fence.ts), and is held and retried while Redis refuses it before running (refused.ts).
 */
import type { Cluster, Redis } from 'ioredis';
import {
  SegmentedStreamLog,
  type MessageProperties,
  type QueueRef,
  type RecoveredStream,
  type SizedStreamEntry,
  type StreamEntry,
  type StreamSegment,
  type StreamSettings,
  type StreamWrite,
} from '@junction/core';
import { pack, QueueFencedError, toBuffer, unpack } from '@junction/core';
import { isFenced } from './fence.js';
import type { QueueKeys } from './keys.js';
import { retryRefused } from './refused.js';
import type { StreamScriptName } from './stream-scripts.js';

/** Bytes Redis keeps per stream entry beside its payload (id, field name, listpack overhead), roughly. */
const ENTRY_OVERHEAD = 24;

type Payload = [
  timestamp: number,
  exchange: string,
  routingKey: string,
  properties: MessageProperties,
  body: Uint8Array,
];

interface EncodedEntry {
  readonly byteLength: number;
  readonly offset: number;
  readonly payload: Buffer;
}

type ScriptCaller = Record<
  StreamScriptName,
  (numKeys: number, ...args: (string | Buffer)[]) => Promise<unknown>
>;

/** How a stream's writes are fenced and held (the store's settings for its queue). */
export interface StreamFence {
  readonly ref: QueueRef;
  /** The epoch the queue is owned under now; undefined: unfenced. */
  epoch(): number | undefined;
  /** How long a write Redis refused before running is retried (refused.ts). */
  readonly holdMs: number;
}

/** Runs a stream script, fenced if the queue has an epoch, held while Redis refuses it. */
async function runStreamScript(
  redis: Redis | Cluster,
  fence: StreamFence,
  epochKey: string,
  name: Exclude<StreamScriptName, `${string}Fenced`>,
  keys: string[],
  args: (string | Buffer)[],
): Promise<unknown> {
  const scripts = redis as unknown as ScriptCaller;
  const epoch = fence.epoch();
  const run = (): Promise<unknown> =>
    epoch === undefined
      ? scripts[name](keys.length, ...keys, ...args)
      : scripts[`${name}Fenced`](keys.length + 1, epochKey, ...keys, String(epoch), ...args);
  try {
    return await retryRefused(run, fence.holdMs);
  } catch (err) {
    if (epoch !== undefined && isFenced(err))
      throw new QueueFencedError(fence.ref.vhost, fence.ref.queue, epoch, { cause: err });
    throw err;
  }
}

/** The keys of one stream, under its queue's hash tag. */
export class StreamKeys {
  readonly base: string;
  readonly epoch: string;
  constructor(queue: QueueKeys) {
    this.base = queue.stream;
    this.epoch = queue.epoch;
  }
  get segs(): string {
    return `${this.base}:segs`;
  }
  get prod(): string {
    return `${this.base}:prod`;
  }
  get cons(): string {
    return `${this.base}:cons`;
  }
  seg(id: number): string {
    return `${this.base}:seg:${id}`;
  }
}

export class RedisStreamLog extends SegmentedStreamLog<EncodedEntry> {
  private constructor(
    settings: StreamSettings,
    recovered: RecoveredStream,
    private readonly redis: Redis | Cluster,
    private readonly keys: StreamKeys,
    private readonly fence: StreamFence,
    private readonly onClose: () => void,
  ) {
    super(settings, recovered);
  }

  static async open(
    settings: StreamSettings,
    redis: Redis | Cluster,
    keys: StreamKeys,
    fence: StreamFence,
    onClose: () => void,
  ): Promise<RedisStreamLog> {
    const [segs, prod, cons] = await Promise.all([
      redis.hgetall(keys.segs),
      redis.hgetall(keys.prod),
      redis.hgetall(keys.cons),
    ]);
    const segments = Object.entries(segs)
      .map(([id, row]) => parseRow(Number(id), row))
      .sort((a, b) => a.id - b.id);
    const numbers = (h: Record<string, string>): Map<string, number> =>
      new Map(Object.entries(h).map(([k, v]) => [k, Number(v)]));
    const recovered = {
      segments,
      nextOffset: segments[segments.length - 1]?.nextOffset ?? 0,
      producers: numbers(prod),
      consumers: numbers(cons),
    };
    return new RedisStreamLog(settings, recovered, redis, keys, fence, onClose);
  }

  private script(
    name: Exclude<StreamScriptName, `${string}Fenced`>,
    keys: string[],
    args: (string | Buffer)[],
  ): Promise<unknown> {
    return this.call(() => runStreamScript(this.redis, this.fence, this.keys.epoch, name, keys, args));
  }

  /** Set by abort(): every call fails with it. */
  private aborted: Error | undefined;
  private readonly waiting = new Set<(err: Error) => void>();

  /**
   * Fails every call in flight and every later one. ioredis holds commands while it
   * reconnects, and a disconnect then does not fail them: the store calls this when it closes
   * while the server is unreachable, so the log's close does not wait forever.
   */
  abort(err: Error): void {
    this.aborted = err;
    for (const fail of this.waiting) fail(err);
    this.waiting.clear();
  }

  /** Runs one Redis call, failing it at once if the log is aborted meanwhile. */
  private call<T>(run: () => Promise<T>): Promise<T> {
    if (this.aborted) return Promise.reject(this.aborted);
    return new Promise<T>((resolve, reject) => {
      this.waiting.add(reject);
      run()
        .then(resolve, reject)
        .finally(() => this.waiting.delete(reject));
    });
  }

  protected encode(entry: StreamEntry): EncodedEntry {
    const m = entry.message;
    const value: Payload = [entry.timestamp, m.exchange, m.routingKey, m.properties, m.body];
    const payload = pack(value);
    return { byteLength: payload.length + ENTRY_OVERHEAD, offset: entry.offset, payload };
  }

  protected async write(w: StreamWrite<EncodedEntry>): Promise<void> {
    const keys = [this.keys.segs, this.keys.prod];
    const args: (string | Buffer)[] = [String(w.pieces.length)];
    for (const p of w.pieces) {
      keys.push(this.keys.seg(p.segment.id));
      args.push(String(p.segment.id), formatRow(p.segment), String(p.entries.length));
      for (const e of p.entries) args.push(String(e.offset), e.payload);
    }
    for (const [name, seq] of w.producers) args.push(name, String(seq));
    await this.script('junctionStreamAppend', keys, args);
  }

  protected async readSegment(
    segment: StreamSegment,
    from: number,
    maxCount: number,
  ): Promise<SizedStreamEntry[]> {
    if (from >= segment.nextOffset || maxCount <= 0) return [];
    const got = await this.call(() =>
      this.redis.xrangeBuffer(
        this.keys.seg(segment.id),
        String(from),
        `${segment.nextOffset - 1}-1`,
        'COUNT',
        maxCount,
      ),
    );
    return got.map(([id, fields]) => {
      const payload = fields[1]!;
      const [timestamp, exchange, routingKey, properties, body] = unpack(payload) as Payload;
      const offset = Number(id.toString().split('-')[0]);
      return {
        entry: { offset, timestamp, message: { exchange, routingKey, properties, body: toBuffer(body) } },
        bytes: payload.length + ENTRY_OVERHEAD,
      };
    });
  }

  protected async deleteSegments(segments: readonly StreamSegment[]): Promise<void> {
    const keys = [this.keys.segs, ...segments.map((s) => this.keys.seg(s.id))];
    const ids = segments.map((s) => String(s.id));
    await this.script('junctionStreamDeleteSegments', keys, ids);
  }

  protected async dropEntries(segment: StreamSegment, offsets: readonly number[]): Promise<void> {
    await this.script(
      'junctionStreamDropEntries',
      [this.keys.segs, this.keys.seg(segment.id)],
      [String(segment.id), formatRow(segment), ...offsets.map(String)],
    );
  }

  protected async writeConsumerOffset(name: string, offset: number): Promise<void> {
    await this.script('junctionStreamConsumerOffset', [this.keys.cons], [name, String(offset)]);
  }

  protected async release(): Promise<void> {
    this.onClose();
  }
}

/** Every key of a stream (the keys share a slot). */
export async function streamKeysOf(redis: Redis | Cluster, keys: StreamKeys): Promise<string[]> {
  const ids = await redis.hkeys(keys.segs);
  return [keys.segs, keys.prod, keys.cons, ...ids.map((id) => keys.seg(Number(id)))];
}

/** Deletes every key of a stream (dropStream): one script, fenced like the stream's writes. */
export async function dropStreamKeys(
  redis: Redis | Cluster,
  keys: StreamKeys,
  fence: StreamFence,
): Promise<void> {
  await runStreamScript(redis, fence, keys.epoch, 'junctionStreamDrop', await streamKeysOf(redis, keys), []);
}

function formatRow(s: StreamSegment): string {
  return [
    s.firstOffset,
    s.nextOffset,
    s.firstTimestamp,
    s.lastTimestamp,
    s.bytes,
    s.entries,
    s.compacted ? 1 : 0,
  ].join(',');
}

function parseRow(id: number, row: string): StreamSegment {
  const [firstOffset, nextOffset, firstTimestamp, lastTimestamp, bytes, entries, compacted] = row
    .split(',')
    .map(Number);
  return {
    id,
    firstOffset: firstOffset!,
    nextOffset: nextOffset!,
    firstTimestamp: firstTimestamp!,
    lastTimestamp: lastTimestamp!,
    bytes: bytes!,
    entries: entries!,
    compacted: compacted === 1,
  };
}
