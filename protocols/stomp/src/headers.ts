/**
 * STOMP headers <-> core message properties, as RabbitMQ's STOMP plugin maps them, so a
 * message published over STOMP reads the same over AMQP and back. Headers that are not
 * STOMP protocol headers nor mapped properties travel in properties.headers and come back
 * out as STOMP headers unchanged.
 */
import type { FieldTable, FieldValue, MessageProperties } from '@junction/core';

/** Names a MESSAGE frame sets itself: a message header of the same name is not emitted. */
const MESSAGE_RESERVED = new Set([
  'subscription',
  'message-id',
  'destination',
  'ack',
  'redelivered',
  'content-length',
  'content-type',
  'content-encoding',
  'persistent',
  'priority',
  'expiration',
  'reply-to',
  'correlation-id',
  'amqp-message-id',
  'type',
  'user-id',
  'app-id',
  'timestamp',
  'receipt',
  'transaction',
]);

export class HeaderError extends Error {}

function int(name: string, v: string, min: number, max: number): number {
  const t = v.trim();
  if (!/^-?\d+$/.test(t))
    throw new HeaderError(`header '${name}' must be an integer, got '${v.slice(0, 64)}'`);
  const n = Number(t);
  if (n < min || n > max) throw new HeaderError(`header '${name}' out of range: ${n}`);
  return n;
}

/**
 * Builds properties from a SEND frame. `replyTo` is passed separately because
 * /temp-queue/ reply-to addresses are rewritten by the connection first.
 * `now` is injected for `expires` (absolute ms since epoch, ActiveMQ style) -> TTL.
 */
export function propertiesFromSend(
  h: Record<string, string>,
  replyTo: string | undefined,
  now: number,
): MessageProperties {
  // One pass over the frame's headers (the hot path of SEND): a switch per name instead
  // of a lookup per known property.
  const p: MessageProperties = {};
  let headers: FieldTable | undefined;
  let expires: string | undefined;
  let amqpMessageId: string | undefined;
  for (const name in h) {
    const v = h[name]!;
    switch (name) {
      case 'destination':
      case 'receipt':
      case 'transaction':
      case 'content-length':
      case 'reply-to':
        break;
      case 'content-type':
        p.contentType = v;
        break;
      case 'content-encoding':
        p.contentEncoding = v;
        break;
      case 'persistent':
        p.deliveryMode = v.toLowerCase() === 'true' ? 2 : 1;
        break;
      case 'priority':
        p.priority = int('priority', v, 0, 255);
        break;
      case 'expiration':
        // RabbitMQ: `expiration` is the AMQP TTL in ms.
        p.expiration = String(int('expiration', v, 0, 2 ** 32 - 1));
        break;
      case 'correlation-id':
        p.correlationId = v;
        break;
      case 'amqp-message-id':
        amqpMessageId = v;
        break;
      case 'message-id':
        p.messageId ??= v;
        break;
      case 'type':
        p.type = v;
        break;
      case 'user-id':
        p.userId = v;
        break;
      case 'app-id':
        p.appId = v;
        break;
      case 'timestamp':
        p.timestamp = int('timestamp', v, 0, Number.MAX_SAFE_INTEGER);
        break;
      default:
        // ActiveMQ/JMS `expires` (absolute ms since the epoch, 0 = never) also stays a
        // header, so it round-trips to STOMP consumers.
        if (name === 'expires') expires = v;
        // Null prototype: a header named `__proto__` is a header like any other.
        (headers ??= Object.create(null) as FieldTable)[name] = v;
    }
  }
  if (amqpMessageId !== undefined) p.messageId = amqpMessageId;
  if (expires !== undefined && p.expiration === undefined) {
    const at = int('expires', expires, 0, Number.MAX_SAFE_INTEGER);
    if (at > 0) p.expiration = String(Math.max(0, Math.min(at - now, 2 ** 32 - 1)));
  }
  if (replyTo !== undefined) p.replyTo = replyTo;
  if (headers) p.headers = headers;
  return p;
}

function fieldToString(v: FieldValue): string | undefined {
  if (v === null || v === undefined) return undefined;
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(v);
    default:
      break;
  }
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return String(v.getTime());
  if (Array.isArray(v)) return undefined;
  if (typeof v === 'object' && '!' in v) {
    const val = (v as { value: unknown }).value;
    return val instanceof Date ? String(val.getTime()) : String(val);
  }
  return undefined;
}

/** Appends the headers for `p` to a flat [name, value, ...] list (MESSAGE frames). */
export function appendPropertyHeaders(out: string[], p: MessageProperties): void {
  if (p.contentType !== undefined) out.push('content-type', p.contentType);
  if (p.contentEncoding !== undefined) out.push('content-encoding', p.contentEncoding);
  if (p.deliveryMode === 2) out.push('persistent', 'true');
  if (p.priority !== undefined) out.push('priority', String(p.priority));
  if (p.expiration !== undefined) out.push('expiration', p.expiration);
  if (p.replyTo !== undefined) out.push('reply-to', p.replyTo);
  if (p.correlationId !== undefined) out.push('correlation-id', p.correlationId);
  if (p.messageId !== undefined) out.push('amqp-message-id', p.messageId);
  if (p.type !== undefined) out.push('type', p.type);
  if (p.userId !== undefined) out.push('user-id', p.userId);
  if (p.appId !== undefined) out.push('app-id', p.appId);
  if (p.timestamp !== undefined) out.push('timestamp', String(p.timestamp));
  const h = p.headers;
  if (h) {
    for (const name in h) {
      if (MESSAGE_RESERVED.has(name)) continue;
      const s = fieldToString(h[name]);
      if (s !== undefined) out.push(name, s);
    }
  }
}

/**
 * A boolean header: `true`/`false` in any case (Python clients send `True`/`False`; RabbitMQ
 * and ActiveMQ read them alike). Any other value, or none, is undefined: the default applies.
 */
export function booleanHeader(h: Record<string, string>, name: string): boolean | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  const t = v.trim().toLowerCase();
  return t === 'true' ? true : t === 'false' ? false : undefined;
}

/** RabbitMQ's durable-subscription test: `durable` or its older alias `persistent` is true. */
export function wantsDurable(h: Record<string, string>): boolean {
  return booleanHeader(h, 'durable') === true || booleanHeader(h, 'persistent') === true;
}

/**
 * Queue arguments a SUBSCRIBE, or a SEND that creates a /queue/, may carry as headers, typed
 * as RabbitMQ's STOMP plugin types them: integers (AMQP long) and strings, both trimmed.
 */
const INTEGER_QUEUE_ARGS = new Set([
  'x-message-ttl',
  'x-expires',
  'x-max-length',
  'x-max-length-bytes',
  'x-max-priority',
  'x-stream-max-segment-size-bytes',
]);
const STRING_QUEUE_ARGS = new Set([
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-overflow',
  'x-queue-type',
  'x-max-age',
]);
const BOOLEAN_QUEUE_ARGS = new Set(['x-single-active-consumer', 'x-stream-compact']);

/** The queue arguments among a frame's headers, or undefined when it has none. */
export function queueArguments(h: Record<string, string>): FieldTable | undefined {
  let args: FieldTable | undefined;
  for (const name in h) {
    if (INTEGER_QUEUE_ARGS.has(name)) (args ??= {})[name] = int(name, h[name]!, 0, Number.MAX_SAFE_INTEGER);
    else if (STRING_QUEUE_ARGS.has(name)) (args ??= {})[name] = h[name]!.trim();
    else if (BOOLEAN_QUEUE_ARGS.has(name)) {
      const on = booleanHeader(h, name);
      if (on !== undefined) (args ??= {})[name] = on;
    }
  }
  return args;
}

/**
 * Consumer arguments a SUBSCRIBE may carry: where a stream consumer attaches
 * (`x-stream-offset`, as RabbitMQ's STOMP plugin reads it: `first`, `last`, `next`,
 * `offset=<n>`, `timestamp=<unix seconds>`, or an interval such as `1h`) and the name under
 * which the broker stores its position (`x-stream-consumer-name`). The core checks the values
 * (an invalid one is an ERROR); here they only get their AMQP types.
 */
export function consumerArguments(h: Record<string, string>): FieldTable | undefined {
  let args: FieldTable | undefined;
  const offset = h['x-stream-offset'];
  if (offset !== undefined) (args ??= {})['x-stream-offset'] = streamOffset(offset.trim());
  const name = h['x-stream-consumer-name'];
  if (name !== undefined) (args ??= {})['x-stream-consumer-name'] = name;
  return args;
}

function streamOffset(v: string): FieldValue {
  if (v.startsWith('offset=')) return int('x-stream-offset', v.slice(7), 0, Number.MAX_SAFE_INTEGER);
  if (v.startsWith('timestamp='))
    return { '!': 'timestamp', value: int('x-stream-offset', v.slice(10), 0, Number.MAX_SAFE_INTEGER) };
  return v;
}
