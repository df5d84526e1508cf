/**
 * Where a stream consumer attaches (`x-stream-offset` on AMQP basic.consume, the same header on
 * a STOMP SUBSCRIBE), read as RabbitMQ reads it (`rabbit_stream_queue:parse_offset_arg/1`):
 * `first`, `last`, `next` (the default), a non-negative integer offset, an AMQP timestamp
 * (seconds since the epoch), or an interval string (`1h`, `7D`: that long before now).
 */
import { preconditionFailed } from '../errors.js';
import type { FieldValue } from '../message.js';
import { parseInterval } from './interval.js';

export const STREAM_OFFSET_ARG = 'x-stream-offset';

export type OffsetSpec =
  | { readonly kind: 'first' }
  | { readonly kind: 'last' }
  | { readonly kind: 'next' }
  | { readonly kind: 'offset'; readonly offset: number }
  /** Epoch ms: the first entry appended at or after it. */
  | { readonly kind: 'timestamp'; readonly at: number };

const NEXT: OffsetSpec = { kind: 'next' };

/** Throws PRECONDITION_FAILED (AMQP 406, STOMP ERROR) for anything else. */
export function parseOffsetSpec(v: FieldValue, now: number): OffsetSpec {
  if (v === undefined || v === null) return NEXT;
  if (typeof v === 'string') {
    if (v === 'first' || v === 'last' || v === 'next') return { kind: v };
    const age = parseInterval(v);
    if (age !== undefined) return { kind: 'timestamp', at: now - age };
    throw invalid(`'${v.slice(0, 64)}' is not first, last, next or an interval such as 1h or 7D`);
  }
  if (typeof v === 'number' || typeof v === 'bigint') return { kind: 'offset', offset: offsetOf(v) };
  if (v instanceof Date) return timestampOf(v.getTime());
  if (typeof v === 'object' && !Buffer.isBuffer(v) && !Array.isArray(v) && '!' in v) {
    const t = v['!'];
    // An AMQP timestamp ('T') is seconds since the epoch (amqplib: { '!': 'timestamp', value }).
    if (t === 'timestamp' && (typeof v.value === 'number' || typeof v.value === 'bigint'))
      return timestampOf(Number(v.value) * 1000);
  }
  throw invalid('expected first, last, next, an offset, a timestamp or an interval');
}

function offsetOf(v: number | bigint): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`offset ${String(v)} is not a non-negative integer`);
  return n;
}

function timestampOf(ms: number): OffsetSpec {
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw invalid(`timestamp ${ms / 1000} is not a time since the epoch`);
  return { kind: 'timestamp', at: ms };
}

function invalid(why: string) {
  return preconditionFailed(`invalid arg '${STREAM_OFFSET_ARG}': ${why}`);
}

/** What resolving a spec needs from the log. */
export interface OffsetBounds {
  readonly firstOffset: number;
  readonly nextOffset: number;
  offsetForTimestamp(at: number): Promise<number>;
}

/**
 * The offset a consumer reads first. An offset before the retained head starts at the head and
 * one past the end waits for it (as RabbitMQ, which clamps rather than refuses: a consumer
 * resuming from an offset retention removed still gets what is left). `last` is the newest
 * entry (RabbitMQ: the newest chunk; an entry is Junction's unit).
 */
export async function resolveOffset(spec: OffsetSpec, log: OffsetBounds): Promise<number> {
  switch (spec.kind) {
    case 'first':
      return log.firstOffset;
    case 'next':
      return log.nextOffset;
    case 'last':
      return Math.max(log.firstOffset, log.nextOffset - 1);
    case 'offset':
      return Math.min(Math.max(spec.offset, log.firstOffset), log.nextOffset);
    case 'timestamp':
      return Math.max(await log.offsetForTimestamp(spec.at), log.firstOffset);
  }
}
