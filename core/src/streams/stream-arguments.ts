/**
 * A stream's declaration, checked as RabbitMQ checks it (`rabbit_stream_queue:declare/2`):
 * durable, not exclusive, not auto-delete, only the arguments a stream understands, and
 * retention settings from `x-max-length-bytes`, `x-max-age` and
 * `x-stream-max-segment-size-bytes` (or the policy keys without `x-`). Every refusal is
 * PRECONDITION_FAILED: AMQP 406 on the channel, a STOMP ERROR.
 */
import { preconditionFailed } from '../errors.js';
import type { FieldTable, FieldValue } from '../message.js';
import { STREAM_DEFAULT_SEGMENT_BYTES, type StreamSettings } from '../storage/stream-log.js';
import { parseInterval } from './interval.js';

/** RabbitMQ's ceiling of x-stream-max-segment-size-bytes (`?MAX_STREAM_MAX_SEGMENT_SIZE`, 3 GB). */
export const MAX_MAX_SEGMENT_BYTES = 3_000_000_000;
/**
 * Junction's floor: a segment is a file, and a client-chosen size of a few bytes would make
 * one file per message (RabbitMQ has no floor; 4 KiB still holds dozens of small messages).
 */
export const MIN_MAX_SEGMENT_BYTES = 4096;

/** The arguments a stream declaration may carry; any other `x-` argument is refused. */
export const STREAM_QUEUE_ARGS: ReadonlySet<string> = new Set([
  'x-queue-type',
  'x-max-length-bytes',
  'x-max-age',
  'x-stream-max-segment-size-bytes',
  'x-stream-compact',
  // Accepted and ignored, as on a one-node RabbitMQ: there are no replicas to place.
  'x-initial-cluster-size',
  'x-queue-leader-locator',
]);

/** Arguments that must be equal when a stream is declared again. */
export const STREAM_EQUIVALENCE_ARGS = [
  'x-queue-type',
  'x-max-length-bytes',
  'x-max-age',
  'x-stream-max-segment-size-bytes',
  'x-stream-compact',
] as const;

export interface StreamDeclaration {
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
}

/** `ref` names the queue as RabbitMQ's messages do: "queue 'q' in vhost '/'". */
export function checkStreamDeclaration(d: StreamDeclaration, ref: string): void {
  if (!d.durable) throw preconditionFailed(`invalid property 'non-durable' for ${ref}`);
  if (d.exclusive) throw preconditionFailed(`invalid property 'exclusive-owner' for ${ref}`);
  if (d.autoDelete) throw preconditionFailed(`invalid property 'auto-delete' for ${ref}`);
  for (const key of Object.keys(d.arguments)) {
    if (key.startsWith('x-') && !STREAM_QUEUE_ARGS.has(key))
      throw preconditionFailed(`invalid arg '${key.slice(0, 64)}' for ${ref}`);
  }
}

/**
 * The retention in force. Where both the arguments and a policy give a limit the lower one
 * wins, as for a classic queue's limits (RabbitMQ lets a stream's policy override its
 * arguments; the lower-wins rule is Junction's for every limit, so an operator's policy can
 * tighten retention but never loosen what the declaring application asked for).
 */
export function streamRetention(args: FieldTable, policy: FieldTable = {}): StreamSettings {
  const maxBytes = lower(
    bytes(args['x-max-length-bytes'], 'x-max-length-bytes'),
    bytes(policy['max-length-bytes'], 'max-length-bytes'),
  );
  const maxAgeMs = lower(age(args['x-max-age'], 'x-max-age'), age(policy['max-age'], 'max-age'));
  const segment =
    segmentBytes(args['x-stream-max-segment-size-bytes'], 'x-stream-max-segment-size-bytes') ??
    segmentBytes(policy['stream-max-segment-size-bytes'], 'stream-max-segment-size-bytes') ??
    STREAM_DEFAULT_SEGMENT_BYTES;
  const compact =
    flag(args['x-stream-compact'], 'x-stream-compact') ?? flag(policy['stream-compact'], 'stream-compact');
  return {
    maxSegmentBytes: segment,
    ...(maxBytes !== undefined && { maxBytes }),
    ...(maxAgeMs !== undefined && { maxAgeMs }),
    ...(compact === true && { compact }),
  };
}

function lower(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function integer(v: FieldValue, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max)
    throw preconditionFailed(`invalid arg '${name}': ${show(v)} is not an integer in [${min}, ${max}]`);
  return n;
}

function bytes(v: FieldValue, name: string): number | undefined {
  return integer(v, name, 1, Number.MAX_SAFE_INTEGER);
}

function segmentBytes(v: FieldValue, name: string): number | undefined {
  const n = integer(v, name, MIN_MAX_SEGMENT_BYTES, Number.MAX_SAFE_INTEGER);
  // RabbitMQ's own wording for the ceiling.
  if (n !== undefined && n > MAX_MAX_SEGMENT_BYTES)
    throw preconditionFailed(`Exceeded max value for ${name}`);
  return n;
}

function age(v: FieldValue, name: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = typeof v === 'string' ? parseInterval(v) : undefined;
  if (ms === undefined)
    throw preconditionFailed(
      `invalid arg '${name}': ${show(v)} is not an age such as 7D, 12h, 30m or 10s (units Y, M, D, h, m, s)`,
    );
  return ms;
}

function flag(v: FieldValue, name: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw preconditionFailed(`invalid arg '${name}': expected a boolean`);
  return v;
}

function show(v: FieldValue): string {
  return typeof v === 'string'
    ? `'${v.slice(0, 64)}'`
    : typeof v === 'object'
      ? 'a value of another type'
      : String(v);
}
