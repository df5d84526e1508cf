/**
 * The cluster's Lua scripts, each given its keys through KEYS (so Redis Cluster can route
 * it) and timed by the Redis server's clock, never a node's. Defined once per connection as
 * ioredis commands, which send EVALSHA and fall back to EVAL after a failover to a server
 * that has not seen the script.
 */
import type { Cluster, Redis } from 'ioredis';

/** A connection to one Redis (or its replication group) or to a Redis Cluster. */
export type RedisConnection = Redis | Cluster;

/** Server time in ms, from inside a script (allowed since Redis 5: scripts replicate their effects). */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS[1] the owner record, ARGV[1] and ARGV[2] the caller's node and epoch. */
const IF_CALLER_HOLDS = `local cur = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then`;

const SCRIPTS = {
  /** KEYS: node, nodes. ARGV: id, leaseMs, address, queues. Registers or renews a node; prunes dead ones. */
  junctionClusterHeartbeat: {
    keys: 2,
    lua: `${NOW}
redis.call('HSET', KEYS[1], 'address', ARGV[3], 'queues', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return now`,
  },
  /** KEYS: node, nodes. ARGV: id. A node leaving on purpose. */
  junctionClusterLeave: {
    keys: 2,
    lua: `redis.call('DEL', KEYS[1])
return redis.call('ZREM', KEYS[2], ARGV[1])`,
  },
  /**
   * KEYS: nodes. ARGV: the node key prefix. Live nodes as {id, address, queues, ttl} rows. The
   * node keys are built here rather than passed, since the list is what the script finds;
   * they share the {cluster} tag, so on Redis Cluster they are on this script's slot.
   */
  junctionClusterLiveNodes: {
    keys: 1,
    lua: `${NOW}
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'address', 'queues')
  local ttl = redis.call('PTTL', key)
  if f[1] and ttl > 0 then table.insert(out, {id, f[1], f[2] or '0', ttl}) end
end
return out`,
  },
  /**
   * KEYS: owner, epoch. ARGV: node, leaseMs. Takes a free queue: INCR its epoch and set the
   * owner with a PX lease. Reply {1, epoch} when the caller owns it (now or already), else
   * {0, epoch, owner}.
   */
  junctionClusterAcquire: {
    keys: 2,
    lua: `local cur = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if cur[1] then
  if cur[1] == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, tonumber(cur[2])}
  end
  return {0, tonumber(cur[2]), cur[1]}
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', epoch)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, epoch}`,
  },
  /** KEYS: owner. ARGV: node, epoch, leaseMs. 1 when the lease was still the caller's and is extended. */
  junctionClusterRenew: {
    keys: 1,
    lua: `${IF_CALLER_HOLDS}
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0`,
  },
  /** KEYS: owner. ARGV: node, epoch. 1 when the caller's lease was dropped (the epoch stays). */
  junctionClusterRelease: {
    keys: 1,
    lua: `${IF_CALLER_HOLDS}
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`,
  },
  /** KEYS: owner, epoch. {owner or false, owner's epoch, lease ms left, queue epoch}. */
  junctionClusterReadOwner: {
    keys: 2,
    lua: `local cur = redis.call('HMGET', KEYS[1], 'node', 'epoch')
return {cur[1], cur[2], redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2])}`,
  },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
type Arg = string | number;
export type ScriptCalls = Record<ScriptName, (...args: Arg[]) => Promise<unknown>>;

const defined = new WeakSet<RedisConnection>();

/** The scripts as commands of this connection (defined on first use). */
export function clusterScripts(redis: RedisConnection): ScriptCalls {
  if (!defined.has(redis)) {
    for (const [name, s] of Object.entries(SCRIPTS))
      redis.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
    defined.add(redis);
  }
  return redis as unknown as ScriptCalls;
}
