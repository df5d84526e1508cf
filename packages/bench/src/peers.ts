/**
 * Brokers the benchmark starts itself on free loopback ports: Junction (this checkout's
 * build), Debian's rabbitmq-server (with its MQTT plugin) and Debian's mosquitto. Each one's default port would collide with the
 * other's, so both get fresh ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RunningPeer {
  name: string;
  /** One URL per protocol the peer speaks in this run. */
  urls: { amqp?: string; mqtt?: string };
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
export function junctionCommand(ports: { amqp: number; mqtt: number }): string[] {
  return [
    join(repoRoot, 'packages/server/bin/junction.js'),
    'start',
    ...['--amqp-port', String(ports.amqp), '--amqp-host', '127.0.0.1'],
    ...['--mqtt-port', String(ports.mqtt), '--mqtt-host', '127.0.0.1', '--mqtt-ws-port', 'off'],
    ...['--stomp-port', 'off', '--http-port', 'off', '--storage', 'memory'],
    ...['--log-level', 'warn'],
  ];
}

export async function startJunction(): Promise<RunningPeer> {
  const ports = { amqp: await freePort(), mqtt: await freePort() };
  const child = spawn(process.execPath, junctionCommand(ports), { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(ports.amqp, 15_000, 'Junction');
  await waitForPort(ports.mqtt, 15_000, 'Junction MQTT');
  return {
    name: 'junction',
    urls: { amqp: `amqp://guest:guest@127.0.0.1:${ports.amqp}`, mqtt: `mqtt://127.0.0.1:${ports.mqtt}` },
    rss: () => rssOf(child.pid),
    stop: () => stopChild(child, false),
  };
}

/** Debian's mosquitto on a free port, anonymous, in memory; its per-client queue limit lifted so it drops nothing. */
export async function startMosquitto(): Promise<RunningPeer> {
  if (!existsSync('/usr/sbin/mosquitto'))
    throw new Error('mosquitto is not installed: apt-get install -y mosquitto');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'junction-bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 0',
      'log_dest none',
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 15_000, 'Mosquitto');
  return {
    name: 'mosquitto',
    urls: { mqtt: `mqtt://127.0.0.1:${port}` },
    rss: () => rssOf(child.pid),
    async stop() {
      await stopChild(child, false);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startRabbitMq(): Promise<RunningPeer> {
  if (!existsSync('/usr/sbin/rabbitmq-server')) {
    throw new Error('rabbitmq-server is not installed: apt-get install -y rabbitmq-server');
  }
  const port = await freePort();
  const mqttPort = await freePort();
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
  writeFileSync(join(base, 'enabled_plugins'), '[rabbitmq_mqtt].\n');
  spawnSync('chown', ['rabbitmq:rabbitmq', join(base, 'enabled_plugins')]);
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
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-rabbitmq_mqtt tcp_listeners [${mqttPort}]`,
    },
  });
  await waitForPort(port, 60_000, 'RabbitMQ');
  await waitForPort(mqttPort, 60_000, 'RabbitMQ MQTT');
  const beam = () => {
    const r = spawnSync('pgrep', ['-f', `beam.*${node}`], { encoding: 'utf8' });
    return Number(r.stdout.trim().split('\n')[0]) || undefined;
  };
  return {
    name: 'rabbitmq',
    urls: { amqp: `amqp://guest:guest@127.0.0.1:${port}`, mqtt: `mqtt://127.0.0.1:${mqttPort}` },
    rss: () => rssOf(beam()),
    async stop() {
      spawnSync('rabbitmqctl', ['-n', node, 'stop'], { stdio: 'ignore', timeout: 30_000 });
      await stopChild(child, true);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
