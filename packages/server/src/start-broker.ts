/**
 * The embeddable broker: `startBroker()` starts the core and every configured protocol
 * listener in this process and returns a handle with the bound ports, the waiters, and
 * close(). Every test in this repository starts its broker this way, on ephemeral ports.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { Broker, type ProtocolAdapter, type Store } from '@junction/core';
import { createAmqpAdapter, type AmqpConfig } from '@junction/amqp';
import { createMqttAdapter } from '@junction/mqtt';
import { createStompAdapter } from '@junction/stomp';
import { createManagementServer, type ManagementServer } from '@junction/management';
import { defaults, type JunctionConfig } from './config.js';
import { createStore } from './storage.js';
import { resolveAmount } from './amount.js';
import { DiskMonitor } from './disk-monitor.js';
import { availableMemory } from './memory-limit.js';
import { MemoryWatermark } from './memory-watermark.js';
import { Waiters } from './waiters.js';

export interface StartOptions {
  /**
   * Ports to bind; 0 = ephemeral, null or omitted = off. Without `ports` at all: AMQP only,
   * on an ephemeral port. `mqttWs` and `stompWs` are MQTT and STOMP over WebSocket (path
   * /ws); `http` the management
   * API, web UI, /metrics, /healthz and /readyz.
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
  config?: Partial<JunctionConfig>;
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
  readonly waitFor: Waiters;
  readonly adapters: readonly ProtocolAdapter[];
  /** Stop accepting, close connections (unacked messages return to their queues), flush the store. */
  close(opts?: { drainMs?: number }): Promise<void>;
}

export type ListenerName = 'amqp' | 'mqtt' | 'mqttWs' | 'stomp' | 'stompWs' | 'http';

export async function startBroker(options: StartOptions = {}): Promise<BrokerHandle> {
  const config: JunctionConfig = { ...defaults, ...options.config };
  const log = options.logger ?? pino({ level: 'silent' });
  const hostOf = (l: ListenerName): string => options.hosts?.[l] ?? options.host ?? '127.0.0.1';
  const spec = options.storage ?? options.config?.storage ?? 'memory';
  const store =
    typeof spec === 'object' ? spec : createStore(spec, config.dataDir, log.child({ component: 'store' }));
  const broker = await Broker.start({
    store,
    logger: log.child({ component: 'core' }),
    defaultUser: config.defaultUser,
    loopbackUsers: config.loopbackUsers,
    queuePaging: { maxMessages: config.queueMemory.messages, maxBytes: config.queueMemory.bytes },
  });
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
  try {
    const amqpPort = options.ports?.amqp === undefined ? (options.ports ? null : 0) : options.ports.amqp;
    if (amqpPort !== null && config.amqp) {
      const amqpConfig: Partial<AmqpConfig> = {
        frameMax: config.amqp.frameMax,
        channelMax: config.amqp.channelMax,
        heartbeat: config.amqp.heartbeat,
        maxMessageSize: config.amqp.maxMessageSize,
      };
      const amqp = createAmqpAdapter(broker, amqpConfig, log.child({ component: 'amqp' }));
      adapters.push(amqp);
      ports.amqp = port(await amqp.listen([{ port: amqpPort, host: hostOf('amqp'), transport: 'tcp' }]));
    }
    const mqttPort = options.ports?.mqtt ?? null;
    const mqttWsPort = options.ports?.mqttWs ?? null;
    if ((mqttPort !== null || mqttWsPort !== null) && config.mqtt) {
      const { allowAnonymous, maxConnections, maxInflight, maxPacketSize } = config.mqtt;
      const mqtt = createMqttAdapter(
        broker,
        { allowAnonymous, maxConnections, maxInflight, maxPacketSize },
        log.child({ component: 'mqtt' }),
      );
      adapters.push(mqtt);
      if (mqttPort !== null)
        ports.mqtt = port(await mqtt.listen([{ port: mqttPort, host: hostOf('mqtt'), transport: 'tcp' }]));
      if (mqttWsPort !== null)
        ports.mqttWs = port(
          await mqtt.listen([{ port: mqttWsPort, host: hostOf('mqttWs'), transport: 'ws', path: '/ws' }]),
        );
    }
    const stompPort = options.ports?.stomp ?? null;
    const stompWsPort = options.ports?.stompWs ?? null;
    if ((stompPort !== null || stompWsPort !== null) && config.stomp) {
      const { maxFrameBytes, anonymousUser: anon } = config.stomp;
      const stomp = createStompAdapter(
        broker,
        {
          maxFrameSize: maxFrameBytes,
          anonymousUser: anon ? { login: anon.username, passcode: anon.password } : null,
        },
        log.child({ component: 'stomp' }),
      );
      adapters.push(stomp);
      if (stompPort !== null)
        ports.stomp = port(
          await stomp.listen([{ port: stompPort, host: hostOf('stomp'), transport: 'tcp' }]),
        );
      if (stompWsPort !== null)
        ports.stompWs = port(
          await stomp.listen([{ port: stompWsPort, host: hostOf('stompWs'), transport: 'ws', path: '/ws' }]),
        );
    }
    const httpPort = options.ports?.http ?? null;
    if (httpPort !== null && config.http) {
      management = createManagementServer({
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
      });
      ports.http = (await management.listen(httpPort, hostOf('http'))).port;
    }
  } catch (err) {
    watermark?.stop();
    disk?.stop();
    await management?.close();
    await Promise.allSettled(adapters.map((a) => a.close({ drainMs: 0 })));
    await broker.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    broker,
    ports,
    amqpUrl: ports.amqp === undefined ? undefined : `amqp://guest:guest@127.0.0.1:${ports.amqp}`,
    mqttUrl: ports.mqtt === undefined ? undefined : `mqtt://127.0.0.1:${ports.mqtt}`,
    httpUrl: ports.http === undefined ? undefined : `http://127.0.0.1:${ports.http}`,
    waitFor: new Waiters(broker),
    adapters,
    close(opts = {}) {
      closing ??= (async () => {
        watermark?.stop();
        disk?.stop();
        management?.setReady(false);
        await Promise.allSettled(adapters.map((a) => a.close({ drainMs: opts.drainMs ?? 0 })));
        await management?.close();
        await broker.close();
      })();
      return closing;
    },
  };
}

/** As RabbitMQ's /api/overview names its listeners. */
const listenerProtocol: Record<ListenerName, string> = {
  amqp: 'amqp',
  mqtt: 'mqtt',
  mqttWs: 'http/web-mqtt',
  stomp: 'stomp',
  stompWs: 'http/web-stomp',
  http: 'http',
};

function port(addresses: readonly AddressInfo[]): number {
  const a = addresses[0];
  if (!a) throw new Error('listener bound no address');
  return a.port;
}
