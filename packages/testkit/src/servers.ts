/**
 * Broker fixtures: a real core broker with protocol listeners on ephemeral loopback ports,
 * and an AMQP listener beside MQTT and STOMP so a test can check routing across protocols
 * with amqplib. `close()` stops the listeners (no drain) and the broker.
 */
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { Broker, type BrokerOptions, type Endpoint, type ProtocolAdapter } from '@junction/core';
import { createAmqpAdapter, type AmqpConfig } from '@junction/amqp';
import { createMqttAdapter, type MqttConfig } from '@junction/mqtt';
import { createStompAdapter, type StompConfig } from '@junction/stomp';

/** Silent unless LOG_LEVEL is set (LOG_LEVEL=debug npx vitest run ... to see the broker's log). */
export function testLog(): Logger {
  return pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });
}

/** Listens on 127.0.0.1 with an ephemeral port per transport (WebSocket on /ws); returns the ports. */
export function listenLoopback(
  adapter: ProtocolAdapter,
  transports: readonly ('tcp' | 'ws')[] = ['tcp'],
): Promise<number[]> {
  return listenPorts(
    adapter,
    transports.map((transport) =>
      transport === 'ws'
        ? { port: 0, host: '127.0.0.1', transport, path: '/ws' }
        : { port: 0, host: '127.0.0.1', transport },
    ),
  );
}

/** Listens on each endpoint (e.g. pki.endpoint(...) ones); returns the bound ports in order. */
export async function listenPorts(
  adapter: ProtocolAdapter,
  endpoints: readonly Endpoint[],
): Promise<number[]> {
  const addrs = (await adapter.listen(endpoints)) as AddressInfo[];
  return addrs.map((a) => a.port);
}

/** A broker and one adapter listening on the given endpoints. */
export interface EndpointServer<A extends ProtocolAdapter> {
  broker: Broker;
  adapter: A;
  /** The bound ports, in the order of the endpoints. */
  ports: number[];
  close(): Promise<void>;
}

/** A broker with one adapter on these endpoints (e.g. TLS ones from pki.endpoint()). */
export async function startOnEndpoints<A extends ProtocolAdapter>(
  create: (broker: Broker, log: Logger) => A,
  endpoints: readonly Endpoint[],
): Promise<EndpointServer<A>> {
  const broker = await Broker.start({ logger: testLog() });
  const adapter = create(broker, testLog());
  return {
    broker,
    adapter,
    ports: await listenPorts(adapter, endpoints),
    async close() {
      await adapter.close({ drainMs: 0 });
      await broker.close();
    },
  };
}

export interface TestServer {
  broker: Broker;
  /** The adapter under test. */
  adapter: ProtocolAdapter;
  /** Its TCP port. */
  port: number;
  /** Its URL for the usual client (amqp://guest:guest@..., mqtt://...). */
  url: string;
  /** The AMQP adapter (the adapter under test itself in an AMQP server). */
  amqp: ProtocolAdapter;
  amqpPort: number;
  amqpUrl: string;
  close(): Promise<void>;
}

/** A server whose protocol also listens for WebSocket clients on `ws://127.0.0.1:wsPort/ws`. */
export interface WsTestServer extends TestServer {
  wsPort: number;
}

const amqpUrlOf = (port: number): string => `amqp://guest:guest@127.0.0.1:${port}`;

/** AMQP 0-9-1 alone. */
export async function startAmqpServer(
  config: Partial<AmqpConfig> = {},
  options: BrokerOptions = {},
): Promise<TestServer> {
  const broker = await Broker.start(options);
  const adapter = createAmqpAdapter(broker, config, testLog());
  const [port] = await listenLoopback(adapter);
  const url = amqpUrlOf(port!);
  return {
    broker,
    adapter,
    port: port!,
    url,
    amqp: adapter,
    amqpPort: port!,
    amqpUrl: url,
    async close() {
      await adapter.close({ drainMs: 0 });
      await broker.close();
    },
  };
}

/** MQTT (TCP and WebSocket) with an AMQP listener beside it. */
export function startMqttServer(
  config: Partial<MqttConfig> = {},
  options: BrokerOptions = {},
): Promise<WsTestServer> {
  return startWithAmqp(options, (broker, log) => createMqttAdapter(broker, config, log), 'mqtt');
}

/** STOMP (TCP and WebSocket) with an AMQP listener beside it. */
export function startStompServer(
  config: Partial<StompConfig> = {},
  options: BrokerOptions = {},
): Promise<WsTestServer> {
  return startWithAmqp(options, (broker, log) => createStompAdapter(broker, config, log), 'stomp');
}

async function startWithAmqp(
  options: BrokerOptions,
  create: (broker: Broker, log: Logger) => ProtocolAdapter,
  scheme: string,
): Promise<WsTestServer> {
  const broker = await Broker.start(options);
  const log = testLog();
  const adapter = create(broker, log);
  const [port, wsPort] = await listenLoopback(adapter, ['tcp', 'ws']);
  const amqp = createAmqpAdapter(broker, {}, log);
  const [amqpPort] = await listenLoopback(amqp);
  return {
    broker,
    adapter,
    port: port!,
    wsPort: wsPort!,
    url: `${scheme}://127.0.0.1:${port!}`,
    amqp,
    amqpPort: amqpPort!,
    amqpUrl: amqpUrlOf(amqpPort!),
    async close() {
      await adapter.close({ drainMs: 0 });
      await amqp.close({ drainMs: 0 });
      await broker.close();
    },
  };
}
