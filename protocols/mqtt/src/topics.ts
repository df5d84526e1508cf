/**
 * MQTT topics <-> routing keys on `amq.topic`, losslessly both ways.
 *
 * MQTT separates levels with `/` and allows `.` inside a level; AMQP topic keys separate
 * words with `.` and allow `/` inside a word. So each `/` becomes `.` and each `.` inside a
 * level becomes `/`, and back: `sensors/v1.2/temp` <-> `sensors.v1/2.temp`. (RabbitMQ's
 * plugin maps `.` to `.`, so `a.b` and `a/b` collide there.) Filters map `+` to `*`; `#`
 * stays `#`.
 *
 * MQTT has no `*` wildcard: a level `*` is a literal, which a binding key would read as
 * AMQP's one-word wildcard (the filter `*` would subscribe to every one-level topic, and
 * `*`/broker/load to `$SYS/broker/load`). So a whole level `*` maps to the word `+`, which
 * no MQTT topic name can hold (MQTT-4.7.1-1) and which AMQP matches literally, and back.
 */

/**
 * A whole level `*` and a whole word `+` trade places (both ways, so an AMQP key's `*` or
 * `+` word survives the trip to an MQTT subscriber and back); every other level only swaps
 * `.` and `/`.
 */
function levelToWord(level: string): string {
  return level === '*' ? '+' : level === '+' ? '*' : level.replaceAll('.', '/');
}

const wordToLevel = (word: string): string =>
  word === '+' ? '*' : word === '*' ? '+' : word.replaceAll('/', '.');

/**
 * The last topic converted and its key: a device publishes to the same topic again and again,
 * and comparing the decoder's fresh string costs less than converting it (one slot for the
 * whole process, so no connection holds any of it).
 */
let lastTopic = '';
let lastKey = '';

/** `a/b.c` -> `a.b/c` */
export function topicToKey(topic: string): string {
  if (topic === lastTopic) return lastKey;
  const key =
    !topic.includes('.') && !topic.includes('*') && !topic.includes('+')
      ? topic.replaceAll('/', '.')
      : topic.split('/').map(levelToWord).join('.');
  lastTopic = topic;
  lastKey = key;
  return key;
}

/** `a.b/c` -> `a/b.c` */
export function keyToTopic(key: string): string {
  if (!key.includes('/') && !key.includes('+') && !key.includes('*')) return key.replaceAll('.', '/');
  return key.split('.').map(wordToLevel).join('/');
}

/** A subscription filter as a topic binding key: `a/+/#` -> `a.*.#`, `*`/x -> `+.x`. */
export function filterToPattern(filter: string): string {
  return filter
    .split('/')
    .map((level) => (level === '+' ? '*' : level === '#' ? '#' : levelToWord(level)))
    .join('.');
}

/**
 * MQTT-4.7.2-1: a filter starting with a wildcard does not match topics starting with `$`
 * (`$SYS/...`), although the routing key pattern would.
 */
export function skipsDollarTopics(filter: string): boolean {
  const c = filter.charCodeAt(0);
  return c === 0x23 /* # */ || c === 0x2b; /* + */
}

function countLevels(s: string): number {
  let n = 1;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 0x2f) n++;
  return n;
}

/** Why a PUBLISH topic name is invalid, or null. */
export function topicNameProblem(topic: string, maxLevels: number): string | null {
  if (topic.length === 0) return 'empty topic name';
  if (topic.includes('+') || topic.includes('#')) return 'wildcard in a topic name';
  if (topic.includes('\u0000')) return 'U+0000 in a topic name';
  if (countLevels(topic) > maxLevels) return `more than ${maxLevels} topic levels`;
  return null;
}

/** Why a SUBSCRIBE / UNSUBSCRIBE filter is invalid, or null. */
export function filterProblem(filter: string, maxLevels: number): string | null {
  if (filter.length === 0) return 'empty topic filter';
  if (filter.includes('\u0000')) return 'U+0000 in a topic filter';
  const levels = filter.split('/');
  if (levels.length > maxLevels) return `more than ${maxLevels} topic levels`;
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      return "'#' must be a whole last level";
    if (level.includes('+') && level !== '+') return "'+' must be a whole level";
  }
  return null;
}
