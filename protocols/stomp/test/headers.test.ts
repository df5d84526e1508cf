/**
 * Headers and bodies: escaping, NUL bodies, property mapping STOMP <-> AMQP, selectors,
 * durable topic subscriptions and temp-queue replies.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { until, type WsTestServer } from '@junction/testkit';
import { collect, disconnect, headersOf, rawConnected, sendWithReceipt, stompSuite } from './helpers.js';

const suite = stompSuite();
const { connect, unique } = suite;
let server: WsTestServer;
let amqpConn: ChannelModel;
let ch: Channel;
beforeAll(() => void ({ server, amqpConn, ch } = suite));

describe('escaping and bodies', () => {
  it('1.2 header escaping round trips (\\n \\c \\\\ \\r) on the wire', async () => {
    const q = unique('esc');
    const c = await rawConnected(server.port);
    c.write(`SUBSCRIBE\nid:s\ndestination:/queue/${q}\nreceipt:1\n\n\0`);
    await c.next('RECEIPT');
    c.write(`SEND\ndestination:/queue/${q}\nweird\\cname:a\\nb\\cc\\\\d\\re\n\nbody\0`);
    const m = await c.next('MESSAGE');
    expect(m.headers['weird:name']).toBe('a\nb:c\\d\re');
    c.socket.destroy();
  });

  it('an undefined escape sequence is an ERROR', async () => {
    const c = await rawConnected(server.port);
    c.write('SEND\ndestination:/queue/x\nbad:a\\tb\n\n\0');
    const f = await c.next('ERROR');
    expect(f.headers['message']).toBe('Malformed frame');
    expect(f.body.toString()).toMatch(/escape/);
    await c.closed;
  });

  it('1.0 does not unescape', async () => {
    const q = unique('esc10');
    const c = await rawConnected(server.port, 'accept-version:1.0\nlogin:guest\npasscode:guest\n');
    c.write(`SUBSCRIBE\ndestination:/queue/${q}\nreceipt:1\n\n\0`);
    await c.next('RECEIPT');
    c.write(`SEND\ndestination:/queue/${q}\nk:a\\cb\n\n\0`);
    const m = await c.next('MESSAGE');
    expect(m.headers['k']).toBe('a\\cb');
    c.socket.destroy();
  });

  it('CRLF line ends and heart-beat EOLs between frames are accepted', async () => {
    const q = unique('crlf');
    const c = await rawConnected(server.port);
    c.write(`\r\n\n\r\nSUBSCRIBE\r\nid:s\r\ndestination:/queue/${q}\r\nreceipt:1\r\n\r\n\0\n\n`);
    await c.next('RECEIPT');
    c.write(`SEND\r\ndestination:/queue/${q}\r\n\r\nhi\0\r\n`);
    const m = await c.next('MESSAGE');
    expect(m.body.toString()).toBe('hi');
    c.socket.destroy();
  });

  it('bodies with NULs travel via content-length (stompit and AMQP)', async () => {
    const q = unique('nul');
    const c = await connect();
    const body = Buffer.from([1, 0, 2, 0, 0, 3, 255, 0]);
    await sendWithReceipt(c, { destination: `/queue/${q}`, 'content-length': String(body.length) }, body);
    const s = collect(c, { destination: `/queue/${q}` });
    await until(() => s.messages.length === 1, 'message');
    expect(s.messages[0]!.body.equals(body)).toBe(true);
    expect(String(s.messages[0]!.headers['content-length'])).toBe(String(body.length));
    ch.sendToQueue(q, body);
    await until(() => s.messages.length === 2, 'from AMQP');
    expect(s.messages[1]!.body.equals(body)).toBe(true);
  });

  it('large bodies (written by reference, not copied) arrive intact, in order', async () => {
    const q = unique('large');
    const c = await connect();
    const bodies = [2048, 5000, 100_000, 1_000_000].map((len, k) => {
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) b[i] = (i * 31 + k) & 0xff;
      return b;
    });
    for (const b of bodies)
      await sendWithReceipt(c, { destination: `/queue/${q}`, 'content-length': String(b.length) }, b);
    const s = collect(c, { destination: `/queue/${q}` });
    await until(() => s.messages.length === bodies.length, 'messages');
    s.messages.forEach((m, i) => expect(m.body.equals(bodies[i]!)).toBe(true));
  });

  it('a wrong content-length (no NUL after the body) is an ERROR', async () => {
    const c = await rawConnected(server.port);
    c.write('SEND\ndestination:/queue/x\ncontent-length:2\n\nabc\0');
    const f = await c.next('ERROR');
    expect(f.body.toString()).toMatch(/content-length/);
    await c.closed;
  });
});

describe('properties', () => {
  it('STOMP headers map onto AMQP properties and custom headers', async () => {
    const q = unique('props');
    await ch.assertQueue(q, { durable: false });
    const c = await connect();
    await sendWithReceipt(
      c,
      {
        destination: `/amq/queue/${q}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        persistent: 'true',
        priority: '5',
        expiration: '60000',
        'reply-to': '/queue/replies',
        'correlation-id': 'corr-1',
        'message-id': 'mid-1',
        type: 't',
        'app-id': 'app',
        timestamp: '1700000000',
        'x-custom': 'v:1',
      },
      '{}',
    );
    const m = await until(() => ch.get(q, { noAck: true }), 'message');
    const p = m.properties;
    expect(p.contentType).toBe('application/json');
    expect(p.contentEncoding).toBe('gzip');
    expect(p.deliveryMode).toBe(2);
    expect(p.priority).toBe(5);
    expect(p.expiration).toBe('60000');
    expect(p.replyTo).toBe('/queue/replies');
    expect(p.correlationId).toBe('corr-1');
    expect(p.messageId).toBe('mid-1');
    expect(p.type).toBe('t');
    expect(p.appId).toBe('app');
    expect(p.timestamp).toBe(1700000000);
    expect(p.headers?.['x-custom']).toBe('v:1');
    expect(p.headers?.['destination']).toBeUndefined();
  });

  it('AMQP properties and headers come out as STOMP headers; custom headers round trip', async () => {
    const q = unique('props2');
    await ch.assertQueue(q, { durable: false });
    const c = await connect();
    const s = collect(c, { destination: `/amq/queue/${q}` });
    await sendWithReceipt(c, { destination: `/queue/${unique('sync')}` }, '');
    ch.sendToQueue(q, Buffer.from('x'), {
      contentType: 'text/plain',
      persistent: true,
      priority: 3,
      correlationId: 'c',
      messageId: 'amqp-id',
      replyTo: 'r',
      userId: 'guest',
      appId: 'a',
      type: 'ty',
      timestamp: 42,
      expiration: '100000',
      headers: { 'x-n': 7, 'x-s': 'str', 'x-b': true },
    });
    await until(() => s.messages.length === 1, 'message');
    const h = s.messages[0]!.headers;
    expect(h['content-type']).toBe('text/plain');
    expect(h['persistent']).toBe('true');
    expect(h['priority']).toBe('3');
    expect(h['correlation-id']).toBe('c');
    expect(h['amqp-message-id']).toBe('amqp-id');
    expect(h['message-id']).not.toBe('amqp-id');
    expect(h['reply-to']).toBe('r');
    expect(h['user-id']).toBe('guest');
    expect(h['app-id']).toBe('a');
    expect(h['type']).toBe('ty');
    expect(h['timestamp']).toBe('42');
    expect(h['expiration']).toBe('100000');
    expect(h['x-n']).toBe('7');
    expect(h['x-s']).toBe('str');
    expect(h['x-b']).toBe('true');

    // STOMP -> core -> STOMP keeps custom headers.
    const q2 = unique('rt');
    const s2 = collect(c, { destination: `/queue/${q2}`, id: 'rt' });
    await sendWithReceipt(c, { destination: `/queue/${q2}`, 'my-header': 'my value', 'x-empty': '' }, 'b');
    await until(() => s2.messages.length === 1, 'round trip');
    expect(s2.messages[0]!.headers['my-header']).toBe('my value');
    expect(s2.messages[0]!.headers['x-empty']).toBe('');
  });

  it('expires (absolute, ms) becomes a TTL: an expired message is never delivered', async () => {
    const q = unique('exp');
    const c = await connect();
    await sendWithReceipt(c, { destination: `/queue/${q}`, expires: String(Date.now() - 1000) }, 'old');
    await sendWithReceipt(c, { destination: `/queue/${q}`, expires: String(Date.now() + 60_000) }, 'fresh');
    const s = collect(c, { destination: `/queue/${q}` });
    await until(() => s.messages.length === 1, 'fresh');
    await sendWithReceipt(c, { destination: `/queue/${unique('sync')}` }, '');
    expect(s.messages.map((m) => m.body.toString())).toEqual(['fresh']);
    expect(s.messages[0]!.headers['expires']).toBeTruthy();
  });
});

describe('selectors', () => {
  it('a selector filters by header; non-matching messages stay for others', async () => {
    const q = unique('sel');
    const c = await connect();
    const red = collect(c, { destination: `/queue/${q}`, id: 'red', selector: "color = 'red' AND size > 2" });
    await sendWithReceipt(c, { destination: `/queue/${unique('sync')}` }, '');
    await sendWithReceipt(c, { destination: `/queue/${q}`, color: 'red', size: '5' }, 'r5');
    await sendWithReceipt(c, { destination: `/queue/${q}`, color: 'blue', size: '5' }, 'b5');
    await sendWithReceipt(c, { destination: `/queue/${q}`, color: 'red', size: '1' }, 'r1');
    await until(() => red.messages.length === 1, 'red');
    await sendWithReceipt(c, { destination: `/queue/${unique('sync')}` }, '');
    expect(red.messages.map((m) => m.body.toString())).toEqual(['r5']);
    const all = collect(c, { destination: `/queue/${q}`, id: 'all' });
    await until(() => all.messages.length === 2, 'the rest');
    expect(all.messages.map((m) => m.body.toString()).sort()).toEqual(['b5', 'r1']);
  });

  it('an invalid selector is an ERROR naming the problem', async () => {
    const c = await rawConnected(server.port);
    c.write('SUBSCRIBE\nid:1\ndestination:/queue/selbad\nselector:color = = 3\nreceipt:r\n\n\0');
    const f = await c.next('ERROR');
    expect(f.headers['message']).toBe('Invalid selector');
    expect(f.headers['receipt-id']).toBe('r');
    expect(f.body.toString()).toMatch(/invalid selector/);
    await c.closed;
  });
});

describe('durable topics and temp queues', () => {
  it('a durable topic subscription keeps messages while disconnected', async () => {
    const key = unique('news');
    const c1 = await connect({ 'client-id': 'durable-client' });
    const s1 = collect(c1, {
      destination: `/topic/${key}`,
      id: 'sub1',
      durable: 'true',
      ack: 'client-individual',
    });
    await sendWithReceipt(c1, { destination: `/topic/${key}` }, 'first');
    await until(() => s1.messages.length === 1, 'first');
    await new Promise<void>((r) => c1.ack(s1.messages[0]!.msg, {}, { onReceipt: () => r() } as never));
    await disconnect(c1);

    const p = await connect();
    await sendWithReceipt(p, { destination: `/topic/${key}`, persistent: 'true' }, 'while away');

    const c2 = await connect({ 'client-id': 'durable-client' });
    const s2 = collect(c2, { destination: `/topic/${key}`, id: 'sub1', durable: 'true' });
    await until(() => s2.messages.length === 1, 'kept message');
    expect(s2.messages[0]!.body.toString()).toBe('while away');

    // UNSUBSCRIBE with durable:true removes the subscription queue.
    const queue = `stomp-subscription-durable-client-sub1`;
    expect((await ch.checkQueue(queue)).queue).toBe(queue);
    await new Promise<void>((r) =>
      c2.sendFrame('UNSUBSCRIBE', { id: 'sub1', durable: 'true' }, { onReceipt: () => r() } as never).end(),
    );
    const probe = await amqpConn.createChannel();
    probe.on('error', () => {});
    await expect(probe.checkQueue(queue)).rejects.toThrow(/404|NOT_FOUND/);
  });

  it('a non-durable topic subscription does not keep messages', async () => {
    const key = unique('ephemeral');
    const c1 = await connect();
    collect(c1, { destination: `/topic/${key}`, id: 's' });
    await sendWithReceipt(c1, { destination: `/queue/${unique('sync')}` }, '');
    await disconnect(c1);
    const p = await connect();
    await sendWithReceipt(p, { destination: `/topic/${key}` }, 'lost');
    const c2 = await connect();
    const s2 = collect(c2, { destination: `/topic/${key}`, id: 's' });
    await sendWithReceipt(c2, { destination: `/queue/${unique('sync')}` }, '');
    await sendWithReceipt(p, { destination: `/topic/${key}` }, 'new');
    await until(() => s2.messages.length === 1, 'new');
    expect(s2.messages[0]!.body.toString()).toBe('new');
  });

  it('reply-to /temp-queue/ is rewritten and replies come back to the requester', async () => {
    const service = await connect();
    const requests = collect(service, { destination: '/queue/rpc-service', ack: 'auto' });
    await sendWithReceipt(service, { destination: `/queue/${unique('sync')}` }, '');

    const client = await connect();
    const replies: Array<Record<string, string>> = [];
    const bodies: string[] = [];
    // RabbitMQ delivers replies under the subscription id '/temp-queue/<name>'.
    client.setImplicitSubscription('/temp-queue/replies' as unknown as number, 'auto', (err, msg) => {
      if (err) return;
      replies.push(headersOf(msg));
      msg.readString('utf8', (_e, s) => bodies.push(s ?? ''));
    });
    await sendWithReceipt(
      client,
      { destination: '/queue/rpc-service', 'reply-to': '/temp-queue/replies', 'correlation-id': '42' },
      'ping',
    );
    await until(() => requests.messages.length === 1, 'request');
    const req = requests.messages[0]!;
    expect(req.headers['reply-to']).toMatch(/^\/reply-queue\/.+/);
    await sendWithReceipt(
      service,
      { destination: req.headers['reply-to']!, 'correlation-id': req.headers['correlation-id']! },
      'pong',
    );
    await until(() => bodies.length === 1, 'reply');
    expect(bodies[0]).toBe('pong');
    expect(replies[0]!['correlation-id']).toBe('42');
    expect(replies[0]!['subscription']).toBe('/temp-queue/replies');
  });
});
