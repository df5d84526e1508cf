/**
 * The storage backends the contract suite runs against. Each gives a fresh data location
 * and a way to open a new Store instance on it, as a restarted broker would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore, type Store } from '@junction/core';
import { LmdbStore } from '@junction/storage-lmdb';
import { RedisStore } from '@junction/storage-redis';
import { startRedis, startRedisCluster } from '@junction/testkit';

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

/** A real redis-server per fixture (AOF, fsync always), under a non-default key prefix. */
export const redis: Backend = {
  name: 'redis',
  durable: true,
  async fresh() {
    const server = await startRedis();
    const keyPrefix = 'test:';
    return {
      reopen: () => new RedisStore({ url: server.url, keyPrefix }),
      cleanup: () => server.cleanup(),
    };
  },
};

/** The backends the stream log contract runs over (stream-contract.test.ts). */
export const streamBackends: Backend[] = [memory, lmdb, redis];

/**
 * A Redis Cluster of 3 primaries per fixture (`redis-cluster://`): every queue call in one
 * slot. Queue records only (the contract suite); streams have their own Cluster test in
 * packages/storage-redis.
 */
export const redisCluster: Backend = {
  name: 'redis-cluster',
  durable: true,
  async fresh() {
    const cluster = await startRedisCluster();
    const url = `redis-cluster://${cluster.ports.map((p) => `127.0.0.1:${p}`).join(',')}`;
    return {
      reopen: () => new RedisStore({ url, keyPrefix: 'test:' }),
      cleanup: () => cluster.cleanup(),
    };
  },
};

/** The backends the store contract runs over (contract.test.ts, names-property.test.ts). */
export const backends: Backend[] = [memory, lmdb, redis, redisCluster];
