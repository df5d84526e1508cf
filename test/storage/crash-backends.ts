/** Durable backends for the crash test: the broker's command-line storage arguments for each. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '@junction/testkit';

export interface CrashBackend {
  name: string;
  /** Seed of the kill points, so a failure can be replayed. */
  seed: number;
  fresh(): Promise<{ args: string[]; cleanup(): Promise<void> }>;
}

export const lmdbCrash: CrashBackend = {
  name: 'embedded (lmdb)',
  seed: 1201,
  async fresh() {
    const dir = mkdtempSync(join(tmpdir(), 'junction-crash-'));
    return {
      args: ['--storage', 'embedded', '--data-dir', dir],
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

/** A real redis-server (AOF, appendfsync always) that outlives every broker it serves. */
export const redisCrash: CrashBackend = {
  name: 'redis',
  seed: 1202,
  async fresh() {
    const redis = await startRedis();
    return { args: ['--storage', redis.url], cleanup: () => redis.cleanup() };
  },
};
