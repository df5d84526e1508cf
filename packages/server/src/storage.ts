import { MemoryStore, type Store } from '@junction/core';
import { LmdbStore } from '@junction/storage-lmdb';

/**
 * Storage backends by name or URL: `memory` (nothing survives a restart), `embedded` (LMDB
 * in `dataDir`, the default of `junction start`).
 */
export function createStore(spec: string, dataDir: string): Store {
  if (spec === 'memory') return new MemoryStore();
  if (spec === 'embedded' || spec === 'lmdb') return new LmdbStore({ dir: dataDir });
  throw new Error(`unknown storage '${spec}': supported: memory, embedded`);
}
