/**
 * Brokers the benchmark starts itself on free loopback ports: Junction (this checkout's
 * build), Debian's rabbitmq-server (with its MQTT and STOMP plugins), Debian's mosquitto and
 * Debian's activemq (STOMP only). Their default ports would collide, so all get fresh ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { durableRedisArgs } from '@junction/storage-redis';
import { startRedisGroup } from './redis-group.js';

export interface RunningPeer {
  name: string;
  /** One URL per protocol the peer speaks in this run (amqps and mqtts: over TLS, see benchTls()). */
  urls: { amqp?: string; amqps?: string; mqtt?: string; mqtts?: string; stomp?: string };
  /** False when the peer never answers an MQTT 5 CONNECT (RabbitMQ's plugin before 3.13). */
  mqtt5?: false;
  /** Resident memory of the broker process, bytes (for the report). */
  rss(): number | undefined;
  /** The broker's process id, for its CPU share during a measured window (cpu.ts). */
  pid?(): number | undefined;
  stop(): Promise<void>;
  /**
   * Which scenarios it takes: 'transient' (in-memory brokers), 'persistent' (durable
   * storage), or both (RabbitMQ, a --target URL). Default: both.
   */
  storage?: 'transient' | 'persistent';
  /** On a store that replicates (a Redis group): it also takes the mirrored-queue scenarios. */
  replicated?: true;
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

export async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
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

/** The first process below `root` (any depth) whose command line matches `pattern`. */
function descendant(root: number | undefined, pattern: RegExp): number | undefined {
  if (!root) return undefined;
  const r = spawnSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  const procs = r.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));
  const below = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs)
      if (below.has(p.ppid) && !below.has(p.pid)) {
        below.add(p.pid);
        grew = true;
      }
  }
  return procs.find((p) => p.pid !== root && below.has(p.pid) && pattern.test(p.args))?.pid;
}

export function stopChild(child: ChildProcess, group: boolean): Promise<void> {
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

/**
 * The certificate every broker's TLS listener serves in the bench: one self-signed EC P-256
 * certificate for 127.0.0.1 (its own CA), made once per run with openssl (the test PKI lives
 * in @junction/testkit, which the built bench cannot load). The load workers trust it through
 * NODE_EXTRA_CA_CERTS, set here before any is forked, so every client verifies the broker as a
 * real one would. World-readable: RabbitMQ and Mosquitto read it as their own users.
 */
let tlsFiles: { dir: string; cert: string; key: string } | undefined;
export function benchTls(): { cert: string; key: string } {
  if (tlsFiles) return tlsFiles;
  const dir = mkdtempSync(join(tmpdir(), 'junction-bench-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const ssl = spawnSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'],
      ...['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    ],
    { encoding: 'utf8' },
  );
  if (ssl.status !== 0) throw new Error(`openssl could not make the bench certificate: ${ssl.stderr}`);
  chmodSync(dir, 0o755);
  chmodSync(key, 0o644);
  process.env['NODE_EXTRA_CA_CERTS'] = cert;
  tlsFiles = { dir, cert, key };
  return tlsFiles;
}

export function removeBenchTls(): void {
  if (tlsFiles) rmSync(tlsFiles.dir, { recursive: true, force: true });
  tlsFiles = undefined;
}

/**
 * Extra node flags for every Junction the bench starts (`--profile` sets `--cpu-prof` here).
 */
export const junctionNodeFlags: string[] = [];

/** The command that starts Junction from the checkout at `root`; change it here only. */
export function junctionCommand(
  ports: { amqp: number; mqtt: number; stomp: number; amqps?: number; mqtts?: number },
  root = repoRoot,
): string[] {
  const tls = ports.amqps !== undefined && ports.mqtts !== undefined ? benchTls() : undefined;
  return [
    join(root, 'packages/server/bin/junction.js'),
    'start',
    ...['--amqp-port', String(ports.amqp), '--amqp-host', '127.0.0.1'],
    ...['--mqtt-port', String(ports.mqtt), '--mqtt-host', '127.0.0.1', '--mqtt-ws-port', 'off'],
    ...['--stomp-port', String(ports.stomp), '--stomp-host', '127.0.0.1', '--stomp-ws-port', 'off'],
    ...['--http-port', 'off', '--storage', 'memory'],
    ...['--log-level', 'warn'],
    ...(tls
      ? [
          ...['--amqps-port', String(ports.amqps), '--mqtts-port', String(ports.mqtts)],
          ...['--tls-cert', tls.cert, '--tls-key', tls.key],
        ]
      : []),
  ];
}

/**
 * This checkout's broker: in memory for the transient scenarios (`junction`), or on a durable
 * store for the persistent ones (`junction-embedded` in a temp data dir, `junction-redis` on a
 * private redis-server with AOF and appendfsync always, `junction-redis-group` on a primary, two
 * replicas and three Sentinels (redis-group.ts), which also takes the mirrored-queue rows).
 */
export async function startJunction(storage: Storage = 'memory'): Promise<RunningPeer> {
  return startJunctionFrom(repoRoot, storage === 'memory' ? 'junction' : `junction-${storage}`, storage, {
    tls: storage === 'memory',
  });
}

/**
 * Another checkout's Junction as a target of its own (`--baseline <dir>`): the same command
 * and flags, run from `<dir>`, which must have been built there (`npm ci && npx tsc -b`).
 * In memory it takes the transient scenarios, as `junction` does; on the embedded store
 * (`baseline-embedded`) the persistent ones, as `junction-embedded` does.
 */
export async function startBaseline(
  dir: string,
  storage: 'memory' | 'embedded' = 'memory',
): Promise<RunningPeer> {
  const root = resolve(dir);
  for (const f of ['packages/server/bin/junction.js', 'packages/server/dist/main.js'])
    if (!existsSync(join(root, f)))
      throw new Error(`--baseline ${dir}: no ${f} (build it there: npm ci && npx tsc -b)`);
  // No TLS listeners: an older checkout may not have the flags.
  return startJunctionFrom(root, storage === 'memory' ? 'baseline' : 'baseline-embedded', storage, {
    tls: false,
  });
}

async function startJunctionFrom(
  root: string,
  name: string,
  storage: Storage,
  opts: { tls: boolean },
): Promise<RunningPeer> {
  const ports = {
    amqp: await freePort(),
    mqtt: await freePort(),
    stomp: await freePort(),
    ...(opts.tls ? { amqps: await freePort(), mqtts: await freePort() } : {}),
  };
  const dir = storage === 'memory' ? undefined : mkdtempSync(join(tmpdir(), 'junction-bench-store-'));
  const redis =
    storage === 'redis'
      ? await startRedisServer(dir!)
      : storage === 'redis-group'
        ? await startRedisGroup(dir!)
        : undefined;
  const spec =
    storage === 'embedded'
      ? ['--storage', 'embedded', '--data-dir', dir!]
      : redis
        ? ['--storage', redis.url]
        : [];
  const command = [
    ...junctionNodeFlags.map((f) => f.replace('{name}', name)),
    ...junctionCommand(ports, root),
    ...spec,
  ];
  const child = spawn(process.execPath, command, { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(ports.amqp, 15_000, 'Junction');
  await waitForPort(ports.mqtt, 15_000, 'Junction MQTT');
  await waitForPort(ports.stomp, 15_000, 'Junction STOMP');
  if (ports.amqps !== undefined) await waitForPort(ports.amqps, 15_000, 'Junction AMQPS');
  if (ports.mqtts !== undefined) await waitForPort(ports.mqtts, 15_000, 'Junction MQTTS');
  return {
    name,
    storage: storage === 'memory' ? 'transient' : 'persistent',
    ...(storage === 'redis-group' ? { replicated: true as const } : {}),
    urls: {
      amqp: `amqp://guest:guest@127.0.0.1:${ports.amqp}`,
      mqtt: `mqtt://127.0.0.1:${ports.mqtt}`,
      stomp: `stomp://127.0.0.1:${ports.stomp}`,
      ...(ports.amqps !== undefined ? { amqps: `amqps://guest:guest@127.0.0.1:${ports.amqps}` } : {}),
      ...(ports.mqtts !== undefined ? { mqtts: `mqtts://127.0.0.1:${ports.mqtts}` } : {}),
    },
    rss: () => rssOf(child.pid),
    pid: () => child.pid,
    async stop() {
      await stopChild(child, false);
      await redis?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Storage = 'memory' | 'embedded' | 'redis' | 'redis-group';

/** redis-server on a free port, AOF with fsync per write (what the storage tests use too). */
export async function startRedisServer(dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('redis-server', durableRedisArgs(port, dir), { stdio: 'ignore' });
  await waitForPort(port, 15_000, 'redis-server');
  return { url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child, false) };
}

/** A peer that is one child process with its own scratch directory, removed when it stops. */
function childPeer(name: string, urls: RunningPeer['urls'], child: ChildProcess, dir: string): RunningPeer {
  return {
    name,
    urls,
    rss: () => rssOf(child.pid),
    pid: () => child.pid,
    async stop() {
      await stopChild(child, false);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Debian's mosquitto on a free port, anonymous, in memory, with its per-client limits lifted:
 * `max_queued_messages 0` (no queue limit, so it drops nothing) and `max_inflight_messages 0`
 * (its default of 20 QoS 1 messages in flight to a subscriber held it to ~15k msg/s where
 * lifted it gave ~26-32k in the same run; Junction allows 100). `persistence false`: nothing
 * written to disk (so `autosave_interval` never applies), as Junction's `--storage memory`.
 */
export async function startMosquitto(): Promise<RunningPeer> {
  if (!existsSync('/usr/sbin/mosquitto'))
    throw new Error('mosquitto is not installed: apt-get install -y mosquitto');
  const port = await freePort();
  const tlsPort = await freePort();
  const tls = benchTls();
  const dir = mkdtempSync(join(tmpdir(), 'junction-bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      // Listener settings apply to every listener (per_listener_settings false).
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 0',
      'max_inflight_messages 0',
      'log_dest none',
      `listener ${port} 127.0.0.1`,
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${tls.cert}`,
      `certfile ${tls.cert}`,
      `keyfile ${tls.key}`,
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 15_000, 'Mosquitto');
  await waitForPort(tlsPort, 15_000, 'Mosquitto over TLS');
  return childPeer(
    'mosquitto',
    { mqtt: `mqtt://127.0.0.1:${port}`, mqtts: `mqtts://127.0.0.1:${tlsPort}` },
    child,
    dir,
  );
}

export async function startRabbitMq(): Promise<RunningPeer> {
  if (!existsSync('/usr/sbin/rabbitmq-server')) {
    throw new Error('rabbitmq-server is not installed: apt-get install -y rabbitmq-server');
  }
  const port = await freePort();
  const mqttPort = await freePort();
  const stompPort = await freePort();
  const amqpsPort = await freePort();
  const mqttsPort = await freePort();
  const tls = benchTls();
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
  writeFileSync(join(base, 'enabled_plugins'), '[rabbitmq_mqtt,rabbitmq_stomp].\n');
  // The TLS listeners (AMQPS and MQTTS) with the bench certificate; no client certificates.
  writeFileSync(
    join(base, 'rabbitmq.conf'),
    [
      `listeners.ssl.default = ${amqpsPort}`,
      `mqtt.listeners.ssl.default = ${mqttsPort}`,
      `ssl_options.cacertfile = ${tls.cert}`,
      `ssl_options.certfile = ${tls.cert}`,
      `ssl_options.keyfile = ${tls.key}`,
      'ssl_options.verify = verify_none',
      'ssl_options.fail_if_no_peer_cert = false',
      '',
    ].join('\n'),
  );
  spawnSync('chown', ['rabbitmq:rabbitmq', join(base, 'enabled_plugins'), join(base, 'rabbitmq.conf')]);
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
      RABBITMQ_CONFIG_FILE: join(base, 'rabbitmq.conf'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-rabbitmq_mqtt tcp_listeners [${mqttPort}] -rabbitmq_stomp tcp_listeners [${stompPort}]`,
    },
  });
  await waitForPort(port, 60_000, 'RabbitMQ');
  await waitForPort(mqttPort, 60_000, 'RabbitMQ MQTT');
  await waitForPort(stompPort, 60_000, 'RabbitMQ STOMP');
  await waitForPort(amqpsPort, 60_000, 'RabbitMQ AMQPS');
  await waitForPort(mqttsPort, 60_000, 'RabbitMQ MQTTS');
  // Debian's wrapper goes through `su` (a new session) and the node name is not on beam's
  // command line: find beam.smp among the wrapper's descendants.
  const beam = () => descendant(child.pid, /beam\.smp/);
  return {
    name: 'rabbitmq',
    mqtt5: false,
    urls: {
      amqp: `amqp://guest:guest@127.0.0.1:${port}`,
      amqps: `amqps://guest:guest@127.0.0.1:${amqpsPort}`,
      mqtt: `mqtt://127.0.0.1:${mqttPort}`,
      mqtts: `mqtts://127.0.0.1:${mqttsPort}`,
      stomp: `stomp://127.0.0.1:${stompPort}`,
    },
    rss: () => rssOf(beam()),
    pid: beam,
    async stop() {
      spawnSync('rabbitmqctl', ['-n', node, 'stop'], { stdio: 'ignore', timeout: 30_000 });
      await stopChild(child, true);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export const activeMqJar = '/usr/share/activemq/bin/activemq.jar';

/**
 * Debian's ActiveMQ 5.x as a private instance: a temp dir holding a copy of the Debian
 * instance config reduced to one STOMP transport connector on 127.0.0.1, `persistent="false"`
 * (Junction's queues here are in memory too), no JMX, no web console (Debian ships none).
 * Started in the foreground with `java -jar activemq.jar start xbean:file:...` and the heap
 * Debian's activemq-options gives it (-Xms512M -Xmx512M); stopped with SIGTERM.
 */
export async function startActiveMq(): Promise<RunningPeer> {
  if (!existsSync(activeMqJar)) throw new Error('activemq is not installed: apt-get install -y activemq');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'junction-bench-activemq-'));
  const debian = '/etc/activemq/instances-available/main';
  if (existsSync(join(debian, 'log4j2.properties')))
    copyFileSync(join(debian, 'log4j2.properties'), join(dir, 'log4j2.properties'));
  writeFileSync(
    join(dir, 'activemq.xml'),
    `<beans
  xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer"/>
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="bench${port}" useJmx="false"
          persistent="false" dataDirectory="\${activemq.base}/data">
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:${port}"/>
    </transportConnectors>
  </broker>
</beans>
`,
  );
  const out = openSync(join(dir, 'activemq.log'), 'w');
  const child = spawn(
    'java',
    [
      '-Xms512M',
      '-Xmx512M',
      '-Dorg.apache.activemq.UseDedicatedTaskRunner=true',
      '-Dactivemq.home=/usr/share/activemq',
      `-Dactivemq.base=${dir}`,
      `-Dactivemq.conf=${dir}`,
      `-Dactivemq.data=${join(dir, 'data')}`,
      `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
      '-jar',
      activeMqJar,
      'start',
      `xbean:file:${join(dir, 'activemq.xml')}`,
    ],
    { cwd: dir, stdio: ['ignore', out, out] },
  );
  try {
    await waitForPort(port, 60_000, 'ActiveMQ');
  } catch (err) {
    await stopChild(child, false);
    throw err;
  }
  return childPeer('activemq', { stomp: `stomp://127.0.0.1:${port}` }, child, dir);
}
