/**
 * A Redis replication group for tests: a primary, two replicas and three Sentinels on free
 * loopback ports, with the settings ../shared/research/multinode.md §3.3 recommends and the
 * README documents for `redis-sentinel://` storage: every server `appendfsync always`
 * (durableRedisArgs), `min-replicas-to-write 1` with `min-replicas-max-lag 2`,
 * `repl-diskless-sync-delay 0`, Sentinels with
 * quorum 2, `down-after-milliseconds 1000` and `failover-timeout 3000`. Faults for failover
 * tests: kill -9, SIGSTOP and SIGCONT of the current primary, a wait until the Sentinels name
 * another one. Every wait is bounded; cleanup() ends every process and deletes the data dirs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { durableRedisArgs, sentinelFields as fields } from '@junction/storage-redis';
import { REDIS_SENTINEL, REDIS_SERVER, spawnRedisProcess, type RedisProcess } from './redis-process.js';
import { until } from './until.js';

export interface RedisGroupOptions {
  /** Sentinel's name of the group; default 'junction'. */
  masterName?: string;
  /** requirepass / masterauth of every Redis server (Sentinels get it as auth-pass). */
  password?: string;
  /** Sentinel down-after-milliseconds; default 1000. */
  downAfterMs?: number;
}

export interface RedisGroup {
  masterName: string;
  /** `redis-sentinel://[:password@]127.0.0.1:<s1>,127.0.0.1:<s2>,127.0.0.1:<s3>/<masterName>` */
  url: string;
  sentinelPorts: readonly number[];
  /** The ports of the three Redis servers, the first primary at start. */
  serverPorts: readonly number[];
  /** The primary a majority of the Sentinels names (waited for, up to 10 s). */
  primaryPort(): Promise<number>;
  /** kill -9 of the current primary; resolves with its port once it is gone. */
  killPrimary(): Promise<number>;
  /** SIGSTOP of the current primary (its sockets stay open, it answers nothing); its port. */
  pausePrimary(): Promise<number>;
  /** SIGCONT of a server paused by pausePrimary. */
  resume(port: number): void;
  /** kill -9 of one replica of the current primary; resolves with its port once it is gone. */
  killReplica(): Promise<number>;
  /**
   * Waits (default up to 30 s) until the primary a majority names has `count` (default 2)
   * replicas online and every Sentinel sees that many up (none `s_down`): the state a test
   * starts from after a fault it healed.
   */
  waitForReplicas(count?: number, timeoutMs?: number): Promise<void>;
  /** Starts a killed server again on its port and data, as a replica of the current primary. */
  restart(port: number): Promise<void>;
  /**
   * Waits (default up to 20 s) until a majority of the Sentinels name a primary other than
   * `oldPort` and that server answers as a primary; resolves with its port.
   */
  waitForNewPrimary(oldPort: number, timeoutMs?: number): Promise<number>;
  /** Ends every process of the group (SIGKILL: the data is deleted anyway). */
  cleanup(): Promise<void>;
}

const QUORUM = 2;

/** One command on a short-lived connection; undefined when the server does not answer within 1 s. */
async function ask(port: number, args: string[], password?: string): Promise<unknown> {
  const conn = new Redis({
    host: '127.0.0.1',
    port,
    ...(password ? { password } : {}),
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  conn.on('error', () => undefined); // an unreachable server is an answer here: undefined
  try {
    await conn.connect();
    return await conn.call(args[0]!, ...args.slice(1));
  } catch {
    return undefined;
  } finally {
    conn.disconnect();
  }
}

export async function startRedisGroup(opts: RedisGroupOptions = {}): Promise<RedisGroup> {
  const masterName = opts.masterName ?? 'junction';
  const password = opts.password;
  const auth = password ? ['--requirepass', password, '--masterauth', password] : [];
  const root = mkdtempSync(join(tmpdir(), 'junction-redis-group-'));
  const servers = new Map<number, { dir: string; proc: RedisProcess }>();
  const sentinels: RedisProcess[] = [];

  const cleanup = async (): Promise<void> => {
    const procs = [...sentinels, ...[...servers.values()].map((s) => s.proc)];
    for (const p of procs) p.signal('SIGKILL');
    await Promise.all(procs.map((p) => p.gone));
    rmSync(root, { recursive: true, force: true });
  };

  const startServer = async (
    dir: string,
    replicaOf: number | undefined,
    port?: number,
  ): Promise<RedisProcess> =>
    spawnRedisProcess({
      program: REDIS_SERVER,
      argsFor: (p) => [
        ...durableRedisArgs(p, dir),
        ...['--min-replicas-to-write', '1', '--min-replicas-max-lag', '2'],
        // A replica that needs a full sync (a restarted or demoted primary) gets it at once,
        // not after Redis 7's default 5 s wait for more replicas to share the transfer.
        ...['--repl-diskless-sync-delay', '0'],
        ...auth,
        ...(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]),
      ],
      what: `redis-server in ${dir}`,
      ...(password ? { password } : {}),
      ...(port !== undefined ? { port } : {}),
    });

  const sentinelMaster = async (port: number): Promise<number | undefined> => {
    const reply = await ask(port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName]);
    return Array.isArray(reply) && reply.length === 2 ? Number(reply[1]) : undefined;
  };

  /** The primary a majority of the Sentinels name right now, if they agree. */
  const majorityPrimary = async (): Promise<number | undefined> => {
    const named = await Promise.all(sentinels.map((s) => sentinelMaster(s.port)));
    for (const port of named)
      if (port !== undefined && named.filter((p) => p === port).length >= QUORUM) return port;
    return undefined;
  };

  const isPrimary = async (port: number): Promise<boolean> => {
    const role = await ask(port, ['ROLE'], password);
    return Array.isArray(role) && role[0] === 'master';
  };

  try {
    const dirs = [1, 2, 3].map((n) => join(root, `redis-${n}`));
    for (const d of dirs) mkdirSync(d);
    const primary = await startServer(dirs[0]!, undefined);
    servers.set(primary.port, { dir: dirs[0]!, proc: primary });
    for (const d of dirs.slice(1)) {
      const replica = await startServer(d, primary.port);
      servers.set(replica.port, { dir: d, proc: replica });
    }
    await until(
      async () => {
        const info = String((await ask(primary.port, ['INFO', 'replication'], password)) ?? '');
        return (info.match(/state=online/g) ?? []).length === 2;
      },
      'both replicas online',
      15_000,
    );
    for (let n = 1; n <= 3; n++) {
      const dir = join(root, `sentinel-${n}`);
      mkdirSync(dir);
      const conf = join(dir, 'sentinel.conf');
      const proc = await spawnRedisProcess({
        program: REDIS_SENTINEL,
        argsFor: (p) => {
          // Sentinel rewrites its config file, so it gets one of its own.
          const lines = [
            `port ${p}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} ${QUORUM}`,
            `sentinel down-after-milliseconds ${masterName} ${opts.downAfterMs ?? 1000}`,
            `sentinel failover-timeout ${masterName} 3000`,
            `sentinel parallel-syncs ${masterName} 1`,
            ...(password ? [`sentinel auth-pass ${masterName} "${password.replace(/[\\"]/g, '\\$&')}"`] : []),
          ];
          writeFileSync(conf, lines.join('\n') + '\n');
          return [conf];
        },
        what: `redis-sentinel in ${dir}`,
      });
      sentinels.push(proc);
    }
    // Sentinels learn the replicas from the primary's INFO and each other from hello
    // messages (every 2 s): a failover before that could not reach its quorum.
    await until(
      async () => {
        const masters = await Promise.all(
          sentinels.map(async (s) => fields(await ask(s.port, ['SENTINEL', 'MASTER', masterName]))),
        );
        return masters.every((m) => m.get('num-slaves') === '2' && m.get('num-other-sentinels') === '2');
      },
      'every Sentinel to know both replicas and the other Sentinels',
      20_000,
    );
  } catch (err) {
    await cleanup();
    throw err;
  }

  const primaryPort = (): Promise<number> =>
    until(majorityPrimary, 'a majority of the Sentinels to name the primary', 10_000);

  const server = (port: number): { dir: string; proc: RedisProcess } => {
    const s = servers.get(port);
    if (!s) throw new Error(`no Redis server of the group on port ${port}`);
    return s;
  };

  const userinfo = password ? `:${encodeURIComponent(password)}@` : '';
  return {
    masterName,
    url: `redis-sentinel://${userinfo}${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${masterName}`,
    sentinelPorts: sentinels.map((s) => s.port),
    serverPorts: [...servers.keys()],
    primaryPort,
    async killPrimary() {
      const port = await primaryPort();
      const { proc } = server(port);
      proc.signal('SIGKILL');
      await proc.gone;
      return port;
    },
    async pausePrimary() {
      const port = await primaryPort();
      server(port).proc.signal('SIGSTOP');
      return port;
    },
    resume(port) {
      server(port).proc.signal('SIGCONT');
    },
    async killReplica() {
      const primary = await primaryPort();
      const port = [...servers.keys()].find((p) => p !== primary && !server(p).proc.exited);
      if (port === undefined) throw new Error('the group has no replica left to kill');
      const { proc } = server(port);
      proc.signal('SIGKILL');
      await proc.gone;
      return port;
    },
    waitForReplicas: async (count = 2, timeoutMs = 30_000) => {
      await until(
        async () => {
          const port = await majorityPrimary();
          if (port === undefined) return false;
          const info = String((await ask(port, ['INFO', 'replication'], password)) ?? '');
          if ((info.match(/state=online/g) ?? []).length < count) return false;
          const views = await Promise.all(
            sentinels.map((s) => ask(s.port, ['SENTINEL', 'REPLICAS', masterName])),
          );
          return views.every(
            (v) =>
              Array.isArray(v) &&
              v.map(fields).filter((r) => !(r.get('flags') ?? '').includes('_down')).length >= count,
          );
        },
        `the primary to have ${count} replicas online that every Sentinel sees up`,
        timeoutMs,
      );
    },
    async restart(port) {
      const s = server(port);
      if (!s.proc.exited) throw new Error(`Redis server on port ${port} is still running`);
      const current = await primaryPort();
      s.proc = await startServer(s.dir, current, port);
    },
    waitForNewPrimary: (oldPort, timeoutMs = 20_000) =>
      until(
        async () => {
          const port = await majorityPrimary();
          return port !== undefined && port !== oldPort && (await isPrimary(port)) ? port : undefined;
        },
        `the Sentinels to name a primary other than port ${oldPort}`,
        timeoutMs,
      ),
    cleanup,
  };
}
