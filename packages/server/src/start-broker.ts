/**
 * The embeddable broker: `startBroker()` starts the core and every configured protocol
 * listener in this process and returns a handle with the bound ports, the waiters, and
 * close(). Every test in this repository starts its broker this way, on ephemeral ports.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { Broker, type Endpoint, type ProtocolAdapter, type Store, type TlsSettings } from '@junction/core';
import { createAmqpAdapter, type AmqpConfig } from '@junction/amqp';
import { createMqttAdapter } from '@junction/mqtt';
import { createStompAdapter } from '@junction/stomp';
import { createManagementServer, type ManagementServer } from '@junction/management';
import { defaults, effectiveTls, type JunctionConfig, type TlsConfig } from './config.js';
import { readTlsFiles } from './tls-files.js';
import { createStore } from './storage.js';
import { resolveAmount } from './amount.js';
import { DiskMonitor } from './disk-monitor.js';
import { availableMemory } from './memory-limit.js';
import { MemoryWatermark } from './memory-watermark.js';
import { Waiters } from './waiters.js';
import { isRedisStorage } from './cluster-config.js';
import { newNodeId } from './cluster/cluster-node.js';
import { startCluster, type ClusterRuntime } from './cluster/start-cluster.js';
import { hostname } from 'node:os';

export interface StartOptions {
  /**
   * Ports to bind; 0 = ephemeral, null or omitted = off. Without `ports` at all: AMQP only,
   * on an ephemeral port. `mqttWs` and `stompWs` are MQTT and STOMP over WebSocket (path
   * /ws); `http` the management API, web UI, /metrics, /healthz and /readyz. The TLS ones
   * (`amqps`, `mqtts`, `mqttWss`, `stomps`, `stompWss`, `https`) read their certificate from
   * the files named in `config.tls` (and a section's `tls` overrides).
   */
  ports?: Partial<Record<ListenerName, number | null>>;
  /**
   * A store instance, or a storage name/URL: 'memory', 'embedded' (LMDB in config.dataDir).
   * Default: config.storage when a config is given, else 'memory'.
   */
  storage?: Store | string;
  /** Listen address of every listener; default 127.0.0.1. */
  host?: string;
  /** Per-listener listen addresses, overriding `host`. */
  hosts?: Partial<Record<ListenerName, string>>;
  logger?: Logger;
  /** Settings as loadConfig() returns them; `tls` is merged over the defaults field by field. */
  config?: Partial<Omit<JunctionConfig, 'tls'>> & { tls?: Partial<TlsConfig> };
}

export interface BrokerHandle {
  readonly broker: Broker;
  readonly ports: Partial<Record<ListenerName, number>>;
  /** amqp://guest:guest@127.0.0.1:PORT for the default user. */
  readonly amqpUrl: string | undefined;
  /** mqtt://127.0.0.1:PORT */
  readonly mqttUrl: string | undefined;
  /** http://127.0.0.1:PORT of the management API and UI. */
  readonly httpUrl: string | undefined;
  /** https://localhost:PORT of the management API and UI (the name a test certificate is for). */
  readonly httpsUrl: string | undefined;
  readonly waitFor: Waiters;
  readonly adapters: readonly ProtocolAdapter[];
  /** In cluster mode (config.cluster.nodeName set): membership, ownership, definitions feed. */
  readonly cluster: ClusterRuntime | undefined;
  /**
   * Re-reads the TLS certificate, key and CA files and swaps them into every TLS listener:
   * new connections get the new certificate, open ones keep their session. A file that cannot
   * be read or used is logged and the current certificates stay (false).
   */
  reloadTls(): Promise<boolean>;
  /** Stop accepting, close connections (unacked messages return to their queues), flush the store. */
  close(opts?: { drainMs?: number }): Promise<void>;
}

export type ListenerName =
  | 'amqp'
  | 'amqps'
  | 'mqtt'
  | 'mqtts'
  | 'mqttWs'
  | 'mqttWss'
  | 'stomp'
  | 'stomps'
  | 'stompWs'
  | 'stompWss'
  | 'http'
  | 'https';

/** The config sections whose `tls` overrides the top-level one. */
type TlsSection = 'amqp' | 'mqtt' | 'stomp' | 'http';

export async function startBroker(options: StartOptions = {}): Promise<BrokerHandle> {
  const config: JunctionConfig = {
    ...defaults,
    ...options.config,
    tls: { ...defaults.tls, ...options.config?.tls },
  };
  const log = options.logger ?? pino({ level: 'silent' });
  const hostOf = (l: ListenerName): string => options.hosts?.[l] ?? options.host ?? '127.0.0.1';
  const spec = options.storage ?? options.config?.storage ?? 'memory';
  const clusterName = config.cluster.nodeName;
  if (clusterName !== null && !(typeof spec === 'string' && isRedisStorage(spec)))
    throw new Error('cluster mode needs the Redis store (a redis:// or redis-sentinel:// storage URL)');
  const nodeId = clusterName === null ? undefined : newNodeId(clusterName);
  const store =
    typeof spec === 'object'
      ? spec
      : createStore(spec, config.dataDir, log.child({ component: 'store' }), {
          holdMs: config.redisHoldMs,
          ...(nodeId ? { feedOrigin: nodeId } : {}),
        });
  // Before the broker: its message ids and queue hosting come from the cluster.
  const cluster =
    nodeId === undefined
      ? undefined
      : await startCluster({
          url: spec as string,
          nodeId,
          store,
          linkAddress: `${config.cluster.linkHost || hostname()}:${config.cluster.linkPort}`,
          linkListen: { host: config.cluster.linkHost || '0.0.0.0', port: config.cluster.linkPort },
          secret: config.cluster.secret ?? '',
          log: log.child({ component: 'cluster' }),
        });
  let broker: Broker;
  try {
    broker = await Broker.start({
      store,
      logger: log.child({ component: 'core' }),
      defaultUser: config.defaultUser,
      loopbackUsers: config.loopbackUsers,
      queuePaging: { maxMessages: config.queueMemory.messages, maxBytes: config.queueMemory.bytes },
      maxUnackedPerSession: config.limits.maxUnackedPerChannel,
      ...(cluster ? { messageIds: () => cluster.ids, queueHosting: cluster.ownership } : {}),
    });
  } catch (err) {
    await cluster?.close();
    throw err;
  }
  try {
    await cluster?.attach(broker);
  } catch (err) {
    await cluster?.close();
    await broker.close();
    throw err;
  }
  const watermark =
    config.memoryHighWatermark > 0
      ? new MemoryWatermark(broker, resolveAmount(config.memoryHighWatermark, availableMemory()), log)
      : undefined;
  // Only the embedded store writes to a local disk the broker can watch.
  const disk =
    config.diskFreeLimit > 0 && (spec === 'embedded' || spec === 'lmdb')
      ? new DiskMonitor(broker, config.dataDir, config.diskFreeLimit, log)
      : undefined;
  await disk?.check(); // a disk that is already low blocks publishers from the first one
  const adapters: ProtocolAdapter[] = [];
  const ports: Partial<Record<ListenerName, number>> = {};
  let management: ManagementServer | undefined;
  const portOf = (l: ListenerName): number | null => options.ports?.[l] ?? null;
  const on = (...ls: ListenerName[]): boolean => ls.some((l) => portOf(l) !== null);
  /** Who takes the new TLS settings on a reload, per section with a TLS listener on. */
  const tlsTakers = new Map<TlsSection, (t: TlsSettings) => void>();
  const tlsOf = async (
    k: TlsSection,
    reload: ((t: TlsSettings) => void) | undefined,
  ): Promise<TlsSettings> => {
    // An adapter without reloadTls predates TLS and would serve plain text on a TLS port.
    if (!reload) throw new Error(`${k.toUpperCase()} over TLS is not supported by this build's ${k} adapter`);
    const settings = await readTlsFiles(effectiveTls(config, k));
    tlsTakers.set(k, reload);
    return settings;
  };
  const bind = async (
    adapter: ProtocolAdapter,
    l: ListenerName,
    endpoint: Pick<Endpoint, 'transport' | 'path' | 'tls' | 'origins'>,
  ): Promise<void> => {
    const p = portOf(l);
    if (p !== null) ports[l] = port(await adapter.listen([{ port: p, host: hostOf(l), ...endpoint }]));
  };
  try {
    const amqpPort = options.ports?.amqp === undefined ? (options.ports ? null : 0) : options.ports.amqp;
    if ((amqpPort !== null || on('amqps')) && config.amqp) {
      const amqpConfig: Partial<AmqpConfig> = {
        frameMax: config.amqp.frameMax,
        channelMax: config.amqp.channelMax,
        heartbeat: config.amqp.heartbeat,
        maxMessageSize: config.amqp.maxMessageSize,
        authMechanisms: config.amqp.authMechanisms,
        consumerMaxPerChannel: config.limits.consumerMaxPerChannel,
      };
      const amqp = createAmqpAdapter(broker, amqpConfig, log.child({ component: 'amqp' }));
      adapters.push(amqp);
      if (amqpPort !== null)
        ports.amqp = port(await amqp.listen([{ port: amqpPort, host: hostOf('amqp'), transport: 'tcp' }]));
      if (on('amqps'))
        await bind(amqp, 'amqps', { transport: 'tcp', tls: await tlsOf('amqp', amqp.reloadTls?.bind(amqp)) });
    }
    if (on('mqtt', 'mqttWs', 'mqtts', 'mqttWss') && config.mqtt) {
      const { allowAnonymous, maxConnections, maxInflight, maxPacketSize, certLogin } = config.mqtt;
      const { receiveMaximum, topicAliasMaximum, maxSessionExpiry, serverReference, redirect } = config.mqtt;
      const mqtt = createMqttAdapter(
        broker,
        {
          allowAnonymous,
          maxConnections,
          maxInflight,
          maxPacketSize,
          receiveMaximum,
          topicAliasMaximum,
          maxSessionExpiry,
          certLogin,
          serverReference,
          redirect,
          maxSubscriptions: config.limits.mqttMaxSubscriptions,
        },
        log.child({ component: 'mqtt' }),
      );
      adapters.push(mqtt);
      await bind(mqtt, 'mqtt', { transport: 'tcp' });
      const origins = config.mqtt.wsOrigins;
      await bind(mqtt, 'mqttWs', { transport: 'ws', path: '/ws', origins });
      if (on('mqtts', 'mqttWss')) {
        const t = await tlsOf('mqtt', mqtt.reloadTls?.bind(mqtt));
        await bind(mqtt, 'mqtts', { transport: 'tcp', tls: t });
        await bind(mqtt, 'mqttWss', { transport: 'ws', path: '/ws', tls: t, origins });
      }
    }
    if (on('stomp', 'stompWs', 'stomps', 'stompWss') && config.stomp) {
      const { maxFrameBytes, anonymousUser: anon, certLogin } = config.stomp;
      const stomp = createStompAdapter(
        broker,
        {
          maxFrameSize: maxFrameBytes,
          maxSubscriptions: config.limits.stompMaxSubscriptions,
          anonymousUser: anon ? { login: anon.username, passcode: anon.password } : null,
          certLogin,
        },
        log.child({ component: 'stomp' }),
      );
      adapters.push(stomp);
      await bind(stomp, 'stomp', { transport: 'tcp' });
      const origins = config.stomp.wsOrigins;
      await bind(stomp, 'stompWs', { transport: 'ws', path: '/ws', origins });
      if (on('stomps', 'stompWss')) {
        const t = await tlsOf('stomp', stomp.reloadTls?.bind(stomp));
        await bind(stomp, 'stomps', { transport: 'tcp', tls: t });
        await bind(stomp, 'stompWss', { transport: 'ws', path: '/ws', tls: t, origins });
      }
    }
    if (on('http', 'https') && config.http) {
      const m = createManagementServer({
        broker,
        adapters: () => adapters,
        log: log.child({ component: 'management' }),
        listeners: () =>
          Object.entries(ports).map(([name, p]) => ({
            protocol: listenerProtocol[name as ListenerName],
            port: p,
            ip_address: hostOf(name as ListenerName),
          })),
        resources: () => {
          const m = watermark?.state();
          const d = disk?.state();
          return {
            ...(m ? { memUsed: m.used, memLimit: m.limit } : {}),
            ...(d ? { diskFree: d.free, diskFreeLimit: d.limit } : {}),
          };
        },
        ...(cluster
          ? {
              unreadyReason: () => cluster.node.unreadyReason(),
              cluster: cluster.view,
            }
          : {}),
      });
      management = m;
      const httpPort = portOf('http');
      if (httpPort !== null) ports.http = (await m.listen(httpPort, hostOf('http'))).port;
      const httpsPort = portOf('https');
      if (httpsPort !== null)
        ports.https = (
          await m.listen(httpsPort, hostOf('https'), await tlsOf('http', (t) => m.reloadTls(t)))
        ).port;
    }
  } catch (err) {
    watermark?.stop();
    disk?.stop();
    await management?.close();
    await Promise.allSettled(adapters.map((a) => a.close({ drainMs: 0 })));
    await broker.close();
    await cluster?.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    broker,
    ports,
    amqpUrl: ports.amqp === undefined ? undefined : `amqp://guest:guest@127.0.0.1:${ports.amqp}`,
    mqttUrl: ports.mqtt === undefined ? undefined : `mqtt://127.0.0.1:${ports.mqtt}`,
    httpUrl: ports.http === undefined ? undefined : `http://127.0.0.1:${ports.http}`,
    httpsUrl: ports.https === undefined ? undefined : `https://localhost:${ports.https}`,
    waitFor: new Waiters(broker),
    adapters,
    cluster,
    async reloadTls() {
      const sections = [...tlsTakers.entries()];
      let fresh: TlsSettings[];
      try {
        // Every file first: one bad file changes nothing anywhere.
        fresh = await Promise.all(sections.map(([k]) => readTlsFiles(effectiveTls(config, k))));
      } catch (err) {
        log.error({ err: (err as Error).message }, 'TLS reload failed; the current certificates stay in use');
        return false;
      }
      sections.forEach(([, take], i) => take(fresh[i]!));
      log.info({ listeners: sections.map(([k]) => k) }, 'TLS certificates reloaded');
      return true;
    },
    close(opts = {}) {
      closing ??= (async () => {
        watermark?.stop();
        disk?.stop();
        management?.setReady(false);
        await Promise.allSettled(adapters.map((a) => a.close({ drainMs: opts.drainMs ?? 0 })));
        await management?.close();
        cluster?.ownership.stop();
        await broker.close();
        // After the store's last writes: leaves the registry and gives the leases back, so
        // the other nodes take over now rather than when the leases lapse.
        await cluster?.close();
      })();
      return closing;
    },
  };
}

/** As RabbitMQ's /api/overview names its listeners. */
const listenerProtocol: Record<ListenerName, string> = {
  amqp: 'amqp',
  amqps: 'amqp/ssl',
  mqtt: 'mqtt',
  mqtts: 'mqtt/ssl',
  mqttWs: 'http/web-mqtt',
  mqttWss: 'https/web-mqtt',
  stomp: 'stomp',
  stomps: 'stomp/ssl',
  stompWs: 'http/web-stomp',
  stompWss: 'https/web-stomp',
  http: 'http',
  https: 'https',
};

function port(addresses: readonly AddressInfo[]): number {
  const a = addresses[0];
  if (!a) throw new Error('listener bound no address');
  return a.port;
}
