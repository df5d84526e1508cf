/**
 * Details where a STOMP client meets AMQP the way RabbitMQ's STOMP plugin sets them up:
 * named subscription queues, MESSAGE destinations, queue arguments on SEND, and what each
 * STOMP version requires of CONNECTED and ACK. stompit and amqplib against one broker.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { until, type WsTestServer } from '@junction/testkit';
import { collect, destroyClient, rawConnected, sendWithReceipt, stompSuite } from './helpers.js';

const suite = stompSuite();
const { connect } = suite;
let server: WsTestServer;
let amqpConn: ChannelModel;
let ch: Channel;
beforeAll(() => void ({ server, amqpConn, ch } = suite));

describe('x-queue-name on non-durable subscriptions', () => {
  for (const destination of ['/topic/named.key', '/exchange/amq.fanout']) {
    it(`${destination}: the subscription consumes the named queue, so an AMQP publish to it arrives`, async () => {
      const c = await connect();
      const queue = `named-${destination.split('/')[1]}`;
      const got = collect(c, { destination, id: 's', 'x-queue-name': queue });
      await until(
        () => server.broker.vhosts.get('/')!.queues.get(queue)?.consumerCount,
        `a consumer on ${queue}`,
      );
      ch.sendToQueue(queue, Buffer.from('to the named queue'));
      await until(() => got.messages.length === 1, 'the message published to the named queue');
      expect(got.messages[0]!.body.toString()).toBe('to the named queue');
      const q = server.broker.vhosts.get('/')!.queues.get(queue)!;
      expect(q.options.durable).toBe(false);
      // Not durable: the queue goes with its last consumer (RabbitMQ's auto-delete default).
      destroyClient(c);
      await until(() => !server.broker.vhosts.get('/')!.queues.has(queue), `${queue} deleted`);
    });
  }
});

it('MESSAGE frames from /exchange/amq.fanout (no routing key) name it without a trailing slash', async () => {
  const c = await connect();
  const got = collect(c, { destination: '/exchange/amq.fanout', id: 'f' });
  await until(() => got.errors.length > 0 || fanoutBound(), 'the fanout subscription');
  await sendWithReceipt(c, { destination: '/exchange/amq.fanout' }, 'fan');
  await until(() => got.messages.length === 1, 'the fanout message');
  expect(got.messages[0]!.headers['destination']).toBe('/exchange/amq.fanout');
});

function fanoutBound(): boolean {
  for (const q of server.broker.vhosts.get('/')!.queues.values())
    if (q.name.startsWith('amq.gen') && q.consumerCount > 0) return true;
  return false;
}

describe('a SEND that creates a /queue/ honours x- queue arguments', () => {
  it('typed as RabbitMQ types them, so an AMQP declare with the same arguments succeeds', async () => {
    const c = await connect();
    await sendWithReceipt(
      c,
      {
        destination: '/queue/send-args',
        'x-max-priority': '10',
        'x-queue-type': 'classic',
        'x-message-ttl': '60000',
        'x-max-length': '1000',
        'x-dead-letter-exchange': 'amq.fanout',
      },
      'first',
    );
    // Its own channel: before the fix the 406 closes it.
    const declarer = await amqpConn.createChannel();
    const ok = await declarer.assertQueue('send-args', {
      durable: true,
      arguments: {
        'x-max-priority': 10,
        'x-queue-type': 'classic',
        'x-message-ttl': 60000,
        'x-max-length': 1000,
        'x-dead-letter-exchange': 'amq.fanout',
      },
    });
    expect(ok.messageCount).toBe(1);
    await declarer.close();
  });

  it('a malformed numeric argument gets an ERROR and nothing is created', async () => {
    const c = await rawConnected(server.port);
    c.write('SEND\ndestination:/queue/send-bad-args\nx-max-priority:ten\nreceipt:r\n\nx\0');
    const f = await c.next('ERROR');
    expect(f.headers['message']).toBe('Invalid header');
    expect(server.broker.vhosts.get('/')!.queues.has('send-bad-args')).toBe(false);
    c.socket.destroy();
  });
});

describe('what each STOMP version requires', () => {
  it('STOMP 1.0 CONNECTED carries heart-beat:0,0', async () => {
    const c = await rawConnected(server.port, 'login:guest\npasscode:guest\n');
    expect(c.frames[0]!.headers['version']).toBe('1.0');
    expect(c.frames[0]!.headers['heart-beat']).toBe('0,0');
    c.socket.destroy();
  });

  it('STOMP 1.2 ACK and NACK without id get an ERROR (message-id is no substitute)', async () => {
    for (const command of ['ACK', 'NACK']) {
      const c = await rawConnected(server.port);
      c.write(`SUBSCRIBE\nid:1\ndestination:/queue/v12-${command}\nack:client-individual\n\n\0`);
      c.write(`SEND\ndestination:/queue/v12-${command}\n\nm\0`);
      const m = await c.next('MESSAGE');
      c.write(`${command}\nmessage-id:${m.headers['message-id']}\nsubscription:1\n\n\0`);
      const e = await c.next('ERROR');
      expect(e.headers['message']).toBe('Missing header');
      expect(e.body.toString()).toContain(`${command} requires an id header`);
      await c.closed;
    }
  });

  it('STOMP 1.1 ACK still takes message-id and subscription', async () => {
    const c = await rawConnected(server.port, 'accept-version:1.1\nlogin:guest\npasscode:guest\n');
    c.write('SUBSCRIBE\nid:1\ndestination:/queue/v11-ack\nack:client-individual\n\n\0');
    c.write('SEND\ndestination:/queue/v11-ack\n\nm\0');
    const m = await c.next('MESSAGE');
    c.write(`ACK\nmessage-id:${m.headers['message-id']}\nsubscription:1\nreceipt:a\n\n\0`);
    expect((await c.next('RECEIPT')).headers['receipt-id']).toBe('a');
    expect(server.broker.vhosts.get('/')!.queues.get('v11-ack')!.messageCount).toBe(0);
    c.socket.destroy();
  });
});

it('headers named __proto__ and constructor travel like any other header', async () => {
  const c = await rawConnected(server.port);
  c.write('SUBSCRIBE\nid:1\ndestination:/queue/proto-headers\nreceipt:s\n\n\0');
  await c.next('RECEIPT');
  c.write('SEND\ndestination:/queue/proto-headers\n__proto__:polluted\nconstructor:x\n\nm\0');
  const m = await c.next('MESSAGE');
  expect(m.headers['__proto__']).toBe('polluted');
  expect(m.headers['constructor']).toBe('x');
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  c.socket.destroy();
});
