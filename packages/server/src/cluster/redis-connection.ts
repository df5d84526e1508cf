import { Redis } from 'ioredis';
import { reconnectWhenEnded, redisConnectionTarget } from '@junction/storage-redis';

/**
 * A connection of the cluster's own to the storage URL's Redis (apart from the store's, so a
 * big commit never delays a heartbeat). A command that hangs on a silent connection fails
 * after `commandTimeout`, so the next heartbeat is sent (and the log says why) rather than
 * queued behind it; a connection ioredis gives up on is opened again while `wanted()`.
 */
export function openRedis(
  url: string,
  wanted: () => boolean,
  onError: (err: unknown) => void,
  opts: { commandTimeout?: number } = {},
): { redis: Redis; display: string } {
  const target = redisConnectionTarget(url);
  const options = {
    ...target.options,
    lazyConnect: true,
    connectTimeout: 5000,
    ...(opts.commandTimeout === undefined ? {} : { commandTimeout: opts.commandTimeout }),
  };
  const redis = target.url === undefined ? new Redis(options) : new Redis(target.url, options);
  redis.on('error', onError);
  reconnectWhenEnded(redis, wanted, onError);
  return { redis, display: target.display };
}
