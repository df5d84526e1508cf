/** @junction/storage-redis: the Redis store (every record in one Redis database). */
export { RedisStore, RedisStoreError, type RedisStoreOptions } from './redis-store.js';
export { FORMAT_VERSION, type MigrationStep } from './migrate-format.js';
export { queueHashTag, checkKeyPrefix, QueueKeys } from './keys.js';
export { FENCE_CHECK_LUA, fencedScript, isFenced } from './fence.js';
export { DEFAULT_HOLD_MS, isRefusedBeforeRun } from './refused.js';
export { durableRedisArgs } from './server-args.js';
export {
  isClusterUrl,
  isSentinelUrl,
  maskRedisUrl,
  reconnectWhenEnded,
  redisConnectionTarget,
  RedisUrlError,
  type RedisConnectionTarget,
} from './connection.js';
export { RedisDefinitionsFeed, type DefinitionsFeedOptions } from './definitions-feed.js';
export { sentinelFields } from './sentinel-view.js';
export { askOnce } from './server-connection.js';
