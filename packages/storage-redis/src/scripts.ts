/**
 * The Lua scripts behind every multi-key write. Redis runs a script atomically (no other
 * command interleaves, and the AOF holds it as one unit), so a queue's state is never
 * half-written: an entry, its body and the body's reference count change together.
 *
 * Every script takes no KEYS; ARGV[1] is the key prefix and the rest is a flat list of
 * fixed-size groups. Keys are built inside the script from the prefix, which is fine
 * for a single Redis server (or a primary with replicas) but not for Redis Cluster.
 *
 * Numbers (message ids, expiresAt) arrive as decimal strings and are stored as given:
 * Lua 5.1 would print a large number in exponent form, so a script never turns one
 * back into a string. Only refcounts and delivery counts go through HINCRBY.
 *
 * Layout (P = prefix; tag = JSON [vhost, queue]):
 *   P meta                hash: format, defs ('1' once definitions were written)
 *   P maxid               string: highest message id ever enqueued
 *   P defs                hash: kind NUL identity -> msgpack definition
 *   P defs:version        counter: definitions writes so far (the change feed's version)
 *   P qz:<tag>            sorted set: member and score = messageId (enqueue order)
 *   P qh:<tag>            hash: e:<id> -> expiresAt, d:<id> -> deliveryCount
 *   P m:<id>              hash: v -> msgpack { x, k, p, b }, r -> refcount
 *   P ret:<vhost>         hash: topic -> msgpack StoredMessage
 *   P sess:<vhost>        hash: clientId -> msgpack state
 */

/** Shared Lua helpers, prepended to the scripts that need them. */
const HELPERS = `
local p = ARGV[1]
local function release(id)
  local mk = p .. 'm:' .. id
  if redis.call('HINCRBY', mk, 'r', -1) <= 0 then redis.call('DEL', mk) end
end
local function drop(tag)
  local zk = p .. 'qz:' .. tag
  local ids = redis.call('ZRANGE', zk, 0, -1)
  for _, id in ipairs(ids) do release(id) end
  redis.call('DEL', zk, p .. 'qh:' .. tag)
  return #ids
end
`;

/**
 * ARGV: prefix, then groups of 6: tag, id, expiresAt, deliveryCount, hasBody ('1'/'0'), body.
 * A body travels once per batch (with the id's first record); an entry that already exists
 * is overwritten without counting its body again, so a resent batch is harmless.
 */
export const ENQUEUE = `${HELPERS}
local maxKey = p .. 'maxid'
local max = redis.call('GET', maxKey)
local maxNum = tonumber(max or '0')
local newMax = nil
for i = 2, #ARGV, 6 do
  local tag, id = ARGV[i], ARGV[i + 1]
  local mk = p .. 'm:' .. id
  if redis.call('ZADD', p .. 'qz:' .. tag, id, id) == 1 then redis.call('HINCRBY', mk, 'r', 1) end
  redis.call('HSET', p .. 'qh:' .. tag, 'e:' .. id, ARGV[i + 2], 'd:' .. id, ARGV[i + 3])
  if ARGV[i + 4] == '1' and redis.call('HEXISTS', mk, 'v') == 0 then redis.call('HSET', mk, 'v', ARGV[i + 5]) end
  local n = tonumber(id)
  if n > maxNum then maxNum = n; newMax = id end
end
if newMax then redis.call('SET', maxKey, newMax) end
return (#ARGV - 1) / 6
`;

/** ARGV: prefix, then pairs: tag, id. The body goes with its last entry. */
export const REMOVE = `${HELPERS}
local removed = 0
for i = 2, #ARGV, 2 do
  local tag, id = ARGV[i], ARGV[i + 1]
  if redis.call('ZREM', p .. 'qz:' .. tag, id) == 1 then
    redis.call('HDEL', p .. 'qh:' .. tag, 'e:' .. id, 'd:' .. id)
    release(id)
    removed = removed + 1
  end
end
return removed
`;

/** ARGV: prefix, then pairs: tag, id. Counts a delivery of each entry that still exists. */
export const MARK_DELIVERED = `
local p = ARGV[1]
local marked = 0
for i = 2, #ARGV, 2 do
  local tag, id = ARGV[i], ARGV[i + 1]
  if redis.call('ZSCORE', p .. 'qz:' .. tag, id) then
    redis.call('HINCRBY', p .. 'qh:' .. tag, 'd:' .. id, 1)
    marked = marked + 1
  end
end
return marked
`;

/** ARGV: prefix, tag. Drops every entry of the queue, releasing their bodies. */
export const DROP_QUEUE = `${HELPERS}
return drop(ARGV[2])
`;

/**
 * ARGV: prefix, the change feed's payload, then triples: op ('p' put / 'd' delete), field,
 * value. For a put the value is the packed definition; for a delete it is the tag of a queue
 * whose entries go too, or '' for any other kind. Increments the definitions version and
 * publishes '<version> <payload>' on the feed (stored-definitions.ts); returns the version.
 */
export const WRITE_DEFINITIONS = `${HELPERS}
local dk = p .. 'defs'
for i = 3, #ARGV, 3 do
  if ARGV[i] == 'p' then
    redis.call('HSET', dk, ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('HDEL', dk, ARGV[i + 1])
    if ARGV[i + 2] ~= '' then drop(ARGV[i + 2]) end
  end
end
redis.call('HSET', p .. 'meta', 'defs', '1')
local version = redis.call('INCR', p .. 'defs:version')
redis.call('PUBLISH', p .. 'defs:feed', version .. ' ' .. ARGV[2])
return version
`;

export const SCRIPTS = {
  junctionEnqueue: ENQUEUE,
  junctionRemove: REMOVE,
  junctionMarkDelivered: MARK_DELIVERED,
  junctionDropQueue: DROP_QUEUE,
  junctionWriteDefinitions: WRITE_DEFINITIONS,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
