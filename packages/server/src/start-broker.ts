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
import { defaults, type JunctionConfig } from './config.js';
import { createStore } from './storage.js';
import { MemoryWatermark } from './memory-watermark.js';
import { Waiters } from './waiters.js';

export interface StartOptions {
  /** Ports to bind; 0 = ephemeral. Omit a protocol to use the config's; null disables it. Default: AMQP only, ephemeral. */
  ports?: { amqp?: number | null };
  /** A store instance, or a storage URL/name ('memory'). */
  storage?: Store | string;
  host?: string;
  logger?: Logger;
  config?: Partial<JunctionConfig>;
}

export interface BrokerHandle {
  readonly broker: Broker;
  readonly ports: { amqp?: number };
  /** amqp://guest:guest@127.0.0.1:PORT for the default user. */
  readonly amqpUrl: string | undefined;
  readonly waitFor: Waiters;
  readonly adapters: readonly ProtocolAdapter[];
  /** Stop accepting, close connections (unacked messages return to their queues), flush the store. */
  close(opts?: { drainMs?: number }): Promise<void>;
}

export async function startBroker(options: StartOptions = {}): Promise<BrokerHandle> {
  const config: JunctionConfig = { ...defaults, ...options.config };
  const log = options.logger ?? pino({ level: 'silent' });
  const host = options.host ?? '127.0.0.1';
  const store = typeof options.storage === 'object' ? options.storage : createStore(options.storage ?? config.storage);
  const broker = await Broker.start({
    store,
    logger: log.child({ component: 'core' }),
    defaultUser: config.defaultUser,
    loopbackUsers: config.loopbackUsers,
  });
  const adapters: ProtocolAdapter[] = [];
  const ports: { amqp?: number } = {};
  try {
    const amqpPort = options.ports?.amqp === undefined ? (options.ports ? null : 0) : options.ports.amqp;
    if (amqpPort !== null && config.amqp) {
      const amqpConfig: AmqpConfig = {
        frameMax: config.amqp.frameMax,
        channelMax: config.amqp.channelMax,
        heartbeat: config.amqp.heartbeat,
        maxMessageSize: config.amqp.maxMessageSize,
      };
      const amqp = createAmqpAdapter(broker, amqpConfig, log.child({ component: 'amqp' }));
      adapters.push(amqp);
      ports.amqp = port(await amqp.listen([{ port: amqpPort, host, transport: 'tcp' }]));
    }
  } catch (err) {
    await Promise.allSettled(adapters.map((a) => a.close({ drainMs: 0 })));
    await broker.close();
    throw err;
  }
  const watermark = config.memoryHighWatermark > 0 ? new MemoryWatermark(broker, config.memoryHighWatermark, log) : undefined;

  let closing: Promise<void> | undefined;
  return {
    broker,
    ports,
    amqpUrl: ports.amqp === undefined ? undefined : `amqp://guest:guest@127.0.0.1:${ports.amqp}`,
    waitFor: new Waiters(broker),
    adapters,
    close(opts = {}) {
      closing ??= (async () => {
        watermark?.stop();
        await Promise.allSettled(adapters.map((a) => a.close({ drainMs: opts.drainMs ?? 0 })));
        await broker.close();
      })();
      return closing;
    },
  };
}

function port(addresses: readonly AddressInfo[]): number {
  const a = addresses[0];
  if (!a) throw new Error('listener bound no address');
  return a.port;
}
