import type { Logger } from 'pino';
import { MemoryStore, type Store } from '@junction/core';
import { LmdbStore } from '@junction/storage-lmdb';
import { RedisStore } from '@junction/storage-redis';

/**
 * Storage backends by name or URL: `memory` (nothing survives a restart), `embedded` (LMDB
 * in `dataDir`, the default of `junction start`), `redis://[:password@]host:port[/db]`.
 */
export function createStore(spec: string, dataDir: string, log?: Logger): Store {
  if (spec === 'memory') return new MemoryStore();
  if (spec === 'embedded' || spec === 'lmdb')
    return new LmdbStore({
      dir: dataDir,
      onCommitFailure: (err) => log?.error({ err }, 'store write failed (is the disk full?)'),
    });
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) return new RedisStore({ url: spec });
  throw new Error(`unknown storage '${spec}': supported: embedded, memory, redis://host:port`);
}
