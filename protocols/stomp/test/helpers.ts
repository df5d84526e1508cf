import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import stompit from 'stompit';
import type Client from 'stompit/lib/Client.js';
import { Broker, type BrokerOptions, type ProtocolAdapter } from '@junction/core';
import { createAmqpAdapter } from '@junction/amqp';
import { createStompAdapter, type StompConfig } from '../src/index.js';
import { FrameParser, type Frame } from '../src/parser.js';

export interface TestServer {
  broker: Broker;
  adapter: ProtocolAdapter;
  amqp: ProtocolAdapter;
  port: number;
  wsPort: number;
  amqpPort: number;
  amqpUrl: string;
  close(): Promise<void>;
}

/** A real core broker with the STOMP listener (tcp + ws on /ws) and the AMQP listener on ephemeral ports. */
export async function startServer(
  config: Partial<StompConfig> = {},
  options: BrokerOptions = {},
): Promise<TestServer> {
  const broker = await Broker.start(options);
  const log = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });
  const adapter = createStompAdapter(broker, config, log);
  const [tcp, ws] = (await adapter.listen([
    { port: 0, host: '127.0.0.1', transport: 'tcp' },
    { port: 0, host: '127.0.0.1', transport: 'ws', path: '/ws' },
  ])) as AddressInfo[];
  const amqp = createAmqpAdapter(broker, {}, log);
  const [a] = (await amqp.listen([{ port: 0, host: '127.0.0.1', transport: 'tcp' }])) as AddressInfo[];
  return {
    broker,
    adapter,
    amqp,
    port: tcp!.port,
    wsPort: ws!.port,
    amqpPort: a!.port,
    amqpUrl: `amqp://guest:guest@127.0.0.1:${a!.port}`,
    async close() {
      await adapter.close({ drainMs: 0 });
      await amqp.close({ drainMs: 0 });
      await broker.close();
    },
  };
}

/** Resolves when `check` is truthy, polling with a deadline (never a fixed sleep). */
export async function until<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 5000,
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, false | null | undefined | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function stompitConnect(port: number, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = stompit.connect(
      {
        host: '127.0.0.1',
        port,
        connectHeaders: { host: '/', login: 'guest', passcode: 'guest', 'heart-beat': '0,0', ...headers },
      },
      (err, client) => (err ? reject(err) : resolve(client)),
    );
    c.on('error', () => {});
  });
}

export function sendWithReceipt(
  client: Client,
  headers: Record<string, string>,
  body: string | Buffer,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const f = client.send(headers, { onReceipt: () => resolve(), onError: reject } as Client.SendOptions);
    f.end(body);
  });
}

export function readBody(msg: Client.Message): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    msg.readString('binary', (err, s) => (err ? reject(err) : resolve(Buffer.from(s ?? '', 'binary'))));
  });
}

export function disconnect(client: Client): Promise<void> {
  return new Promise((resolve) => client.disconnect(() => resolve()));
}

export interface ReceivedMessage {
  headers: Record<string, string>;
  body: Buffer;
  msg: Client.Message;
}

/** Subscribes with stompit and collects every message (body read) in order. */
export function collect(
  client: Client,
  headers: Record<string, string>,
): { messages: ReceivedMessage[]; errors: Error[] } {
  const out = { messages: [] as ReceivedMessage[], errors: [] as Error[] };
  client.subscribe(headers, (err, msg) => {
    if (err) {
      out.errors.push(err);
      return;
    }
    const h = headersOf(msg);
    void readBody(msg).then((body) => out.messages.push({ headers: h, body, msg }));
  });
  return out;
}

/** A raw STOMP-over-TCP client that parses what the server sends (with our own parser). */
export interface RawClient {
  socket: Socket;
  frames: Frame[];
  closed: Promise<void>;
  isClosed(): boolean;
  write(data: string | Buffer): void;
  next(command?: string, timeoutMs?: number): Promise<Frame>;
}

export async function rawClient(port: number): Promise<RawClient> {
  const socket = netConnect(port, '127.0.0.1');
  const frames: Frame[] = [];
  let closedFlag = false;
  const parser = new FrameParser(
    { maxFrameSize: 64 * 1024 * 1024, maxHeaders: 100000, maxHeaderLength: 1024 * 1024 },
    (f) => {
      frames.push(f);
      // Decode later frames the way the negotiated version encodes them.
      if (f.command === 'CONNECTED')
        parser.version = f.headers['version'] === '1.2' ? 12 : f.headers['version'] === '1.1' ? 11 : 0;
    },
    () => {},
  );
  socket.on('data', (c: Buffer) => parser.push(c));
  socket.on('error', () => {});
  const closed = new Promise<void>((r) =>
    socket.once('close', () => {
      closedFlag = true;
      r();
    }),
  );
  await new Promise<void>((r, j) => {
    socket.once('connect', () => r());
    socket.once('error', j);
  });
  let read = 0;
  return {
    socket,
    frames,
    closed,
    isClosed: () => closedFlag,
    write: (d) => {
      if (!socket.destroyed) socket.write(d);
    },
    async next(command, timeoutMs = 5000) {
      const f = await until(
        () => {
          const got = frames[read];
          if (got === undefined && closedFlag)
            throw new Error(`connection closed while waiting for ${command ?? 'a frame'}`);
          return got;
        },
        `a ${command ?? 'STOMP'} frame`,
        timeoutMs,
      );
      read++;
      if (command !== undefined && f.command !== command) {
        throw new Error(
          `expected ${command}, got ${f.command}: ${JSON.stringify(f.headers)} ${f.body.toString()}`,
        );
      }
      return f;
    },
  };
}

/** Connects a raw client with CONNECT and waits for CONNECTED. */
export async function rawConnected(
  port: number,
  headers = 'accept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n',
): Promise<RawClient> {
  const c = await rawClient(port);
  c.write(`CONNECT\n${headers}\n\0`);
  await c.next('CONNECTED');
  return c;
}

/** stompit's typings omit the parsed headers of an incoming frame. */
export function headersOf(msg: Client.Message): Record<string, string> {
  return (msg as unknown as { headers: Record<string, string> }).headers;
}

/** Closes a stompit client's socket abruptly (its typings demand an error argument). */
export function destroyClient(c: Client): void {
  (c as unknown as { destroy(): void }).destroy();
}

/** stompit's typings omit Transaction.id. */
export function txId(t: unknown): string {
  return String((t as { id: unknown }).id);
}
