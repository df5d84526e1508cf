/**
 * A Redis replication group for the mirrored-queue rows: a primary and two replicas
 * (`appendfsync always`, as startRedisServer's single server) and three Sentinels on free
 * loopback ports, with the settings the README gives for `redis-sentinel://` storage. Ready
 * once both replicas stream and every Sentinel knows both of them and the other two Sentinels.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { askOnce, durableRedisArgs, sentinelFields } from '@junction/storage-redis';
import { freePort, stopChild, waitForPort } from './peers.js';

const MASTER = 'bench';

/** One command on a fresh connection (undefined if the server does not answer). */
const ask = (port: number, ...args: string[]): Promise<unknown> => askOnce(`127.0.0.1:${port}`, args);

async function waitFor(what: string, ok: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`Redis group for the bench: no ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startRedisGroup(dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const c of children.reverse()) await stopChild(c, false);
  };
  try {
    const ports = [await freePort(), await freePort(), await freePort()];
    for (const [i, port] of ports.entries()) {
      const d = join(dir, `redis-${i}`);
      mkdirSync(d);
      const args = [
        ...durableRedisArgs(port, d),
        ...['--min-replicas-to-write', '1', '--min-replicas-max-lag', '2', '--repl-diskless-sync-delay', '0'],
        ...(i === 0 ? [] : ['--replicaof', '127.0.0.1', String(ports[0])]),
      ];
      children.push(spawn('redis-server', args, { stdio: 'ignore' }));
      await waitForPort(port, 15_000, 'redis-server');
    }
    const online = async (): Promise<boolean> =>
      (String(await ask(ports[0]!, 'INFO', 'replication')).match(/state=online/g) ?? []).length === 2;
    await waitFor('two replicas online', online, 15_000);
    const sentinels: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const d = join(dir, `sentinel-${i}`);
      mkdirSync(d);
      const conf = join(d, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${d}`,
          `sentinel monitor ${MASTER} 127.0.0.1 ${ports[0]} 2`,
          `sentinel down-after-milliseconds ${MASTER} 1000`,
          `sentinel failover-timeout ${MASTER} 3000`,
        ].join('\n') + '\n',
      );
      children.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
      await waitForPort(port, 15_000, 'redis-sentinel');
      sentinels.push(port);
    }
    const known = async (): Promise<boolean> => {
      const views = await Promise.all(sentinels.map((p) => ask(p, 'SENTINEL', 'MASTER', MASTER)));
      return views.every((v) => {
        const m = sentinelFields(v);
        return m.get('num-slaves') === '2' && m.get('num-other-sentinels') === '2';
      });
    };
    await waitFor('Sentinels that know the group', known, 30_000);
    return { url: `redis-sentinel://${sentinels.map((p) => `127.0.0.1:${p}`).join(',')}/${MASTER}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
