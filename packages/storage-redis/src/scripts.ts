/**
 * The Lua scripts behind every multi-key write. Redis runs a script atomically (no other
 * command interleaves, and the AOF holds it as one unit), so a queue's state is never
 * half-written: an entry and its body change together.
 *
 * Every script names its keys in KEYS. A queue script takes key pairs (entries, records) of
 * one or more queues and a flat list of fixed-size groups whose first field is the index of
 * the group's queue among those pairs. Unfenced (single node) one call may span queues: on one
 * Redis server or primary that is one round trip for a whole fan-out. Fenced (fence.ts) a call
 * holds one queue, behind that queue's epoch check, and all its keys are in one hash slot.
 *
 * Numbers (message ids, expiresAt) arrive as decimal strings and are stored as given:
 * Lua 5.1 would print a large number in exponent form, so a script never turns one
 * back into a string. Only delivery counts go through HINCRBY.
 *
 * Layout, store format 2 (P = prefix; T = P + `{<vhost>/<queue>}`, keys.ts):
 *   P meta                hash: format, defs ('1' once definitions were written), and during a
 *                         migration from format 1 (migrate-format.ts) legacy ('1': old keys left)
 *   P maxid               string: highest message id ever enqueued
 *   P defs                hash: kind NUL identity -> msgpack definition
 *   P defs:version        counter: definitions writes so far (the change feed's version)
 *   T:z                   sorted set: member and score = messageId (enqueue order)
 *   T:h                   hash: e:<id> -> expiresAt, d:<id> -> deliveryCount, b:<id> -> msgpack
 *                         body { x, k, p, b }: each queue holds its own copy of a fanned-out body
 *   T:epoch               counter: the queue's fencing epoch (packages/cluster)
 *   T:st:...              the queue's stream, if it is one (stream-scripts.ts)
 *   P ret:<vhost>         hash: topic -> msgpack StoredMessage
 *   P sess:<vhost>        hash: clientId -> msgpack state
 */
import { withFencedVariants, WRITE_SCRIPT } from './fence.js';

/** Lua: the entries and records keys of group queue index q (0-based). */
const QUEUE_KEYS = `
local function zkey(q) return KEYS[K + 2 * q + 1] end
local function hkey(q) return KEYS[K + 2 * q + 2] end
`;

/**
 * ARGV groups of 6: queue index, id, expiresAt, deliveryCount, hasBody ('1'/'0'), body. A body
 * travels once per call (with the id's first record) and is copied into each queue's records.
 * An entry that exists already is overwritten with the same values, so a resent call is harmless.
 */
const ENQUEUE = `${QUEUE_KEYS}
local bodies = {}
local n = 0
for i = A + 1, #ARGV, 6 do
  local q, id, body = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 5]
  if ARGV[i + 4] == '1' then bodies[id] = body else body = bodies[id] end
  redis.call('ZADD', zkey(q), id, id)
  redis.call('HSET', hkey(q), 'e:' .. id, ARGV[i + 2], 'd:' .. id, ARGV[i + 3], 'b:' .. id, body)
  n = n + 1
end
return n
`;

/** ARGV pairs: queue index, id. The entry goes with its body. */
const REMOVE = `${QUEUE_KEYS}
local removed = 0
for i = A + 1, #ARGV, 2 do
  local q, id = tonumber(ARGV[i]), ARGV[i + 1]
  if redis.call('ZREM', zkey(q), id) == 1 then
    redis.call('HDEL', hkey(q), 'e:' .. id, 'd:' .. id, 'b:' .. id)
    removed = removed + 1
  end
end
return removed
`;

/** ARGV pairs: queue index, id. Counts a delivery of each entry that still exists. */
const MARK_DELIVERED = `${QUEUE_KEYS}
local marked = 0
for i = A + 1, #ARGV, 2 do
  local q, id = tonumber(ARGV[i]), ARGV[i + 1]
  if redis.call('ZSCORE', zkey(q), id) then
    redis.call('HINCRBY', hkey(q), 'd:' .. id, 1)
    marked = marked + 1
  end
end
return marked
`;

/** One queue's keys; no ARGV. Drops every entry of the queue with its body. */
const DROP_QUEUE = `
local n = redis.call('ZCARD', KEYS[K + 1])
redis.call('DEL', KEYS[K + 1], KEYS[K + 2])
return n
`;

/** KEYS: maxid. ARGV: a message id. Raises the highest id ever enqueued, never lowers it. */
const RAISE_MAX_ID = `${WRITE_SCRIPT}local cur = redis.call('GET', KEYS[1])
if not cur or tonumber(ARGV[1]) > tonumber(cur) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`;

/**
 * KEYS: defs, then (single server only: other slots on Redis Cluster) meta, the definitions
 * version and key pairs of the queues whose definitions are deleted. ARGV: the change feed's
 * channel and payload, then triples: op ('p' put / 'd' delete), field, value. For a put the
 * value is the packed definition; for a delete it is the index of the queue whose entries go
 * too, or '' for any other kind. With a version key, increments it and publishes
 * '<version> <payload>' on the feed (stored-definitions.ts); returns the version (0 without).
 */
const WRITE_DEFINITIONS = `${WRITE_SCRIPT}for i = 3, #ARGV, 3 do
  if ARGV[i] == 'p' then
    redis.call('HSET', KEYS[1], ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('HDEL', KEYS[1], ARGV[i + 1])
    if ARGV[i + 2] ~= '' then
      local q = tonumber(ARGV[i + 2])
      redis.call('DEL', KEYS[4 + 2 * q], KEYS[5 + 2 * q])
    end
  end
end
if KEYS[2] then redis.call('HSET', KEYS[2], 'defs', '1') end
if not KEYS[3] then return 0 end
local version = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[1], version .. ' ' .. ARGV[2])
return version
`;

/** The queue scripts, each unfenced and fenced (withFencedVariants). */
export const QUEUE_SCRIPTS = withFencedVariants({
  junctionEnqueue: ENQUEUE,
  junctionRemove: REMOVE,
  junctionMarkDelivered: MARK_DELIVERED,
  junctionDropQueue: DROP_QUEUE,
});

export const SCRIPTS = {
  ...QUEUE_SCRIPTS,
  junctionRaiseMaxId: RAISE_MAX_ID,
  junctionWriteDefinitions: WRITE_DEFINITIONS,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
/** A queue script's name without the Fenced suffix. */
export type QueueScript =
  'junctionEnqueue' | 'junctionRemove' | 'junctionMarkDelivered' | 'junctionDropQueue';
