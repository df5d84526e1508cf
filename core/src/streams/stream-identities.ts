/**
 * The names a client gives a stream: a consumer's (`x-stream-consumer-name`, whose offset the
 * broker stores so it resumes after a reconnect or a restart) and a producer's with its
 * publishing sequence (`x-stream-producer` and `x-stream-sequence` message headers: the log
 * skips a message whose sequence is not above the producer's last stored one, as RabbitMQ
 * streams' publishing ids and Kafka's idempotent producer do).
 */
import { preconditionFailed } from '../errors.js';
import type { FieldTable, FieldValue } from '../message.js';

export const STREAM_CONSUMER_NAME_ARG = 'x-stream-consumer-name';
export const STREAM_PRODUCER_HEADER = 'x-stream-producer';
export const STREAM_SEQUENCE_HEADER = 'x-stream-sequence';

/** RabbitMQ's stream protocol caps references (consumer and producer names) at 255 bytes. */
export const STREAM_REFERENCE_MAX_BYTES = 255;

/** A consumer's name, or undefined for an anonymous consumer (its position is not stored). */
export function consumerName(args: FieldTable | undefined): string | undefined {
  const v = args?.[STREAM_CONSUMER_NAME_ARG];
  if (v === undefined || v === null) return undefined;
  return reference(v, STREAM_CONSUMER_NAME_ARG, 'arg');
}

export interface ProducerStamp {
  readonly name: string;
  readonly sequence: number;
}

/**
 * The producer name and sequence of a message to a stream, undefined when it names no
 * producer. A producer without a sequence, or a sequence without a producer, is refused:
 * half a stamp would silently turn deduplication off.
 */
export function producerStamp(headers: FieldTable | undefined): ProducerStamp | undefined {
  const name = headers?.[STREAM_PRODUCER_HEADER];
  const seq = headers?.[STREAM_SEQUENCE_HEADER];
  if ((name === undefined || name === null) && (seq === undefined || seq === null)) return undefined;
  if (name === undefined || name === null)
    throw preconditionFailed(`header '${STREAM_SEQUENCE_HEADER}' needs '${STREAM_PRODUCER_HEADER}'`);
  const producer = reference(name, STREAM_PRODUCER_HEADER, 'header');
  const n =
    typeof seq === 'bigint'
      ? Number(seq)
      : typeof seq === 'string' && /^\d{1,15}$/.test(seq)
        ? Number(seq)
        : seq;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw preconditionFailed(
      `invalid header '${STREAM_SEQUENCE_HEADER}': producer '${producer}' needs a non-negative integer sequence`,
    );
  return { name: producer, sequence: n };
}

function reference(v: FieldValue, what: string, kind: 'arg' | 'header'): string {
  if (typeof v !== 'string' || v === '')
    throw preconditionFailed(`invalid ${kind} '${what}': expected a non-empty string`);
  const bytes = Buffer.byteLength(v, 'utf8');
  if (bytes > STREAM_REFERENCE_MAX_BYTES)
    throw preconditionFailed(
      `invalid ${kind} '${what}': ${bytes} bytes, longer than the limit of ${STREAM_REFERENCE_MAX_BYTES}`,
    );
  // Control characters would make names ambiguous in logs and management listings.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v))
    throw preconditionFailed(`invalid ${kind} '${what}': control characters`);
  return v;
}
