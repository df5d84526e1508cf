/**
 * The STOMP adapter driven by stompit (a widely used Node.js STOMP client) over real
 * loopback sockets, with AMQP (amqplib) cross-checks where the mapping matters.
 */
import amqp from 'amqplib';
import type Client from 'stompit/lib/Client.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { until, type WsTestServer } from '@junction/testkit';
import { collect, disconnect, rawConnected, rawStompClient, sendWithReceipt, stompSuite } from './helpers.js';

const suite = stompSuite();
const { connect, unique } = suite;
let server: WsTestServer;
beforeAll(() => void ({ server } = suite));

describe('CONNECT', () => {
  it.each([
    ['1.0', '1.0'],
    ['1.1', '1.1'],
    ['1.2', '1.2'],
    ['1.0,1.1,1.2', '1.2'],
    ['1.0,1.1', '1.1'],
  ])('negotiates accept-version %s -> %s', async (offer, expected) => {
    const c = await rawConnected(
      server.port,
      `accept-version:${offer}\nhost:/\nlogin:guest\npasscode:guest\n`,
    );
    // rawConnected consumed CONNECTED; the frame is still in the list.
    const connected = c.frames[0]!;
    expect(connected.headers['version']).toBe(expected);
    expect(connected.headers['server']).toMatch(/^Junction\//);
    expect(connected.headers['session']).toBeTruthy();
    const snap = [...server.adapter.connections()].find((s) => s.remotePort === c.socket.localPort);
    expect(snap?.protocolVersion).toBe(`STOMP ${expected}`);
    expect(snap?.user).toBe('guest');
    expect(snap?.vhost).toBe('/');
    c.socket.destroy();
  });

  it('a CONNECT without accept-version is STOMP 1.0', async () => {
    const c = await rawConnected(server.port, 'login:guest\npasscode:guest\n');
    expect(c.frames[0]!.headers['version']).toBe('1.0');
    c.socket.destroy();
  });

  it('rejects an unsupported version with ERROR listing the supported ones', async () => {
    const c = await rawConnectedOrError('accept-version:2.0\nlogin:guest\npasscode:guest\n');
    expect(c.command).toBe('ERROR');
    expect(c.headers['version']).toBe('1.0,1.1,1.2');
  });

  it('rejects bad credentials with ERROR and closes', async () => {
    const f = await rawConnectedOrError('accept-version:1.2\nlogin:guest\npasscode:wrong\n');
    expect(f.command).toBe('ERROR');
    expect(f.headers['message']).toBe('Access refused');
  });

  it('a host that is not a vhost name means the default vhost; an existing vhost is used', async () => {
    await server.broker.addVhost('other');
    server.broker.users.setPermission('other', 'guest', {
      configure: '.*',
      write: '.*',
      read: '.*',
    } as never);
    const a = await rawConnected(
      server.port,
      'accept-version:1.2\nhost:example.com\nlogin:guest\npasscode:guest\n',
    );
    const b = await rawConnected(
      server.port,
      'accept-version:1.2\nhost:other\nlogin:guest\npasscode:guest\n',
    );
    const snaps = [...server.adapter.connections()];
    expect(snaps.find((s) => s.remotePort === a.socket.localPort)?.vhost).toBe('/');
    expect(snaps.find((s) => s.remotePort === b.socket.localPort)?.vhost).toBe('other');
    a.socket.destroy();
    b.socket.destroy();
  });

  it('stompit connects with its defaults (host: localhost)', async () => {
    const c = await connect({ host: 'localhost' });
    await disconnect(c);
  });
});

async function rawConnectedOrError(headers: string) {
  const c = await rawStompClient(server.port);
  c.write(`CONNECT\n${headers}\n\0`);
  const f = await c.next();
  await c.closed;
  return f;
}

describe('destinations', () => {
  it('/queue/name: declared on SEND, durable, round trip with receipts', async () => {
    const q = unique('q');
    const c = await connect();
    await sendWithReceipt(
      c,
      { destination: `/queue/${q}`, receipt: 'r1', 'content-type': 'text/plain' },
      'hello',
    );
    const sub = collect(c, { destination: `/queue/${q}`, ack: 'auto' });
    await until(() => sub.messages.length === 1, 'message');
    const m = sub.messages[0]!;
    expect(m.body.toString()).toBe('hello');
    expect(m.headers['destination']).toBe(`/queue/${q}`);
    expect(m.headers['content-type']).toBe('text/plain');
    expect(m.headers['subscription']).toBeTruthy();
    expect(m.headers['message-id']).toBeTruthy();
    // Visible over AMQP as a durable queue.
    const conn = await amqp.connect(server.amqpUrl);
    const ch = await conn.createChannel();
    const ok = await ch.checkQueue(q);
    expect(ok.queue).toBe(q);
    await conn.close();
  });

  it('/topic/key fans out to every subscriber, via amq.topic with wildcards', async () => {
    const c1 = await connect();
    const c2 = await connect();
    const s1 = collect(c1, { destination: '/topic/stocks.*', id: '1' });
    const s2 = collect(c2, { destination: '/topic/stocks.nyse', id: '1' });
    await waitSubscribed(c1, c2);
    const p = await connect();
    await sendWithReceipt(p, { destination: '/topic/stocks.nyse', receipt: 'r' }, 'ibm');
    await until(() => s1.messages.length === 1 && s2.messages.length === 1, 'topic fanout');
    expect(s1.messages[0]!.headers['destination']).toBe('/topic/stocks.nyse');
  });

  it('/exchange/name/key publishes to that exchange; subscribe binds with the key', async () => {
    const conn = await amqp.connect(server.amqpUrl);
    const ch = await conn.createChannel();
    const ex = unique('ex');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const c = await connect();
    const sub = collect(c, { destination: `/exchange/${ex}/red`, id: 's' });
    await waitSubscribed(c);
    const aq = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(aq.queue, ex, 'blue');
    await sendWithReceipt(c, { destination: `/exchange/${ex}/red`, receipt: 'a' }, 'r');
    await sendWithReceipt(c, { destination: `/exchange/${ex}/blue`, receipt: 'b' }, 'b');
    await until(() => sub.messages.length === 1, 'red');
    expect(sub.messages[0]!.body.toString()).toBe('r');
    const got = await until(() => ch.get(aq.queue, { noAck: true }), 'blue over amqp');
    expect(got.content.toString()).toBe('b');
    await conn.close();
  });

  it('/exchange/ to a missing exchange is an ERROR with the core message', async () => {
    const c = await rawConnected(server.port);
    c.write('SEND\ndestination:/exchange/nope/k\nreceipt:9\n\nx\0');
    const f = await c.next('ERROR');
    expect(f.headers['message']).toMatch(/NOT_FOUND/);
    expect(f.headers['receipt-id']).toBe('9');
    await c.closed;
  });

  it('/amq/queue/name uses an existing queue and never declares one', async () => {
    const conn = await amqp.connect(server.amqpUrl);
    const ch = await conn.createChannel();
    const q = unique('amqq');
    await ch.assertQueue(q, { durable: false });
    const c = await connect();
    const sub = collect(c, { destination: `/amq/queue/${q}`, id: '1' });
    await waitSubscribed(c);
    ch.sendToQueue(q, Buffer.from('from amqp'));
    await until(() => sub.messages.length === 1, 'message');
    expect(sub.messages[0]!.body.toString()).toBe('from amqp');
    await conn.close();

    const raw = await rawConnected(server.port);
    raw.write(`SUBSCRIBE\nid:1\ndestination:/amq/queue/${unique('missing')}\n\n\0`);
    const err = await raw.next('ERROR');
    expect(err.headers['message']).toMatch(/NOT_FOUND/);
    await raw.closed;
  });

  it('an unknown destination prefix is an ERROR', async () => {
    const c = await rawConnected(server.port);
    c.write('SEND\ndestination:/bogus/x\n\n\0');
    const f = await c.next('ERROR');
    expect(f.headers['message']).toBe('Invalid destination');
    await c.closed;
  });
});

/** A round trip through the server proves earlier SUBSCRIBEs are in place (frames run in order). */
async function waitSubscribed(...clients: Client[]): Promise<void> {
  for (const c of clients) await sendWithReceipt(c, { destination: '/topic/__sync__', receipt: 'sync' }, '');
}
