/**
 * A Redis Cluster of three primaries (no replicas) on free loopback ports, for testing that
 * Junction's keys and scripts run when Redis is sharded by hash slot: each server AOF-fsynced
 * like startRedis, the slots spread by `redis-cli --cluster create`, bounded waits until every
 * node reports `cluster_state:ok`. cleanup() ends the servers and deletes their dirs.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { durableRedisArgs } from '@junction/storage-redis';
import { freePort, REDIS_SERVER, spawnRedisProcess, type RedisProcess } from './redis-process.js';
import { until } from './until.js';

const REDIS_CLI = process.env['REDIS_CLI'] ?? '/usr/bin/redis-cli';

export interface RedisCluster {
  /** The primaries' ports (clients start from any of them). */
  ports: readonly number[];
  cleanup(): Promise<void>;
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const root = mkdtempSync(join(tmpdir(), 'junction-redis-cluster-'));
  const servers: RedisProcess[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of servers) s.signal('SIGKILL');
    await Promise.all(servers.map((s) => s.gone));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    for (let n = 1; n <= 3; n++) {
      const dir = join(root, `redis-${n}`);
      mkdirSync(dir);
      // The cluster bus gets a free port of its own: the default (port + 10000) may not exist.
      const busPort = await freePort();
      servers.push(
        await spawnRedisProcess({
          program: REDIS_SERVER,
          argsFor: (port) => [
            ...durableRedisArgs(port, dir),
            ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf')],
            ...['--cluster-port', String(busPort), '--cluster-node-timeout', '2000'],
          ],
          what: `redis-server (cluster) in ${dir}`,
        }),
      );
    }
    const addrs = servers.map((s) => `127.0.0.1:${s.port}`);
    await promisify(execFile)(
      REDIS_CLI,
      ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'],
      {
        timeout: 20_000,
      },
    );
    await until(
      async () => {
        const infos = await Promise.all(
          servers.map(async (s) => {
            const c = new Redis({
              port: s.port,
              lazyConnect: true,
              maxRetriesPerRequest: 0,
              connectTimeout: 1000,
            });
            try {
              await c.connect();
              return String(await c.call('CLUSTER', 'INFO'));
            } catch (err) {
              return String(err);
            } finally {
              c.disconnect();
            }
          }),
        );
        return infos.every((i) => i.includes('cluster_state:ok'));
      },
      'every node of the Redis Cluster to report cluster_state:ok',
      20_000,
    );
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { ports: servers.map((s) => s.port), cleanup };
}
