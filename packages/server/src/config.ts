/**
 * Configuration: defaults, then a JSON config file, then JUNCTION_* environment
 * variables, then command-line flags; each layer overrides the one before.
 */
import { readFileSync } from 'node:fs';
import { parseAmount } from './amount.js';

export interface ListenerConfig {
  port: number;
  host: string;
}

export interface JunctionConfig {
  amqp:
    | (ListenerConfig & { frameMax: number; channelMax: number; heartbeat: number; maxMessageSize: number })
    | null;
  mqtt:
    | (ListenerConfig & {
        wsPort: number | null;
        allowAnonymous: boolean;
        maxConnections: number;
        maxInflight: number;
        maxPacketSize: number;
      })
    | null;
  stomp:
    | (ListenerConfig & {
        wsPort: number | null;
        maxFrameBytes: number;
        /** Who a CONNECT without login is (never an administrator); null refuses it. */
        anonymousUser: { username: string; password: string } | null;
      })
    | null;
  http: ListenerConfig | null;
  storage: string;
  /** Where the embedded store keeps its files. */
  dataDir: string;
  logLevel: string;
  defaultUser: { username: string; password: string } | null;
  loopbackUsers: string[];
  /**
   * Block publishers (AMQP connection.blocked; MQTT and STOMP stop reading) when the process's
   * RSS exceeds this: bytes, or a fraction below 1 of the memory available to the process
   * (the machine's, or its cgroup's limit when lower); 0 = never.
   */
  memoryHighWatermark: number;
  /**
   * Block publishers when the data directory's file system has less free space than this:
   * bytes, or a fraction below 1 of the file system's size; 0 = never. Embedded store only.
   */
  diskFreeLimit: number;
  /**
   * How much of a deep durable queue stays in memory (its head); the rest is read back from
   * the store ahead of consumers. Whichever limit is reached first applies.
   */
  queueMemory: { messages: number; bytes: number };
}

export const defaults: JunctionConfig = {
  amqp: {
    port: 5672,
    host: '0.0.0.0',
    frameMax: 131072,
    channelMax: 2047,
    heartbeat: 60,
    maxMessageSize: 128 * 1024 * 1024,
  },
  mqtt: {
    port: 1883,
    host: '0.0.0.0',
    wsPort: 15675,
    allowAnonymous: false,
    maxConnections: 0,
    maxInflight: 100,
    maxPacketSize: 16 * 1024 * 1024,
  },
  stomp: {
    port: 61613,
    host: '0.0.0.0',
    wsPort: 15674,
    maxFrameBytes: 16 * 1024 * 1024,
    anonymousUser: null,
  },
  http: { port: 15672, host: '0.0.0.0' },
  storage: 'embedded',
  dataDir: 'data',
  logLevel: 'info',
  defaultUser: { username: 'guest', password: 'guest' },
  loopbackUsers: ['guest'],
  memoryHighWatermark: 0.4, // RabbitMQ's default
  diskFreeLimit: 50_000_000, // RabbitMQ's default, 50 MB
  queueMemory: { messages: 50_000, bytes: 64 * 1024 * 1024 },
};

/** A flat key -> setter table shared by env vars and flags, so both stay in step with the docs. */
export const settings: Record<string, { describe: string; apply: (c: JunctionConfig, v: string) => void }> = {
  'amqp-port': {
    describe: 'AMQP 0-9-1 port (0 = ephemeral, "off" disables)',
    apply: (c, v) => (c.amqp = v === 'off' ? null : { ...(c.amqp ?? defaults.amqp!), port: int(v) }),
  },
  'amqp-host': { describe: 'AMQP listen address', apply: (c, v) => c.amqp && (c.amqp.host = v) },
  'frame-max': {
    describe: 'largest AMQP frame offered in connection.tune',
    apply: (c, v) => c.amqp && (c.amqp.frameMax = int(v)),
  },
  'channel-max': {
    describe: 'most AMQP channels per connection',
    apply: (c, v) => c.amqp && (c.amqp.channelMax = int(v)),
  },
  heartbeat: {
    describe: 'AMQP heartbeat offered, seconds (0 = off)',
    apply: (c, v) => c.amqp && (c.amqp.heartbeat = int(v)),
  },
  'max-message-size': {
    describe: 'largest message body accepted, bytes',
    apply: (c, v) => c.amqp && (c.amqp.maxMessageSize = int(v)),
  },
  'mqtt-port': {
    describe: 'MQTT port ("off" disables MQTT)',
    apply: (c, v) => (c.mqtt = v === 'off' ? null : { ...(c.mqtt ?? defaults.mqtt!), port: int(v) }),
  },
  'mqtt-host': { describe: 'MQTT listen address', apply: (c, v) => c.mqtt && (c.mqtt.host = v) },
  'mqtt-ws-port': {
    describe: 'MQTT over WebSocket port, path /ws ("off" disables)',
    apply: (c, v) => c.mqtt && (c.mqtt.wsPort = v === 'off' ? null : int(v)),
  },
  'mqtt-allow-anonymous': {
    describe: 'MQTT clients without a username connect as the default user (true/false)',
    apply: (c, v) => c.mqtt && (c.mqtt.allowAnonymous = bool(v)),
  },
  'mqtt-max-connections': {
    describe: 'most concurrent MQTT connections (0 = no limit)',
    apply: (c, v) => c.mqtt && (c.mqtt.maxConnections = int(v)),
  },
  'mqtt-max-inflight': {
    describe: 'most unacknowledged QoS 1/2 messages in flight per MQTT client',
    apply: (c, v) => c.mqtt && (c.mqtt.maxInflight = int(v)),
  },
  'mqtt-max-packet-size': {
    describe: 'largest MQTT packet accepted, bytes',
    apply: (c, v) => c.mqtt && (c.mqtt.maxPacketSize = int(v)),
  },
  'stomp-port': {
    describe: 'STOMP port ("off" disables STOMP)',
    apply: (c, v) => (c.stomp = v === 'off' ? null : { ...(c.stomp ?? defaults.stomp!), port: int(v) }),
  },
  'stomp-host': {
    describe: 'STOMP listen address (TCP and WebSocket)',
    apply: (c, v) => c.stomp && (c.stomp.host = v),
  },
  'stomp-ws-port': {
    describe: 'STOMP over WebSocket port, path /ws ("off" disables)',
    apply: (c, v) => c.stomp && (c.stomp.wsPort = v === 'off' ? null : int(v)),
  },
  'stomp-max-frame-bytes': {
    describe: 'largest STOMP frame accepted (command, headers and body), bytes',
    apply: (c, v) => c.stomp && (c.stomp.maxFrameBytes = int(v)),
  },
  'stomp-anonymous-user': {
    describe: 'user:password a STOMP CONNECT without login logs in as, not an administrator ("none" refuses)',
    apply: (c, v) => c.stomp && (c.stomp.anonymousUser = v === 'none' ? null : userPass(v)),
  },
  'http-port': {
    describe: 'management API, web UI and /metrics port ("off" disables)',
    apply: (c, v) => (c.http = v === 'off' ? null : { host: c.http?.host ?? '0.0.0.0', port: int(v) }),
  },
  'http-host': { describe: 'management HTTP listen address', apply: (c, v) => c.http && (c.http.host = v) },
  storage: {
    describe: 'storage backend: embedded (LMDB in --data-dir), redis://host:port[/db] or memory',
    apply: (c, v) => (c.storage = v),
  },
  'data-dir': { describe: 'directory of the embedded store', apply: (c, v) => (c.dataDir = v) },
  'log-level': {
    describe: 'pino log level: fatal, error, warn, info, debug, trace, silent',
    apply: (c, v) => (c.logLevel = v),
  },
  'default-user': {
    describe: 'user:password created in a fresh store ("none" for no user)',
    apply: (c, v) => (c.defaultUser = v === 'none' ? null : userPass(v)),
  },
  'loopback-users': {
    describe: 'comma-separated users allowed from loopback only',
    apply: (c, v) => (c.loopbackUsers = v ? v.split(',') : []),
  },
  'memory-high-watermark': {
    describe:
      'RSS above which publishers are blocked: a fraction below 1 of available memory, or a size (0 = never)',
    apply: (c, v) => (c.memoryHighWatermark = parseAmount(v)),
  },
  'disk-free-limit': {
    describe:
      'free disk space below which publishers are blocked: a size (50MB) or a fraction below 1 of the disk (0 = never)',
    apply: (c, v) => (c.diskFreeLimit = parseAmount(v)),
  },
  'queue-memory-messages': {
    describe: 'messages of a durable queue kept in memory; deeper ones page to the store',
    apply: (c, v) => (c.queueMemory = { ...c.queueMemory, messages: int(v) }),
  },
  'queue-memory-bytes': {
    describe: 'body bytes of a durable queue kept in memory; deeper ones page to the store',
    apply: (c, v) => (c.queueMemory = { ...c.queueMemory, bytes: int(v) }),
  },
};

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got '${v}'`);
  return n;
}

function bool(v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new Error(`expected true or false, got '${v}'`);
}

function userPass(v: string): { username: string; password: string } {
  const i = v.indexOf(':');
  if (i <= 0) throw new Error(`expected user:password, got '${v}'`);
  return { username: v.slice(0, i), password: v.slice(i + 1) };
}

export const envName = (key: string): string => `JUNCTION_${key.toUpperCase().replaceAll('-', '_')}`;

export function loadConfig(
  opts: { file?: string; env?: NodeJS.ProcessEnv; flags?: Record<string, string> } = {},
): JunctionConfig {
  const config: JunctionConfig = structuredClone(defaults);
  const env = opts.env ?? {};
  const file = opts.file ?? env['JUNCTION_CONFIG'];
  if (file) mergeFile(config, JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>);
  for (const [key, s] of Object.entries(settings)) {
    const v = env[envName(key)];
    if (v !== undefined) applyOne(key, s, config, v, envName(key));
  }
  for (const [key, v] of Object.entries(opts.flags ?? {})) {
    const s = settings[key];
    if (!s) throw new Error(`unknown option --${key}`);
    applyOne(key, s, config, v, `--${key}`);
  }
  return config;
}

function applyOne(
  key: string,
  s: (typeof settings)[string],
  config: JunctionConfig,
  v: string,
  source: string,
): void {
  try {
    s.apply(config, v);
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`, { cause: err });
  }
  void key;
}

/** The config file uses the same nested shape as JunctionConfig; unknown keys are an error, not a silent no-op. */
function mergeFile(config: JunctionConfig, file: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(file)) {
    if (!(k in config)) throw new Error(`config file: unknown key '${k}'`);
    const current = (config as unknown as Record<string, unknown>)[k];
    const base = current ?? (defaults as unknown as Record<string, unknown>)[k] ?? {};
    (config as unknown as Record<string, unknown>)[k] =
      v !== null && typeof v === 'object' && !Array.isArray(v) && typeof base === 'object'
        ? { ...(base as object), ...v }
        : v;
  }
}
