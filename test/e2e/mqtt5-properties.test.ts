/**
 * MQTT 5 message properties across protocols, each row of the README's mapping table: an
 * mqtt.js v5 publish reaches an amqplib consumer with content-type, correlation-id, reply-to,
 * expiration and headers, an AMQP publish reaches an MQTT 5 subscriber with the matching
 * properties, request/response works between an MQTT 5 requester and an AMQP responder, and
 * message expiry is honoured for an offline session and sent with the time left.
 */
import amqp from 'amqplib';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '@junction/testkit';
import { defaults, startBroker, type BrokerHandle } from '@junction/server';

let broker: BrokerHandle;
const clients: MqttClient[] = [];

beforeAll(async () => {
  broker = await startBroker({ ports: { amqp: 0, mqtt: 0 } });
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await broker.close();
});

/** An MQTT 5 client and every PUBLISH it receives. */
async function mqtt5(opts: IClientOptions = {}): Promise<[MqttClient, IPublishPacket[]]> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.ports.mqtt}`, {
    username: 'guest',
    password: 'guest',
    reconnectPeriod: 0,
    protocolVersion: 5,
    ...opts,
  });
  clients.push(c);
  const received: IPublishPacket[] = [];
  c.on('message', (_t, _p, packet) => received.push(packet));
  return [c, received];
}

describe('MQTT 5 properties <-> AMQP', () => {
  it('an MQTT 5 publish reaches AMQP with content-type, correlation-id, reply-to, expiration and headers', async () => {
    const conn = await amqp.connect(broker.amqpUrl!);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', 'v5.to-amqp');
    const got: amqp.ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && got.push(m), { noAck: true });
    const [c] = await mqtt5();
    await c.publishAsync('v5/to-amqp', 'body', {
      qos: 1,
      properties: {
        contentType: 'text/plain',
        correlationData: Buffer.from('corr-1'),
        responseTopic: 'replies/client-1',
        messageExpiryInterval: 60,
        payloadFormatIndicator: true,
        userProperties: { tenant: 'acme', tag: ['a', 'b'] },
      },
    });
    // Correlation data that is not UTF-8 travels as a header.
    await c.publishAsync('v5/to-amqp', 'binary', {
      qos: 1,
      properties: { correlationData: Buffer.from([0xff, 0x00, 0x01]) },
    });
    await until(() => got.length === 2, 'two AMQP deliveries');
    const p = got[0]!.properties;
    expect([p.contentType, p.correlationId, p.replyTo, p.expiration]).toEqual([
      'text/plain',
      'corr-1',
      'replies.client-1',
      '60000',
    ]);
    expect(p.headers).toMatchObject({ tenant: 'acme', tag: ['a', 'b'], 'x-mqtt-payload-format': 1 });
    expect(got[1]!.properties.headers?.['x-correlation-data']).toEqual(Buffer.from([0xff, 0x00, 0x01]));
    await conn.close();
  });

  it('an AMQP publish reaches an MQTT 5 subscriber with the matching properties', async () => {
    const [c, got] = await mqtt5();
    await c.subscribeAsync('v5/from-amqp', { qos: 1 });
    const conn = await amqp.connect(broker.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    ch.publish('amq.topic', 'v5.from-amqp', Buffer.from('hi'), {
      persistent: true,
      contentType: 'application/json',
      correlationId: 'abc',
      replyTo: 'answers.here',
      expiration: '30000',
      headers: { region: 'eu', attempt: 2, flags: ['x', 'y'] },
    });
    await ch.waitForConfirms();
    await until(() => got.length === 1, 'the MQTT 5 delivery');
    const props = got[0]!.properties!;
    expect(props).toMatchObject({
      contentType: 'application/json',
      correlationData: Buffer.from('abc'),
      responseTopic: 'answers/here',
      userProperties: { region: 'eu', attempt: '2', flags: ['x', 'y'] },
    });
    expect(props.messageExpiryInterval).toBeGreaterThan(0);
    expect(props.messageExpiryInterval).toBeLessThanOrEqual(30);
    await conn.close();
  });

  it('request/response: an MQTT 5 requester and an AMQP responder', async () => {
    const conn = await amqp.connect(broker.amqpUrl!);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', 'rpc.square');
    await ch.consume(queue, (m) => {
      if (!m) return;
      const n = Number(m.content.toString());
      ch.publish('amq.topic', m.properties.replyTo as string, Buffer.from(String(n * n)), {
        correlationId: m.properties.correlationId as string,
      });
    });
    const [requester, replies] = await mqtt5();
    await requester.subscribeAsync('rpc/replies/me', { qos: 1 });
    await requester.publishAsync('rpc/square', '12', {
      qos: 1,
      properties: { responseTopic: 'rpc/replies/me', correlationData: Buffer.from('q-12') },
    });
    await until(() => replies.length === 1, 'the reply');
    expect(replies[0]!.payload.toString()).toBe('144');
    expect(replies[0]!.properties?.correlationData).toEqual(Buffer.from('q-12'));
    await conn.close();
  });

  it('message expiry: an expired message never reaches an offline session; others carry the time left', async () => {
    const sessionOpts = { clientId: 'v5-expiry', properties: { sessionExpiryInterval: 60 } };
    const [device] = await mqtt5({ ...sessionOpts, clean: true });
    await device.subscribeAsync('v5/cmd', { qos: 1 });
    await device.endAsync();
    const [pub] = await mqtt5();
    await pub.publishAsync('v5/cmd', 'stale', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('v5/cmd', 'fresh', { qos: 1, properties: { messageExpiryInterval: 100 } });
    const freshSent = Date.now();
    // The device stays away until the core has dropped the expired one from its queue, and
    // the fresh one has waited over a second (the stale one may expire just before that).
    const queue = [...broker.broker.vhost('/').queues.values()].find((q) =>
      q.name.startsWith('mqtt-subscription-v5-expiry-'),
    )!;
    await until(() => queue.messageCount === 1 && Date.now() - freshSent > 1100, 'the stale command expired');
    const back = mqtt.connect(`mqtt://127.0.0.1:${broker.ports.mqtt}`, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
      protocolVersion: 5,
      ...sessionOpts,
      clean: false,
    });
    clients.push(back);
    const got: IPublishPacket[] = [];
    back.on('message', (_t, _p, packet) => got.push(packet));
    await until(() => got.length === 1, 'the fresh command');
    await pub.publishAsync('v5/cmd', 'marker', { qos: 1 });
    await until(() => got.length === 2, 'the marker');
    expect(got.map((p) => p.payload.toString())).toEqual(['fresh', 'marker']);
    // Sent with the time left: 100 s less the (at least 1 s) it waited.
    expect(got[0]!.properties?.messageExpiryInterval).toBeLessThanOrEqual(99);
    expect(got[0]!.properties?.messageExpiryInterval).toBeGreaterThan(90);
    expect(got[1]!.properties?.messageExpiryInterval).toBeUndefined();
  });
});

describe('MQTT 5 settings', () => {
  it('--mqtt-receive-maximum and --mqtt-topic-alias-maximum reach CONNACK', async () => {
    const b = await startBroker({
      ports: { mqtt: 0 },
      config: { mqtt: { ...defaults.mqtt!, receiveMaximum: 7, topicAliasMaximum: 3 } },
    });
    try {
      const c = mqtt.connect(b.mqttUrl!, {
        username: 'guest',
        password: 'guest',
        reconnectPeriod: 0,
        protocolVersion: 5,
      });
      const ack = await new Promise<{ properties?: { receiveMaximum?: number; topicAliasMaximum?: number } }>(
        (r) => c.once('connect', r),
      );
      expect([ack.properties?.receiveMaximum, ack.properties?.topicAliasMaximum]).toEqual([7, 3]);
      await c.endAsync();
      // The server sends no more aliases than a client may set (3), though this one takes 10.
      const sub = await mqtt.connectAsync(b.mqttUrl!, {
        username: 'guest',
        password: 'guest',
        reconnectPeriod: 0,
        protocolVersion: 5,
        properties: { topicAliasMaximum: 10 },
      });
      const aliases: (number | undefined)[] = [];
      sub.on('message', (_t, _p, packet) => aliases.push(packet.properties?.topicAlias));
      await sub.subscribeAsync('cap/+', { qos: 1 });
      for (const t of ['a', 'b', 'c', 'd']) await sub.publishAsync(`cap/${t}`, t, { qos: 1 });
      await until(() => aliases.length === 4, 'four deliveries');
      expect(aliases).toEqual([1, 2, 3, undefined]);
      await sub.endAsync();
    } finally {
      await b.close();
    }
  });
});
