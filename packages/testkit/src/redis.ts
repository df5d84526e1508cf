/**
 * A real redis-server for tests: spawned on a free loopback port with its own data
 * directory, AOF on and fsynced on every write (what a durable broker needs), no RDB.
 * Start it again on the same dir (startRedis({ dir })) to test recovery from the AOF.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { durableRedisArgs } from '@junction/storage-redis';
import { REDIS_SERVER, spawnRedisProcess } from './redis-process.js';

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  /** Graceful stop (SIGTERM: Redis flushes the AOF and exits). Keeps dir. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. Keeps dir. */
  kill(): void;
  /** Stops the server and deletes its dir. */
  cleanup(): Promise<void>;
}

export async function startRedis(opts: { dir?: string; port?: number } = {}): Promise<RedisServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'junction-redis-'));
  const proc = await spawnRedisProcess({
    program: REDIS_SERVER,
    argsFor: (port) => durableRedisArgs(port, dir),
    what: `redis-server in ${dir}`,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
  });
  return {
    url: `redis://127.0.0.1:${proc.port}/0`,
    port: proc.port,
    dir,
    stop: () => proc.stop(),
    kill: () => proc.signal('SIGKILL'),
    cleanup: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
