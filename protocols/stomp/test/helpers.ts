import type { ConnectionOptions } from 'node:tls';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import type Client from 'stompit/lib/Client.js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import {
  rawClient,
  startStompServer,
  stompitClient,
  until,
  type RawClient,
  type WsTestServer,
} from '@junction/testkit';
import type { StompConfig } from '../src/index.js';
import { FrameParser, type Frame } from '../src/parser.js';

export interface StompSuite {
  /** The broker's STOMP (and AMQP) server; set in beforeAll, so read it inside tests and hooks. */
  readonly server: WsTestServer;
  /** amqplib on the same broker, to check what STOMP did from the AMQP side. */
  readonly amqpConn: ChannelModel;
  readonly ch: Channel;
  /** A stompit client (guest, no heart-beats) that is closed after the test. */
  connect(headers?: Record<string, string>): Promise<Client>;
  /** A name no other test of the run uses. */
  unique(prefix: string): string;
}

/** One server per test file, with an AMQP channel beside it and stompit clients closed after each test. */
export function stompSuite(config: Partial<StompConfig> = {}): StompSuite {
  let started: { server: WsTestServer; amqpConn: ChannelModel; ch: Channel } | undefined;
  const open: Client[] = [];
  let n = 0;
  const get = () => {
    if (!started) throw new Error('stompSuite: the server starts in beforeAll');
    return started;
  };
  beforeAll(async () => {
    const server = await startStompServer(config);
    const amqpConn = await amqp.connect(server.amqpUrl);
    started = { server, amqpConn, ch: await amqpConn.createChannel() };
  });
  afterAll(async () => {
    await started?.amqpConn.close();
    await started?.server.close();
  });
  afterEach(() => {
    for (const c of open.splice(0)) destroyClient(c);
  });
  return {
    get server() {
      return get().server;
    },
    get amqpConn() {
      return get().amqpConn;
    },
    get ch() {
      return get().ch;
    },
    async connect(headers = {}) {
      const c = await stompitClient(get().server.port, headers);
      open.push(c);
      return c;
    },
    unique: (prefix) => `${prefix}-${++n}-${Date.now()}`,
  };
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
export interface RawStompClient extends RawClient {
  frames: Frame[];
  /** The next frame not yet read (of `command`, or the test fails), waiting for it. */
  next(command?: string, timeoutMs?: number): Promise<Frame>;
}

/** `tls`: over TLS with these options (CA, client certificate). */
export async function rawStompClient(port: number, tls?: ConnectionOptions): Promise<RawStompClient> {
  const frames: Frame[] = [];
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
  const raw = await rawClient(port, (c) => parser.push(c), tls);
  let read = 0;
  return {
    ...raw,
    frames,
    async next(command, timeoutMs = 5000) {
      const f = await until(
        () => {
          const got = frames[read];
          if (got === undefined && raw.isClosed())
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
): Promise<RawStompClient> {
  const c = await rawStompClient(port);
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
