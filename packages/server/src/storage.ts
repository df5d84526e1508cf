import type { Logger } from 'pino';
import { MemoryStore, type Store } from '@junction/core';
import { LmdbStore } from '@junction/storage-lmdb';
import { isClusterUrl, isSentinelUrl, maskRedisUrl, RedisStore } from '@junction/storage-redis';

/**
 * Storage backends by name or URL: `memory` (nothing survives a restart), `embedded` (LMDB
 * in `dataDir`, the default of `junction start`), `redis://[:password@]host:port[/db]`, or
 * `redis-sentinel://[:password@]host:port,host:port/<master-name>` (a replication group), or
 * `redis-cluster://[:password@]host:port,host:port` (a Redis Cluster). `feedOrigin` names a
 * cluster node's definitions writes on the Redis store's change feed.
 */
export function createStore(
  spec: string,
  dataDir: string,
  log?: Logger,
  opts: { feedOrigin?: string; holdMs?: number } = {},
): Store {
  if (spec === 'memory') return new MemoryStore();
  if (spec === 'embedded' || spec === 'lmdb')
    return new LmdbStore({
      dir: dataDir,
      onCommitFailure: (err) => log?.error({ err }, 'store write failed (is the disk full?)'),
    });
  if (
    spec.startsWith('redis://') ||
    spec.startsWith('rediss://') ||
    isSentinelUrl(spec) ||
    isClusterUrl(spec)
  )
    return new RedisStore({
      url: spec,
      ...opts,
      // A one-time conversion of an earlier store format (migrate-format.ts): each step logged.
      onMigrationStep: (step) => log?.info(step, 'store format migration'),
    });
  throw new Error(
    `unknown storage '${maskRedisUrl(spec)}': supported: embedded, memory, redis://host:port, redis-sentinel://host:port,host:port/<master-name>, redis-cluster://host:port,host:port`,
  );
}
