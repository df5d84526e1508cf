/**
 * What a selector identifier means for a core Message: first the JMS header names
 * (JMS 1.1 §3.8.1.1 allows JMSDeliveryMode, JMSPriority, JMSMessageID, JMSTimestamp,
 * JMSCorrelationID, JMSType; §3.5.9 adds the JMSX properties), mapped onto the one
 * property model; then the message's application headers (AMQP headers table; STOMP
 * custom headers land there). An identifier that names nothing is NULL.
 */
import type { FieldValue, Message } from '../message.js';
import { fromBigInt, OPAQUE, type Value } from './values.js';

/** Static type of an expression, when the compiler can know it. */
export type Kind = 'bool' | 'num' | 'str' | 'null' | 'any';

export interface Resolved {
  readonly kind: Kind;
  readonly get: (msg: Message) => Value;
}

/** JMS 1.1 §3.4.10: JMSPriority defaults to 4 when the producer set none. */
export const DEFAULT_JMS_PRIORITY = 4;

const jmsHeaders: ReadonlyMap<string, Resolved> = new Map<string, Resolved>([
  ['JMSMessageID', { kind: 'str', get: (m) => m.properties.messageId ?? null }],
  ['JMSCorrelationID', { kind: 'str', get: (m) => m.properties.correlationId ?? null }],
  ['JMSType', { kind: 'str', get: (m) => m.properties.type ?? null }],
  ['JMSReplyTo', { kind: 'str', get: (m) => m.properties.replyTo ?? null }],
  ['JMSXUserID', { kind: 'str', get: (m) => m.properties.userId ?? null }],
  ['JMSXAppID', { kind: 'str', get: (m) => m.properties.appId ?? null }],
  ['JMSPriority', { kind: 'num', get: (m) => m.properties.priority ?? DEFAULT_JMS_PRIORITY }],
  // JMS 1.1 §3.4.2: only the two constants; AMQP delivery-mode 2 is persistent, anything else is not.
  [
    'JMSDeliveryMode',
    { kind: 'str', get: (m) => (m.properties.deliveryMode === 2 ? 'PERSISTENT' : 'NON_PERSISTENT') },
  ],
  // JMS counts milliseconds; the core's timestamp is AMQP's seconds since the epoch.
  [
    'JMSTimestamp',
    {
      kind: 'num',
      get: (m) => (m.properties.timestamp === undefined ? null : m.properties.timestamp * 1000),
    },
  ],
  ['JMSExpiration', { kind: 'num', get: jmsExpiration }],
]);

/**
 * JMS 1.1 §3.4.9: absolute expiry time in ms, 0 when the message never expires. The core
 * keeps AMQP's relative TTL, so the absolute time is timestamp + TTL; a TTL without a
 * timestamp has no known expiry time (NULL).
 */
function jmsExpiration(m: Message): Value {
  const ttl = m.properties.expiration;
  if (ttl === undefined) return 0;
  const ms = Number(ttl);
  if (m.properties.timestamp === undefined || !Number.isFinite(ms)) return null;
  return m.properties.timestamp * 1000 + ms;
}

/** A header value as a selector value: dates become epoch ms; bytes, arrays and tables cannot be compared. */
export function normalize(v: FieldValue | unknown, typed = true): Value {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'number':
      return v;
    case 'bigint':
      return fromBigInt(v);
    case 'undefined':
      return null;
    case 'object':
      if (v === null) return null;
      if (v instanceof Date) return v.getTime();
      // A TypedFieldValue ({'!': wire type, value}) pins an AMQP wire type; the value is what selectors see.
      if (typed && !Buffer.isBuffer(v) && !Array.isArray(v) && '!' in v && 'value' in v)
        return normalize(v.value, false);
      return OPAQUE;
    default:
      return OPAQUE;
  }
}

export function resolveIdentifier(name: string): Resolved {
  const jms = jmsHeaders.get(name);
  if (jms !== undefined) return jms;
  return {
    kind: 'any',
    get: (m) => {
      const headers = m.properties.headers;
      // hasOwn: a header table is a plain object, and `constructor` must not find Object's.
      if (headers === undefined || headers === null || !Object.hasOwn(headers, name)) return null;
      return normalize(headers[name]);
    },
  };
}
