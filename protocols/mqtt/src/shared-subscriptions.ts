/**
 * MQTT shared subscriptions (MQTT 5 4.8.2; MQTT 3.1.1 clients may use them too, as with
 * Mosquitto and EMQX): `$share/<group>/<filter>` names one core queue per (vhost, group,
 * filter), bound to `amq.topic` with the filter, which every member consumes from, so the
 * core's round robin over a queue's consumers spreads the messages over the members.
 */
import { createHash } from 'node:crypto';
import { NAME_MAX_BYTES, SESSION_OWNED_ARG } from '@junction/core';
import { filterProblem } from './topics.js';

const SHARE_PREFIX = '$share/';
/** Group queues are named `mqtt-shared-<group>-<hash of the filter>`. */
export const GROUP_QUEUE_PREFIX = 'mqtt-shared-';
const HASH_CHARS = 16;
/**
 * A group queue lives while a member consumes or a stored session lists it; this argument lets
 * the core's recovery remove one that no stored session lists (its members were clean ones).
 */
export const GROUP_QUEUE_ARGUMENTS = { [SESSION_OWNED_ARG]: true } as const;

export interface SharedFilter {
  group: string;
  /** The filter after the share name, a normal topic filter. */
  filter: string;
}

export const isSharedFilter = (filter: string): boolean => filter.startsWith(SHARE_PREFIX);

/**
 * A `$share/...` filter split into share name and filter, or why it is invalid (SUBACK 0x8F).
 * The share name is at least one character without `/`, `+` or `#` (MQTT-4.8.2-1, -2), and
 * must fit in a queue name, whose length the core limits.
 */
export function parseSharedFilter(shared: string, maxLevels: number): SharedFilter | string {
  const slash = shared.indexOf('/', SHARE_PREFIX.length);
  if (slash < 0) return 'a shared subscription needs $share/<share name>/<filter>';
  const group = shared.slice(SHARE_PREFIX.length, slash);
  if (group.length === 0) return 'empty share name';
  if (group.includes('+') || group.includes('#')) return "'+' or '#' in a share name";
  const filter = shared.slice(slash + 1);
  const problem = filterProblem(filter, maxLevels);
  if (problem) return problem;
  const room = NAME_MAX_BYTES - GROUP_QUEUE_PREFIX.length - 1 - HASH_CHARS;
  if (Buffer.byteLength(group, 'utf8') > room) return `share name longer than ${room} bytes`;
  return { group, filter };
}

/** The group's queue: stable for the group and filter, the same for every member. */
export function groupQueueName({ group, filter }: SharedFilter): string {
  const hash = createHash('sha1').update(filter).digest('hex').slice(0, HASH_CHARS);
  return `${GROUP_QUEUE_PREFIX}${group}-${hash}`;
}
