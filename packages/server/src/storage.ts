import { MemoryStore, type Store } from '@junction/core';

/** Storage backends by name or URL. */
export function createStore(spec: string): Store {
  if (spec === 'memory') return new MemoryStore();
  throw new Error(`unknown storage '${spec}': supported: memory`);
}
