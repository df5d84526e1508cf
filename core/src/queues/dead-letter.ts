/**
 * Dead-lettering as RabbitMQ does it: the message is republished to the queue's
 * dead-letter exchange, with the dead-letter routing key or its original keys, and an
 * `x-death` history (one entry per queue and reason, most recent first, with a count).
 */
import type { DeathReason } from '../events.js';
import type { FieldTable, FieldValue, Message } from '../message.js';

export function deadLetteredMessage(
  msg: Message,
  queue: string,
  reason: DeathReason,
  deadLetterExchange: string,
  routingKey: string | undefined,
  now: number,
): Message {
  const props = { ...msg.properties };
  const headers: FieldTable = { ...(props.headers ?? {}) };
  const routingKeys: FieldValue[] = [msg.routingKey];
  const cc = headers['CC'];
  if (Array.isArray(cc)) routingKeys.push(...cc);
  // BCC never leaves the broker.
  delete headers['BCC'];

  const deaths = Array.isArray(headers['x-death']) ? [...(headers['x-death'] as FieldTable[])] : [];
  const i = deaths.findIndex((d) => d['queue'] === queue && d['reason'] === reason);
  if (i >= 0) {
    const prev = deaths[i]!;
    deaths.splice(i, 1);
    deaths.unshift({
      ...prev,
      count: Number(prev['count'] ?? 0) + 1,
      time: { '!': 'timestamp', value: Math.floor(now / 1000) },
    });
  } else {
    const death: FieldTable = {
      count: 1,
      reason,
      queue,
      time: { '!': 'timestamp', value: Math.floor(now / 1000) },
      exchange: msg.exchange,
      'routing-keys': routingKeys,
    };
    // The per-message TTL must not kill the message again in the dead-letter queue.
    if (props.expiration !== undefined) death['original-expiration'] = props.expiration;
    deaths.unshift(death);
  }
  delete props.expiration;
  headers['x-death'] = deaths;
  if (headers['x-first-death-reason'] === undefined) {
    headers['x-first-death-reason'] = reason;
    headers['x-first-death-queue'] = queue;
    headers['x-first-death-exchange'] = msg.exchange;
  }
  headers['x-last-death-reason'] = reason;
  headers['x-last-death-queue'] = queue;
  headers['x-last-death-exchange'] = msg.exchange;
  props.headers = headers;
  return {
    exchange: deadLetterExchange,
    routingKey: routingKey ?? msg.routingKey,
    properties: props,
    body: msg.body,
  };
}

/**
 * RabbitMQ drops a dead-lettered message that would come back to a queue it already died
 * in, unless some death in its history was a rejection (a client's explicit choice):
 * otherwise an expiry cycle would spin forever.
 */
export function isDeathCycle(msg: Message, targetQueue: string): boolean {
  const deaths = msg.properties.headers?.['x-death'];
  if (!Array.isArray(deaths)) return false;
  let seen = false;
  for (const d of deaths as FieldTable[]) {
    if (d['reason'] === 'rejected') return false;
    if (d['queue'] === targetQueue) seen = true;
  }
  return seen;
}
