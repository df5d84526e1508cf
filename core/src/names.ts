/**
 * One limit for every name the store keys on: queues, exchanges, routing and binding keys,
 * vhosts, users, retained-message topics and MQTT client ids (STOMP subscription ids and
 * MQTT client ids also become parts of queue names). Store keys carry two such names plus a
 * few numbers (LMDB refuses keys over 1,978 bytes), so a name that fits here fits every
 * backend's keys. 255 bytes is AMQP's shortstr, the longest name RabbitMQ accepts.
 *
 * Checked once, where names enter the core (Vhost, Broker, retained/session state), before
 * anything is created, with an error every adapter renders (AMQP 406, STOMP ERROR, MQTT code).
 */
import { preconditionFailed } from './errors.js';

export const NAME_MAX_BYTES = 255;

export type NameKind = 'queue' | 'exchange' | 'routing key' | 'vhost' | 'user' | 'topic' | 'client id';

/** Throws PRECONDITION_FAILED when `name` is longer than NAME_MAX_BYTES in UTF-8. */
export function checkName(kind: NameKind, name: string): void {
  // A UTF-8 byte is at least one UTF-16 unit, at most three per unit: skip the count when short.
  if (name.length * 3 <= NAME_MAX_BYTES) return;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > NAME_MAX_BYTES)
    throw preconditionFailed(`${kind} name is ${bytes} bytes, longer than the limit of ${NAME_MAX_BYTES}`);
}
