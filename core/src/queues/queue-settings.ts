/**
 * A queue's behaviour settings, from its x-arguments and, where the queue leaves one out,
 * from the policy that applies to it (RabbitMQ semantics: arguments win over policies,
 * except that for limits the lower value wins).
 */
import { preconditionFailed } from '../errors.js';
import type { FieldTable, FieldValue } from '../message.js';

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

export interface QueueSettings {
  maxPriority: number;
  messageTtl: number | undefined;
  expires: number | undefined;
  maxLength: number | undefined;
  maxLengthBytes: number | undefined;
  overflow: Overflow;
  deadLetterExchange: string | undefined;
  deadLetterRoutingKey: string | undefined;
  singleActiveConsumer: boolean;
}

/** Policy definition keys, as RabbitMQ names them. */
export type PolicyDefinition = Record<string, FieldValue>;

const overflows = new Set(['drop-head', 'reject-publish', 'reject-publish-dlx']);

function int(v: FieldValue, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw preconditionFailed(`invalid arg '${name}': ${String(v)} is not an integer in [${min}, ${max}]`);
  }
  return n;
}

function str(v: FieldValue, name: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw preconditionFailed(`invalid arg '${name}': expected a string`);
  return v;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

export function queueSettings(args: FieldTable, policy: PolicyDefinition = {}): QueueSettings {
  const overflow =
    str(args['x-overflow'], 'x-overflow') ?? str(policy['overflow'], 'overflow') ?? 'drop-head';
  if (!overflows.has(overflow)) throw preconditionFailed(`invalid arg 'x-overflow': '${overflow}'`);
  const sac = args['x-single-active-consumer'];
  if (sac !== undefined && typeof sac !== 'boolean') {
    throw preconditionFailed(`invalid arg 'x-single-active-consumer': expected a boolean`);
  }
  return {
    maxPriority:
      int(args['x-max-priority'], 'x-max-priority', 0, 255) ??
      int(policy['max-priority'], 'max-priority', 0, 255) ??
      0,
    messageTtl: minDefined(
      int(args['x-message-ttl'], 'x-message-ttl', 0),
      int(policy['message-ttl'], 'message-ttl', 0),
    ),
    expires: minDefined(int(args['x-expires'], 'x-expires', 1), int(policy['expires'], 'expires', 1)),
    maxLength: minDefined(
      int(args['x-max-length'], 'x-max-length', 0),
      int(policy['max-length'], 'max-length', 0),
    ),
    maxLengthBytes: minDefined(
      int(args['x-max-length-bytes'], 'x-max-length-bytes', 0),
      int(policy['max-length-bytes'], 'max-length-bytes', 0),
    ),
    overflow: overflow as Overflow,
    deadLetterExchange:
      str(args['x-dead-letter-exchange'], 'x-dead-letter-exchange') ??
      str(policy['dead-letter-exchange'], 'dead-letter-exchange'),
    deadLetterRoutingKey:
      str(args['x-dead-letter-routing-key'], 'x-dead-letter-routing-key') ??
      str(policy['dead-letter-routing-key'], 'dead-letter-routing-key'),
    singleActiveConsumer: sac === true,
  };
}

/**
 * A durable queue that lives while a consumer or a stored client session keeps it (an MQTT
 * shared subscription's group queue): at recovery it is removed if no stored session lists it.
 */
export const SESSION_OWNED_ARG = 'x-session-owned';

/** Arguments that must be equal when a queue is declared again (RabbitMQ's equivalence check). */
export const equivalenceArgs = [
  'x-max-priority',
  'x-message-ttl',
  'x-expires',
  'x-max-length',
  'x-max-length-bytes',
  'x-overflow',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-single-active-consumer',
  'x-queue-type',
  // A stream's retention (stream-arguments.ts); absent on other queues.
  'x-max-age',
  'x-stream-max-segment-size-bytes',
  'x-stream-compact',
] as const;
