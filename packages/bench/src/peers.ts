/**
 * Brokers the benchmark starts itself on free loopback ports: Junction (this checkout's
 * build) and Debian's rabbitmq-server. Each one's default port would collide with the
 * other's, so both get fresh ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RunningPeer {
  name: string;
  url: string;
  /** Resident memory of the broker process, bytes (for the report). */
  rss(): number | undefined;
  stop(): Promise<void>;
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = createConnection(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not open port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function rssOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  const r = spawnSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' });
  const kb = Number(r.stdout.trim());
  return Number.isFinite(kb) && kb > 0 ? kb * 1024 : undefined;
}

function stopChild(child: ChildProcess, group: boolean): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r();
    child.once('exit', () => r());
    try {
      if (group && child.pid) process.kill(-child.pid, 'SIGTERM');
      else child.kill('SIGTERM');
    } catch {
      r();
    }
    setTimeout(() => {
      try {
        if (group && child.pid) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }, 10_000).unref();
  });
}

/** The command that starts Junction; change it here only. */
export function junctionCommand(port: number): string[] {
  return [join(repoRoot, 'packages/server/bin/junction.js'), 'start', '--amqp-port', String(port), '--amqp-host', '127.0.0.1', '--log-level', 'warn'];
}

export async function startJunction(): Promise<RunningPeer> {
  const port = await freePort();
  const child = spawn(process.execPath, junctionCommand(port), { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 15_000, 'Junction');
  return { name: 'junction', url: `amqp://guest:guest@127.0.0.1:${port}`, rss: () => rssOf(child.pid), stop: () => stopChild(child, false) };
}

export async function startRabbitMq(): Promise<RunningPeer> {
  if (!existsSync('/usr/sbin/rabbitmq-server')) {
    throw new Error('rabbitmq-server is not installed: apt-get install -y rabbitmq-server');
  }
  const port = await freePort();
  const dist = await freePort();
  const base = mkdtempSync(join(tmpdir(), 'junction-bench-rabbitmq-'));
  // Debian's wrapper runs the broker as the rabbitmq user: it must own its directories.
  spawnSync('chown', ['-R', 'rabbitmq:rabbitmq', base]);
  try {
    chownSync(base, Number(spawnSync('id', ['-u', 'rabbitmq'], { encoding: 'utf8' }).stdout.trim()), -1);
  } catch {
    // not root: the broker runs as us
  }
  const node = `bench${port}@localhost`;
  const child = spawn('/usr/sbin/rabbitmq-server', [], {
    detached: true,
    stdio: 'ignore',
    env: {
      ...process.env,
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(dist),
      RABBITMQ_NODENAME: node,
      RABBITMQ_MNESIA_BASE: join(base, 'mnesia'),
      RABBITMQ_LOG_BASE: join(base, 'log'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(base, 'enabled_plugins'),
    },
  });
  await waitForPort(port, 60_000, 'RabbitMQ');
  const beam = () => {
    const r = spawnSync('pgrep', ['-f', `beam.*${node}`], { encoding: 'utf8' });
    return Number(r.stdout.trim().split('\n')[0]) || undefined;
  };
  return {
    name: 'rabbitmq',
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    rss: () => rssOf(beam()),
    async stop() {
      spawnSync('rabbitmqctl', ['-n', node, 'stop'], { stdio: 'ignore', timeout: 30_000 });
      await stopChild(child, true);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
