/**
 * The storage backends the contract suite runs against. Each gives a fresh data location
 * and a way to open a new Store instance on it, as a restarted broker would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore, type Store } from '@junction/core';
import { LmdbStore } from '@junction/storage-lmdb';

export interface BackendFixture {
  /** A new Store on the same data: what a restarted broker opens. */
  reopen(): Store;
  cleanup(): Promise<void>;
}

export interface Backend {
  name: string;
  /** Whether data outlives the process (the memory store only outlives close/open). */
  durable: boolean;
  fresh(): Promise<BackendFixture>;
}

export const memory: Backend = {
  name: 'memory',
  durable: false,
  async fresh() {
    const store = new MemoryStore();
    return { reopen: () => store, cleanup: async () => {} };
  },
};

export const lmdb: Backend = {
  name: 'lmdb',
  durable: true,
  async fresh() {
    const dir = mkdtempSync(join(tmpdir(), 'junction-lmdb-'));
    return {
      reopen: () => new LmdbStore({ dir }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

export const backends: Backend[] = [memory, lmdb];
