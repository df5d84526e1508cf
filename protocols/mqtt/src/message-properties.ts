/**
 * MQTT 5 PUBLISH properties <-> the core's message properties (the AMQP basic properties),
 * mapped once at the edge so AMQP and STOMP clients see them as their own:
 *
 *   Content Type              <-> content-type
 *   Correlation Data          <-> correlation-id (UTF-8 of at most 255 bytes), else header x-correlation-data
 *   Response Topic            <-> reply-to, as a routing key on amq.topic (`a/b` <-> `a.b`)
 *   Message Expiry Interval   <-> expiration (s <-> ms; sent with the time left in the queue)
 *   Payload Format Indicator  <-> header x-mqtt-payload-format (1 = UTF-8)
 *   User Property             <-> headers (a repeated name: an array of strings)
 *   (a publish with RETAIN)    -> header x-mqtt-retain (for Retain As Published subscriptions)
 *
 * A message without any of them uses one shared properties object per QoS, as 3.1.1 does.
 */
import { isUtf8 } from 'node:buffer';
import type { FieldTable, FieldValue, Message, MessageProperties } from '@junction/core';
import type { Properties } from './properties.js';
import { keyToTopic, topicToKey } from './topics.js';

/** The header carrying an MQTT publish's QoS through the core. */
export const QOS_HEADER = 'x-mqtt-publish-qos';
const PAYLOAD_FORMAT_HEADER = 'x-mqtt-payload-format';
const RETAIN_HEADER = 'x-mqtt-retain';
const CORRELATION_HEADER = 'x-correlation-data';
/** AMQP shortstr: the longest correlation-id. */
const MAX_CORRELATION_ID = 255;

/**
 * The properties of an MQTT publish without MQTT 5 message properties depend only on its QoS:
 * one shared, frozen object per QoS instead of two allocations per message (the core never
 * mutates a message's properties).
 */
const qosProperties = (qos: number, retain: boolean): MessageProperties =>
  Object.freeze({
    deliveryMode: qos > 0 ? 2 : 1,
    headers: Object.freeze(retain ? { [QOS_HEADER]: qos, [RETAIN_HEADER]: true } : { [QOS_HEADER]: qos }),
  });
export const PROPERTIES_BY_QOS = [
  qosProperties(0, false),
  qosProperties(1, false),
  qosProperties(2, false),
] as const;
const RETAINED_BY_QOS = [qosProperties(0, true), qosProperties(1, true), qosProperties(2, true)] as const;
const shared = new Set<MessageProperties>([...PROPERTIES_BY_QOS, ...RETAINED_BY_QOS]);

/** Whether a message was published with RETAIN (MQTT's own marker). */
export const wasRetained = (msg: Message): boolean => msg.properties.headers?.[RETAIN_HEADER] === true;

/** Core properties for a publish of this QoS with these MQTT 5 properties (PUBLISH or will). */
export function toCoreProperties(
  qos: 0 | 1 | 2,
  p: Properties | undefined,
  retain: boolean,
): MessageProperties {
  if (
    !p ||
    (p.contentType === undefined &&
      p.correlationData === undefined &&
      p.responseTopic === undefined &&
      p.messageExpiryInterval === undefined &&
      p.payloadFormatIndicator === undefined &&
      p.userProperties === undefined)
  )
    return (retain ? RETAINED_BY_QOS : PROPERTIES_BY_QOS)[qos];
  // Keyed by client-chosen names: nothing inherited, `__proto__` is a plain header.
  const headers = Object.create(null) as FieldTable;
  for (const [name, value] of p.userProperties ?? []) {
    const before = headers[name];
    // The array is ours: appended to in place, since copying it per repeat is quadratic in a
    // packet that repeats one name (a 16 MiB PUBLISH holds millions of user properties).
    if (before === undefined) headers[name] = value;
    else if (Array.isArray(before)) before.push(value);
    else headers[name] = [before, value];
  }
  headers[QOS_HEADER] = qos; // ours win over user properties of the same names
  if (retain) headers[RETAIN_HEADER] = true;
  if (p.payloadFormatIndicator !== undefined) headers[PAYLOAD_FORMAT_HEADER] = p.payloadFormatIndicator;
  const out: MessageProperties = { deliveryMode: qos > 0 ? 2 : 1, headers };
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.responseTopic !== undefined) out.replyTo = topicToKey(p.responseTopic);
  if (p.messageExpiryInterval !== undefined) out.expiration = String(p.messageExpiryInterval * 1000);
  const cd = p.correlationData;
  if (cd !== undefined) {
    if (cd.length <= MAX_CORRELATION_ID && isUtf8(cd)) out.correlationId = cd.toString('utf8');
    else headers[CORRELATION_HEADER] = Buffer.from(cd); // not a view of the socket chunk
  }
  return out;
}

/**
 * A retained copy's properties: one with a Message Expiry Interval also gets the time it was
 * retained (AMQP timestamp, seconds), so it expires while it is kept, across restarts too.
 */
export function retainedProperties(msg: Message): MessageProperties {
  const p = msg.properties;
  return p.expiration === undefined ? p : { ...p, timestamp: Math.floor(Date.now() / 1000) };
}

/** When a retained message expires, epoch ms; 0: never. */
export function retainedExpiresAt(msg: Message): number {
  const { expiration, timestamp } = msg.properties;
  return expiration === undefined || timestamp === undefined ? 0 : timestamp * 1000 + Number(expiration);
}

/** A header value as user property values: strings, numbers and booleans; others are not sent. */
function userValues(v: FieldValue, out: string[]): void {
  if (typeof v === 'string') out.push(v);
  else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) userValues(x, out);
}

/**
 * The MQTT 5 properties of a delivery, or undefined when it has none. `expiresAt`: when the
 * message expires in its queue (0: never), so Message Expiry Interval is the time left
 * (MQTT-3.3.2-6).
 */
export function fromCoreProperties(msg: Message, expiresAt: number, now: number): Properties | undefined {
  const p = msg.properties;
  if (shared.has(p)) return undefined;
  const out: Properties = {};
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.replyTo !== undefined) out.responseTopic = keyToTopic(p.replyTo);
  if (p.correlationId !== undefined) out.correlationData = Buffer.from(p.correlationId);
  if (p.expiration !== undefined && expiresAt > 0)
    out.messageExpiryInterval = Math.max(0, Math.ceil((expiresAt - now) / 1000));
  const h = p.headers;
  if (h) {
    const users: [string, string][] = [];
    for (const name of Object.keys(h)) {
      const v = h[name];
      if (name === QOS_HEADER || name === RETAIN_HEADER) continue;
      if (name === PAYLOAD_FORMAT_HEADER) {
        if (v === 0 || v === 1) out.payloadFormatIndicator = v;
      } else if (name === CORRELATION_HEADER) {
        if (Buffer.isBuffer(v)) out.correlationData ??= v;
      } else if (!name.includes('\u0000')) {
        const values: string[] = [];
        userValues(v, values);
        // MQTT-1.5.4-2: no U+0000 in a UTF-8 string.
        for (const x of values) if (!x.includes('\u0000')) users.push([name, x]);
      }
    }
    if (users.length > 0) out.userProperties = users;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
