/**
 * A subscription of a session that ends with its connection is bound straight to the
 * connection, without a queue (the core's direct-subscription.ts). What a queue did for a slow
 * device it still does: messages wait in order, a message's expiry runs while it waits, a
 * backlog past FLOW_HIGH holds the publisher back; a vhost's queue policies still apply
 * (the subscription is a queue then); and it is gone with its connection.
 */
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_HIGH } from '@junction/core';
import { startMqttServer, until, type WsTestServer } from '@junction/testkit';
import { client, collect, type Received } from './helpers.js';

let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer();
});
afterAll(async () => {
  await server.close();
});

const snapshotOf = (clientId: string) =>
  [...server.adapter.connections()].find((c) => c.clientId === clientId);
const subscriptionOf = (clientId: string) => snapshotOf(clientId)?.subscriptions?.[0];

/**
 * An MQTT 5 device subscribed to `<clientId>/#` at QoS 1 with Receive Maximum 1 that holds
 * every PUBACK back until the test releases it (`held`), so one message is in flight and the
 * rest wait in the broker.
 */
async function windowOfOne(clientId: string) {
  const device = await client(server, { clientId, protocolVersion: 5, properties: { receiveMaximum: 1 } });
  const got = collect(device);
  const held: (() => void)[] = [];
  device.handleMessage = (_packet, done) => void held.push(() => done());
  await device.subscribeAsync(`${clientId}/#`, { qos: 1 });
  return { device, got, held };
}

/** Releases held PUBACKs one at a time until `n` messages arrived, then the last one's. */
async function acknowledgeUntil(held: (() => void)[], got: Received[], n: number): Promise<void> {
  while (got.length < n) {
    held.shift()?.();
    await new Promise((r) => setTimeout(r, 10));
  }
  held.shift()?.();
}

describe('direct subscriptions', () => {
  it('a device that stops reading: messages wait in order, the publisher is held back, and all arrive once it reads', async () => {
    const device = await client(server, { clientId: 'stalled' });
    const got = collect(device);
    await device.subscribeAsync('stalled/#', { qos: 0 });
    expect(subscriptionOf('stalled')).toMatchObject({ kind: 'direct', waiting: 0 });
    expect([...server.broker.vhost('/').queues.keys()].some((q) => q.includes('stalled'))).toBe(false);
    device.stream.pause();
    const pub = await client(server, { clientId: 'stalled-pub' });
    const total = FLOW_HIGH * 3;
    const body = Buffer.alloc(512, 0x61);
    let flow = false;
    for (let i = 0; i < total; i++) {
      pub.publish('stalled/x', Buffer.concat([Buffer.from(`${i}:`), body]), { qos: 0 });
      if (i % 256 === 0) {
        await new Promise((r) => setImmediate(r));
        flow ||= snapshotOf('stalled-pub')?.state === 'flow';
      }
    }
    await until(() => (subscriptionOf('stalled')?.waiting ?? 0) >= FLOW_HIGH || flow, 'a backlog');
    await until(() => flow || snapshotOf('stalled-pub')?.state === 'flow', 'the publisher held back');
    device.stream.resume();
    await until(() => got.length === total, `${total} messages`, 60_000);
    expect(got.every((g, i) => g.payload.startsWith(`${i}:`))).toBe(true);
    expect(subscriptionOf('stalled')?.waiting).toBe(0);
    await until(() => snapshotOf('stalled-pub')?.state === 'running', 'the publisher running again');
    await Promise.all([device.endAsync(), pub.endAsync()]);
  }, 90_000);

  it('an AMQP message’s expiration runs while it waits for the QoS 1 window of an MQTT 5 device', async () => {
    const { device, got, held } = await windowOfOne('windowed');
    const conn = await amqplib.connect(server.amqpUrl);
    const ch = await conn.createConfirmChannel();
    ch.publish('amq.topic', 'windowed.first', Buffer.from('first'), { deliveryMode: 2 });
    ch.publish('amq.topic', 'windowed.stale', Buffer.from('stale'), { deliveryMode: 2, expiration: '200' });
    ch.publish('amq.topic', 'windowed.last', Buffer.from('last'), { deliveryMode: 2 });
    await ch.waitForConfirms();
    // One in flight (Receive Maximum 1), two waiting: the second expires meanwhile.
    await until(() => held.length === 1 && subscriptionOf('windowed')?.waiting === 2, 'one in flight');
    await new Promise((r) => setTimeout(r, 400));
    await acknowledgeUntil(held, got, 2);
    expect(got.map((g) => g.payload)).toEqual(['first', 'last']);
    await Promise.all([device.endAsync(), conn.close()]);
  });

  it('is a queue when a queue policy would apply to it, and the policy works on it', async () => {
    await server.broker.vhost('/').setPolicy({
      name: 'capped',
      pattern: '^mqtt-subscription-capped',
      applyTo: 'queues',
      priority: 0,
      definition: { 'max-length': 2 },
    });
    const { device, got, held } = await windowOfOne('capped');
    const sub = subscriptionOf('capped');
    expect(sub).toMatchObject({ kind: 'queue' });
    const pub = await client(server);
    for (const m of ['a', 'b', 'c', 'd']) await pub.publishAsync('capped/x', m, { qos: 1 });
    // 'a' in flight (Receive Maximum 1); of b, c, d waiting in the queue, max-length 2 dropped the oldest.
    await until(() => held.length === 1, 'one in flight');
    await acknowledgeUntil(held, got, 3);
    expect(got.map((g) => g.payload)).toEqual(['a', 'c', 'd']);
    await Promise.all([device.endAsync(), pub.endAsync()]);
    await until(() => !server.broker.vhost('/').queues.has(sub!.queue), 'the queue gone with the connection');
    await server.broker.vhost('/').deletePolicy('capped');
  });

  it('ends with its connection: a message published after is routed nowhere', async () => {
    const device = await client(server, { clientId: 'leaving' });
    await device.subscribeAsync('leaving/#', { qos: 1 });
    await device.endAsync();
    await until(() => snapshotOf('leaving') === undefined, 'the connection gone');
    const conn = await amqplib.connect(server.amqpUrl);
    const ch = await conn.createConfirmChannel();
    const returned = new Promise<boolean>((r) => ch.once('return', () => r(true)));
    ch.publish('amq.topic', 'leaving.x', Buffer.from('nobody'), { mandatory: true });
    await ch.waitForConfirms();
    expect(await returned).toBe(true);
    await conn.close();
  });
});
