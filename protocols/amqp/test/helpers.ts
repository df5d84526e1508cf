import { connect as netConnect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Broker, type BrokerOptions, type ProtocolAdapter } from '@junction/core';
import { createAmqpAdapter, type AmqpConfig } from '../src/index.js';

export interface TestServer {
  broker: Broker;
  adapter: ProtocolAdapter;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** A real core broker with the AMQP listener on an ephemeral loopback port. */
export async function startServer(
  config: Partial<AmqpConfig> = {},
  options: BrokerOptions = {},
): Promise<TestServer> {
  const broker = await Broker.start(options);
  const adapter = createAmqpAdapter(broker, config, pino({ level: process.env['LOG_LEVEL'] ?? 'silent' }));
  const [addr] = (await adapter.listen([{ port: 0, host: '127.0.0.1', transport: 'tcp' }])) as AddressInfo[];
  const port = addr!.port;
  return {
    broker,
    adapter,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    async close() {
      await adapter.close({ drainMs: 0 });
      await broker.close();
    },
  };
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
