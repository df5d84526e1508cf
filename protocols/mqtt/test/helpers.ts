import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Broker, type BrokerOptions, type ProtocolAdapter } from '@junction/core';
import { createAmqpAdapter } from '@junction/amqp';
import { createMqttAdapter, type MqttConfig } from '../src/index.js';

export interface TestServer {
  broker: Broker;
  mqtt: ProtocolAdapter;
  port: number;
  wsPort: number;
  amqpUrl: string;
  url: string;
  close(): Promise<void>;
}

/** A real core broker with MQTT (TCP and WebSocket) and AMQP listeners on ephemeral loopback ports. */
export async function startServer(
  config: Partial<MqttConfig> = {},
  options: BrokerOptions = {},
): Promise<TestServer> {
  const broker = await Broker.start(options);
  const log = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });
  const adapter = createMqttAdapter(broker, config, log);
  const [tcp] = (await adapter.listen([{ port: 0, host: '127.0.0.1', transport: 'tcp' }])) as AddressInfo[];
  const [ws] = (await adapter.listen([
    { port: 0, host: '127.0.0.1', transport: 'ws', path: '/ws' },
  ])) as AddressInfo[];
  const amqp = createAmqpAdapter(broker, {}, log);
  const [a] = (await amqp.listen([{ port: 0, host: '127.0.0.1', transport: 'tcp' }])) as AddressInfo[];
  return {
    broker,
    mqtt: adapter,
    port: tcp!.port,
    wsPort: ws!.port,
    amqpUrl: `amqp://guest:guest@127.0.0.1:${a!.port}`,
    url: `mqtt://127.0.0.1:${tcp!.port}`,
    async close() {
      await adapter.close({ drainMs: 0 });
      await amqp.close({ drainMs: 0 });
      await broker.close();
    },
  };
}

/** mqtt.js with test defaults: guest, no reconnects. */
export function client(server: TestServer, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(server.url, {
    username: 'guest',
    password: 'guest',
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  });
}

/** Connects with collection already on: a resumed session's backlog arrives right after CONNACK. */
export async function resumed(server: TestServer, opts: IClientOptions): Promise<[MqttClient, Received[]]> {
  const c = mqtt.connect(server.url, { username: 'guest', password: 'guest', reconnectPeriod: 0, ...opts });
  const got = collect(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return [c, got];
}

export interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  dup: boolean;
}

/** Collects every message a client receives. */
export function collect(c: MqttClient): Received[] {
  const out: Received[] = [];
  c.on('message', (topic, payload, packet) =>
    out.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, dup: packet.dup }),
  );
  return out;
}

/** Resolves when `check` is truthy, polling with a deadline (never a fixed sleep). */
export async function until<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 5000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A raw TCP client that collects everything the server sends. */
export async function rawClient(
  port: number,
): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = netConnect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

/** A CONNECT packet (MQTT 3.1.1) built by hand, for raw-socket tests. */
export function connectPacket(opts: {
  clientId: string;
  keepalive?: number;
  username?: string;
  password?: string;
  clean?: boolean;
  will?: { topic: string; payload: string };
}): Buffer {
  const str = (s: string): Buffer => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  };
  let flags = opts.clean === false ? 0 : 2;
  const payload = [str(opts.clientId)];
  if (opts.will) {
    flags |= 4;
    payload.push(str(opts.will.topic), str(opts.will.payload));
  }
  if (opts.username !== undefined) {
    flags |= 0x80;
    payload.push(str(opts.username));
  }
  if (opts.password !== undefined) {
    flags |= 0x40;
    payload.push(str(opts.password));
  }
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(opts.keepalive ?? 0);
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, flags]), ka, ...payload]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
