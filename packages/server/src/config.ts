/**
 * Configuration: defaults, then a JSON config file, then JUNCTION_* environment
 * variables, then command-line flags; each layer overrides the one before.
 */
import { readFileSync } from 'node:fs';
import { CERT_LOGIN_FROM, type CertLoginFrom, type ClientCertMode } from '@junction/core';
import { AUTH_MECHANISMS, type AuthMechanism } from '@junction/amqp';
import { DEFAULT_HOLD_MS } from '@junction/storage-redis';
import { parseAmount } from './amount.js';
import {
  connectionLimitDefaults,
  connectionLimitSettings,
  type ConnectionLimits,
} from './connection-limits.js';
import { checkCluster, clusterDefaults, clusterSettings, type ClusterConfig } from './cluster-config.js';

export interface ListenerConfig {
  /** The plain (TCP or HTTP) listener's port; null = off. */
  port: number | null;
  host: string;
}

/**
 * TLS material as file paths (read at start and again on SIGHUP) and policy. The top-level
 * `tls` applies to every TLS listener; a protocol section's `tls` overrides fields of it.
 */
export interface TlsConfig {
  cert: string | null;
  key: string | null;
  /** CA bundle that client certificates must chain to. */
  ca: string | null;
  /** Of an encrypted key; config file only (not a flag: it would show in `ps`). */
  passphrase: string | null;
  clientCert: ClientCertMode;
  /**
   * Which part of a verified client certificate names the user of a certificate login (AMQP
   * EXTERNAL, MQTT and STOMP without credentials): the subject's CN, the whole subject DN, or
   * the first subjectAltName of type email, DNS or URI.
   */
  certLoginFrom: CertLoginFrom;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list; null = Node's default. */
  ciphers: string | null;
}

/** A protocol's TLS listener: its port (null = off) and overrides of the top-level `tls`. */
export interface TlsListenerConfig {
  tlsPort: number | null;
  tls?: Partial<TlsConfig>;
}

/**
 * The `Origin`s a WebSocket listener accepts from browsers: 'same-host' (the page's host:port
 * is the request's Host), 'any', or a list of origins ("https://app.example:8443"). Clients
 * that send no Origin are not browsers and are not checked.
 */
export type WsOrigins = 'same-host' | 'any' | string[];

export interface JunctionConfig {
  amqp:
    | (ListenerConfig &
        TlsListenerConfig & {
          frameMax: number;
          channelMax: number;
          heartbeat: number;
          maxMessageSize: number;
          /** SASL mechanisms offered, in order; EXTERNAL only over a verified client certificate. */
          authMechanisms: AuthMechanism[];
        })
    | null;
  mqtt:
    | (ListenerConfig &
        TlsListenerConfig & {
          wsPort: number | null;
          /** MQTT over secure WebSocket (path /ws); null = off. */
          wssPort: number | null;
          /** Which browser pages may open MQTT over WebSocket (WsOrigins). */
          wsOrigins: WsOrigins;
          allowAnonymous: boolean;
          maxConnections: number;
          maxInflight: number;
          maxPacketSize: number;
          /** MQTT 5 Receive Maximum (1-65535) and Topic Alias Maximum (0-65535) in CONNACK. */
          receiveMaximum: number;
          topicAliasMaximum: number;
          /** Longest a session outlives its connection, seconds (0xFFFFFFFF = no cap). */
          maxSessionExpiry: number;
          /** No username and password over a verified client certificate: the user it names. */
          certLogin: boolean;
          /** MQTT 5 Server Reference told to clients sent away ('' = none). */
          serverReference: string;
          /** Send every MQTT 5 CONNECT to serverReference (CONNACK 0x9C / 0x9D). */
          redirect: 'off' | 'temporary' | 'permanent';
        })
    | null;
  stomp:
    | (ListenerConfig &
        TlsListenerConfig & {
          wsPort: number | null;
          /** STOMP over secure WebSocket (path /ws); null = off. */
          wssPort: number | null;
          /** Which browser pages may open STOMP over WebSocket (WsOrigins). */
          wsOrigins: WsOrigins;
          maxFrameBytes: number;
          /** Who a CONNECT without login is (never an administrator); null refuses it. */
          anonymousUser: { username: string; password: string } | null;
          /** No login and passcode over a verified client certificate: the user it names. */
          certLogin: boolean;
        })
    | null;
  /** Management; `tlsPort` is its HTTPS port (the same API and UI). */
  http: (ListenerConfig & TlsListenerConfig) | null;
  tls: TlsConfig;
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
  /**
   * How long the Redis store holds a write Redis refused before running it (no primary during a
   * failover, too few replicas) before failing it with the reason; ms.
   */
  redisHoldMs: number;
  /** Per-connection limits (connection-limits.ts). */
  limits: ConnectionLimits;
  /** Cluster mode (cluster-config.ts): on when `nodeName` is set. */
  cluster: ClusterConfig;
}

export const defaults: JunctionConfig = {
  amqp: {
    port: 5672,
    host: '0.0.0.0',
    frameMax: 131072,
    channelMax: 2047,
    heartbeat: 60,
    maxMessageSize: 128 * 1024 * 1024,
    authMechanisms: [...AUTH_MECHANISMS],
    tlsPort: null,
  },
  mqtt: {
    port: 1883,
    host: '0.0.0.0',
    wsPort: 15675,
    tlsPort: null,
    wssPort: null,
    wsOrigins: 'same-host',
    allowAnonymous: false,
    maxConnections: 0,
    maxInflight: 100,
    maxPacketSize: 16 * 1024 * 1024,
    receiveMaximum: 65535,
    topicAliasMaximum: 64,
    maxSessionExpiry: 604_800,
    certLogin: true,
    serverReference: '',
    redirect: 'off',
  },
  stomp: {
    port: 61613,
    host: '0.0.0.0',
    wsPort: 15674,
    tlsPort: null,
    wssPort: null,
    wsOrigins: 'same-host',
    maxFrameBytes: 16 * 1024 * 1024,
    anonymousUser: null,
    certLogin: true,
  },
  http: { port: 15672, host: '0.0.0.0', tlsPort: null },
  // TLS listeners are off until their port is set (as in RabbitMQ); a TLS port needs cert and key.
  tls: {
    cert: null,
    key: null,
    ca: null,
    passphrase: null,
    clientCert: 'none',
    certLoginFrom: 'cn',
    minVersion: 'TLSv1.2',
    ciphers: null,
  },
  storage: 'embedded',
  dataDir: 'data',
  logLevel: 'info',
  defaultUser: { username: 'guest', password: 'guest' },
  loopbackUsers: ['guest'],
  memoryHighWatermark: 0.4, // RabbitMQ's default
  diskFreeLimit: 50_000_000, // RabbitMQ's default, 50 MB
  queueMemory: { messages: 50_000, bytes: 64 * 1024 * 1024 },
  redisHoldMs: DEFAULT_HOLD_MS,
  limits: connectionLimitDefaults,
  cluster: clusterDefaults,
};

/** A flat key -> setter table shared by env vars and flags, so both stay in step with the docs. */
export const settings: Record<string, { describe: string; apply: (c: JunctionConfig, v: string) => void }> = {
  'amqp-port': {
    describe: 'AMQP 0-9-1 port (0 = ephemeral, "off" disables)',
    apply: (c, v) => (section(c, 'amqp').port = portOrOff(v)),
  },
  'amqps-port': {
    describe: 'AMQP 0-9-1 over TLS port, e.g. 5671 (default off; needs --tls-cert and --tls-key)',
    apply: (c, v) => (section(c, 'amqp').tlsPort = portOrOff(v)),
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
  'amqp-auth-mechanisms': {
    describe: 'comma-separated SASL mechanisms offered: PLAIN, AMQPLAIN, EXTERNAL (client certificate)',
    apply: (c, v) => c.amqp && (c.amqp.authMechanisms = authMechanisms(v)),
  },
  'mqtt-port': {
    describe: 'MQTT port ("off" disables MQTT over TCP and plain WebSocket; TLS ports are their own)',
    apply: (c, v) => plainPort(section(c, 'mqtt'), v),
  },
  'mqtts-port': {
    describe: 'MQTT over TLS port, e.g. 8883 (default off; needs --tls-cert and --tls-key)',
    apply: (c, v) => (section(c, 'mqtt').tlsPort = portOrOff(v)),
  },
  'mqtt-host': { describe: 'MQTT listen address', apply: (c, v) => c.mqtt && (c.mqtt.host = v) },
  'mqtt-ws-port': {
    describe: 'MQTT over WebSocket port, path /ws ("off" disables)',
    apply: (c, v) => (section(c, 'mqtt').wsPort = portOrOff(v)),
  },
  'mqtt-wss-port': {
    describe: 'MQTT over secure WebSocket port, path /ws (default off; needs --tls-cert and --tls-key)',
    apply: (c, v) => (section(c, 'mqtt').wssPort = portOrOff(v)),
  },
  'mqtt-ws-origins': {
    describe: 'browser pages MQTT over WebSocket accepts: same-host, any, or comma-separated origins',
    apply: (c, v) => (section(c, 'mqtt').wsOrigins = wsOrigins(v)),
  },
  'mqtt-allow-anonymous': {
    describe: 'MQTT clients without a username connect as the default user (true/false)',
    apply: (c, v) => c.mqtt && (c.mqtt.allowAnonymous = bool(v)),
  },
  'mqtt-cert-login': {
    describe:
      'MQTT clients without username and password log in as their verified client certificate names (true/false)',
    apply: (c, v) => c.mqtt && (c.mqtt.certLogin = bool(v)),
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
  'mqtt-receive-maximum': {
    describe: 'MQTT 5 Receive Maximum: most unacknowledged QoS 1/2 publishes from one client (1-65535)',
    apply: (c, v) => c.mqtt && (c.mqtt.receiveMaximum = between(v, 1, 65535)),
  },
  'mqtt-topic-alias-maximum': {
    describe:
      'MQTT 5 Topic Alias Maximum: most topic aliases one client may set, and the server sends it (0-65535; 0 = none)',
    apply: (c, v) => c.mqtt && (c.mqtt.topicAliasMaximum = between(v, 0, 65535)),
  },
  'mqtt-max-session-expiry': {
    describe:
      'longest an MQTT session outlives its connection, seconds: caps MQTT 5 Session Expiry Interval and 3.1.1 persistent sessions (4294967295 = no cap)',
    apply: (c, v) => c.mqtt && (c.mqtt.maxSessionExpiry = between(v, 0, 0xffffffff)),
  },
  'mqtt-server-reference': {
    describe:
      'MQTT 5 Server Reference (e.g. other-node:1883) sent with DISCONNECT 0x8B at shutdown, CONNACK 0x9C to clients still connecting then, and with --mqtt-redirect',
    apply: (c, v) => c.mqtt && (c.mqtt.serverReference = v),
  },
  'mqtt-redirect': {
    describe:
      'send every MQTT 5 CONNECT to --mqtt-server-reference: off, temporary (CONNACK 0x9C) or permanent (0x9D); MQTT 3.1.1 clients get CONNACK 3',
    apply: (c, v) => {
      if (v !== 'off' && v !== 'temporary' && v !== 'permanent')
        throw new Error(`expected off, temporary or permanent, got '${v}'`);
      if (c.mqtt) c.mqtt.redirect = v;
    },
  },
  'stomp-port': {
    describe: 'STOMP port ("off" disables STOMP over TCP and plain WebSocket; TLS ports are their own)',
    apply: (c, v) => plainPort(section(c, 'stomp'), v),
  },
  'stomps-port': {
    describe: 'STOMP over TLS port, e.g. 61614 (default off; needs --tls-cert and --tls-key)',
    apply: (c, v) => (section(c, 'stomp').tlsPort = portOrOff(v)),
  },
  'stomp-host': {
    describe: 'STOMP listen address (TCP and WebSocket)',
    apply: (c, v) => c.stomp && (c.stomp.host = v),
  },
  'stomp-ws-port': {
    describe: 'STOMP over WebSocket port, path /ws ("off" disables)',
    apply: (c, v) => (section(c, 'stomp').wsPort = portOrOff(v)),
  },
  'stomp-wss-port': {
    describe: 'STOMP over secure WebSocket port, path /ws (default off; needs --tls-cert and --tls-key)',
    apply: (c, v) => (section(c, 'stomp').wssPort = portOrOff(v)),
  },
  'stomp-ws-origins': {
    describe: 'browser pages STOMP over WebSocket accepts: same-host, any, or comma-separated origins',
    apply: (c, v) => (section(c, 'stomp').wsOrigins = wsOrigins(v)),
  },
  'stomp-max-frame-bytes': {
    describe: 'largest STOMP frame accepted (command, headers and body), bytes',
    apply: (c, v) => c.stomp && (c.stomp.maxFrameBytes = int(v)),
  },
  'stomp-anonymous-user': {
    describe: 'user:password a STOMP CONNECT without login logs in as, not an administrator ("none" refuses)',
    apply: (c, v) => c.stomp && (c.stomp.anonymousUser = v === 'none' ? null : userPass(v)),
  },
  'stomp-cert-login': {
    describe:
      'STOMP CONNECTs without login and passcode log in as their verified client certificate names (true/false)',
    apply: (c, v) => c.stomp && (c.stomp.certLogin = bool(v)),
  },
  'http-port': {
    describe: 'management API, web UI and /metrics port ("off" disables)',
    apply: (c, v) => (section(c, 'http').port = portOrOff(v)),
  },
  'https-port': {
    describe: 'management over HTTPS port, e.g. 15671 (default off; needs --tls-cert and --tls-key)',
    apply: (c, v) => (section(c, 'http').tlsPort = portOrOff(v)),
  },
  'http-host': { describe: 'management HTTP listen address', apply: (c, v) => c.http && (c.http.host = v) },
  'tls-cert': {
    describe: 'PEM file of the server certificate (and its chain) of every TLS listener; re-read on SIGHUP',
    apply: (c, v) => (c.tls.cert = v),
  },
  'tls-key': {
    describe: 'PEM file of the private key of --tls-cert; re-read on SIGHUP',
    apply: (c, v) => (c.tls.key = v),
  },
  'tls-ca': {
    describe: 'PEM file of the CAs client certificates must chain to; re-read on SIGHUP',
    apply: (c, v) => (c.tls.ca = v),
  },
  'tls-client-cert': {
    describe: 'client certificates: none (not asked), optional (verified when sent) or required',
    apply: (c, v) => (c.tls.clientCert = clientCertMode(v)),
  },
  'tls-cert-login-from': {
    describe: `what of a client certificate names its user: ${CERT_LOGIN_FROM.join(', ')}`,
    apply: (c, v) => (c.tls.certLoginFrom = certLoginFrom(v)),
  },
  'tls-min-version': {
    describe: 'oldest TLS version accepted: TLSv1.2 or TLSv1.3',
    apply: (c, v) => (c.tls.minVersion = tlsVersion(v)),
  },
  'tls-ciphers': {
    describe: "OpenSSL cipher list for TLS 1.2 (default: Node's)",
    apply: (c, v) => (c.tls.ciphers = v),
  },
  storage: {
    describe:
      'storage backend: embedded (LMDB in --data-dir), redis://host:port[/db], redis-sentinel://host:port,host:port/<master-name> or memory',
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
  'redis-hold-ms': {
    describe:
      'Redis store: how long a write Redis refused before running (failover, too few replicas) is held and retried before it fails, ms',
    apply: (c, v) => (c.redisHoldMs = int(v)),
  },
  ...connectionLimitSettings,
  ...clusterSettings,
};

type Sections = 'amqp' | 'mqtt' | 'stomp' | 'http';

/** A protocol's section, brought back from the defaults when the config file had it null. */
function section<K extends Sections>(c: JunctionConfig, k: K): NonNullable<JunctionConfig[K]> {
  const s = (c[k] ?? structuredClone(defaults[k])) as NonNullable<JunctionConfig[K]>;
  c[k] = s;
  return s;
}

/** "off" on MQTT's or STOMP's port turns off its unencrypted listeners, as it always has. */
function plainPort(s: { port: number | null; wsPort: number | null }, v: string): void {
  s.port = portOrOff(v);
  if (s.port === null) s.wsPort = null;
}

function portOrOff(v: string): number | null {
  return v === 'off' ? null : int(v);
}

function clientCertMode(v: string): ClientCertMode {
  if (v === 'none' || v === 'optional' || v === 'required') return v;
  throw new Error(`expected none, optional or required, got '${v}'`);
}

function certLoginFrom(v: string): CertLoginFrom {
  const from = CERT_LOGIN_FROM.find((f) => f === v);
  if (from === undefined) throw new Error(`expected one of ${CERT_LOGIN_FROM.join(', ')}, got '${v}'`);
  return from;
}

function authMechanisms(v: string): AuthMechanism[] {
  const out: AuthMechanism[] = [];
  for (const name of v.split(',').map((m) => m.trim())) {
    const m = AUTH_MECHANISMS.find((a) => a === name);
    if (m === undefined)
      throw new Error(`expected mechanisms among ${AUTH_MECHANISMS.join(', ')}, got '${name}'`);
    if (!out.includes(m)) out.push(m);
  }
  return out;
}

/** same-host, any, or a comma-separated list of origins, each scheme://host[:port] as browsers send it. */
function wsOrigins(v: string): WsOrigins {
  if (v === 'same-host' || v === 'any') return v;
  const list = v.split(',').map((o) => o.trim());
  for (const o of list) {
    let origin: string | undefined;
    try {
      origin = new URL(o).origin;
    } catch {
      origin = undefined;
    }
    if (origin !== o)
      throw new Error(`expected same-host, any or origins such as https://app.example:8443, got '${o}'`);
  }
  return list;
}

function tlsVersion(v: string): TlsConfig['minVersion'] {
  if (v === 'TLSv1.2' || v === 'TLSv1.3') return v;
  if (v === 'TLSv1' || v === 'TLSv1.1')
    throw new Error(`${v} is not offered: TLS 1.2 is the oldest version served`);
  throw new Error(`expected TLSv1.2 or TLSv1.3, got '${v}'`);
}

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got '${v}'`);
  return n;
}

function between(v: string, min: number, max: number): number {
  const n = int(v);
  if (n < min || n > max) throw new Error(`expected ${min}-${max}, got '${v}'`);
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
  checkTls(config);
  checkCluster(config.cluster, config.storage);
  return config;
}

/** Each TLS listener that is on, by its flag name, with the effective TLS settings it gets. */
export function tlsListeners(config: JunctionConfig): { flag: string; section: Sections; tls: TlsConfig }[] {
  const out: { flag: string; section: Sections; tls: TlsConfig }[] = [];
  const add = (flag: string, k: Sections, port: number | null | undefined): void => {
    const s = config[k];
    if (s && port !== null && port !== undefined)
      out.push({ flag, section: k, tls: effectiveTls(config, k) });
  };
  add('amqps-port', 'amqp', config.amqp?.tlsPort);
  add('mqtts-port', 'mqtt', config.mqtt?.tlsPort);
  add('mqtt-wss-port', 'mqtt', config.mqtt?.wssPort);
  add('stomps-port', 'stomp', config.stomp?.tlsPort);
  add('stomp-wss-port', 'stomp', config.stomp?.wssPort);
  add('https-port', 'http', config.http?.tlsPort);
  return out;
}

/** The top-level `tls` with a section's overrides on top. */
export function effectiveTls(config: JunctionConfig, k: Sections): TlsConfig {
  return { ...defaults.tls, ...config.tls, ...(config[k]?.tls ?? {}) };
}

/** Config-file values the flag parsers did not see, and TLS ports without a certificate. */
function checkTls(config: JunctionConfig): void {
  const check = (where: string, t: Partial<TlsConfig> | undefined): void => {
    if (!t) return;
    try {
      if (t.clientCert !== undefined) clientCertMode(t.clientCert);
      if (t.minVersion !== undefined) tlsVersion(t.minVersion);
      if (t.certLoginFrom !== undefined) certLoginFrom(t.certLoginFrom);
    } catch (err) {
      throw new Error(`config file: ${where}: ${(err as Error).message}`, { cause: err });
    }
  };
  check('tls', config.tls);
  const mechanisms: unknown = config.amqp?.authMechanisms;
  if (config.amqp && !(Array.isArray(mechanisms) && mechanisms.length > 0))
    throw new Error('config file: amqp.authMechanisms: expected a non-empty list');
  if (config.amqp) {
    try {
      authMechanisms(config.amqp.authMechanisms.join(','));
    } catch (err) {
      throw new Error(`config file: amqp.authMechanisms: ${(err as Error).message}`, { cause: err });
    }
  }
  for (const k of ['amqp', 'mqtt', 'stomp', 'http'] as const) check(`${k}.tls`, config[k]?.tls);
  for (const k of ['mqtt', 'stomp'] as const) {
    const origins: unknown = config[k]?.wsOrigins;
    if (origins === undefined) continue;
    try {
      wsOrigins(Array.isArray(origins) ? origins.join(',') : String(origins));
    } catch (err) {
      throw new Error(`config file: ${k}.wsOrigins: ${(err as Error).message}`, { cause: err });
    }
  }
  const redirect: unknown = config.mqtt?.redirect;
  if (config.mqtt && redirect !== 'off' && redirect !== 'temporary' && redirect !== 'permanent')
    throw new Error(`config file: mqtt.redirect: expected off, temporary or permanent`);
  if (config.mqtt && redirect !== 'off' && !config.mqtt.serverReference)
    throw new Error('--mqtt-redirect is on but there is no --mqtt-server-reference to send clients to');
  for (const { flag, section: k, tls } of tlsListeners(config)) {
    if (!tls.cert || !tls.key)
      throw new Error(
        `--${flag} is set but there is no TLS certificate and key: set --tls-cert and --tls-key ` +
          `(${envName('tls-cert')}, ${envName('tls-key')}, or tls.cert/tls.key${k ? ` or ${k}.tls` : ''} in the config file)`,
      );
  }
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
