/** @junction/storage-redis: the Redis store (every record in one Redis database). */
export { RedisStore, RedisStoreError, FORMAT_VERSION, type RedisStoreOptions } from './redis-store.js';
export { durableRedisArgs } from './server-args.js';
export {
  isSentinelUrl,
  maskRedisUrl,
  reconnectWhenEnded,
  redisConnectionTarget,
  RedisUrlError,
  type RedisConnectionTarget,
} from './connection.js';
export { RedisDefinitionsFeed, type DefinitionsFeedOptions } from './definitions-feed.js';
