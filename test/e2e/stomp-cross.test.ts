/**
 * STOMP, AMQP and MQTT through one core: a STOMP sender reaches an AMQP queue, an AMQP
 * publisher's properties and custom headers reach a STOMP subscriber intact, an MQTT
 * sensor's reading reaches a STOMP topic subscriber, and a STOMP selector filters
 * AMQP-published messages by header.
 */
import amqp from 'amqplib';
import mqtt from 'mqtt';
import type Client from 'stompit/lib/Client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stompitClient, until } from '@junction/testkit';
import { startBroker, type BrokerHandle } from '@junction/server';

let broker: BrokerHandle;
const stomps: Client[] = [];

beforeAll(async () => {
  broker = await startBroker({ ports: { amqp: 0, mqtt: 0, stomp: 0 } });
});
afterAll(async () => {
  for (const s of stomps) s.destroy(new Error('test over'));
  await broker.close();
});

async function stomp(): Promise<Client> {
  const c = await stompitClient(broker.ports.stomp!);
  stomps.push(c);
  return c;
}

interface Got {
  headers: Record<string, string>;
  body: string;
}

const consumers = (): number =>
  [...broker.broker.vhost('/').queues.values()].reduce((n, q) => n + q.consumerCount, 0);

/** Subscribes and collects messages with their headers; resolves once the broker has the subscription. */
async function subscribe(c: Client, headers: Record<string, string>): Promise<Got[]> {
  const got: Got[] = [];
  const before = consumers();
  c.subscribe({ ack: 'auto', ...headers }, (err, msg) => {
    if (err) return;
    msg.readString('utf8', (_e, body) =>
      got.push({
        headers: (msg as unknown as { headers: Record<string, string> }).headers,
        body: body ?? '',
      }),
    );
  });
  await until(() => consumers() > before, 'a STOMP subscription');
  return got;
}

describe('STOMP <-> AMQP and MQTT', () => {
  it('delivers a STOMP SEND to /queue/ to an AMQP consumer, headers as AMQP properties', async () => {
    const conn = await amqp.connect(broker.amqpUrl!);
    const ch = await conn.createChannel();
    await ch.assertQueue('invoices', { durable: true });
    const s = await stomp();
    await new Promise<void>((resolve, reject) => {
      const f = s.send(
        {
          destination: '/queue/invoices',
          'content-type': 'application/json',
          persistent: 'true',
          priority: '4',
          'correlation-id': 'c-9',
          'x-tenant': 'acme',
          receipt: 'r1',
        },
        { onReceipt: () => resolve(), onError: reject } as Client.SendOptions,
      );
      f.end('{"total":42}');
    });
    const m = await ch.get('invoices', { noAck: true });
    expect(m && m.content.toString()).toBe('{"total":42}');
    expect(m && m.properties).toMatchObject({
      contentType: 'application/json',
      deliveryMode: 2,
      priority: 4,
      correlationId: 'c-9',
      headers: { 'x-tenant': 'acme' },
    });
    await conn.close();
  });

  it('delivers an AMQP publish to a STOMP subscriber with its properties and custom headers intact', async () => {
    const s = await stomp();
    const got = await subscribe(s, { destination: '/queue/to-stomp' });
    const conn = await amqp.connect(broker.amqpUrl!);
    const ch = await conn.createChannel();
    ch.sendToQueue('to-stomp', Buffer.from('from amqp'), {
      contentType: 'text/plain',
      correlationId: 'corr-1',
      replyTo: 'answers',
      messageId: 'm-1',
      type: 'greeting',
      appId: 'billing',
      persistent: true,
      headers: { 'x-region': 'eu', 'x-attempt': 3 },
    });
    await until(() => got.length === 1, 'the STOMP delivery');
    expect(got[0]!.body).toBe('from amqp');
    expect(got[0]!.headers).toMatchObject({
      'content-type': 'text/plain',
      'correlation-id': 'corr-1',
      'reply-to': 'answers', // passed through as AMQP gave it, as RabbitMQ does
      'amqp-message-id': 'm-1',
      type: 'greeting',
      'app-id': 'billing',
      persistent: 'true',
      'x-region': 'eu',
      'x-attempt': '3',
    });
    await conn.close();
  });

  it('delivers an MQTT sensor reading to a STOMP /topic/ subscriber', async () => {
    const s = await stomp();
    const got = await subscribe(s, { destination: '/topic/sensors.*.temp' });
    const sensor = await mqtt.connectAsync(broker.mqttUrl!, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    await sensor.publishAsync('sensors/hall/temp', '19.0', { qos: 1 });
    await until(() => got.length === 1, 'the STOMP topic delivery');
    expect(got[0]!.body).toBe('19.0');
    expect(got[0]!.headers['destination']).toBe('/topic/sensors.hall.temp');
    await sensor.endAsync();
  });

  it('delivers MQTT 5 user properties, content type and correlation data as STOMP headers, and back', async () => {
    const s = await stomp();
    const got = await subscribe(s, { destination: '/topic/v5.props' });
    const sensor = await mqtt.connectAsync(broker.mqttUrl!, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
      protocolVersion: 5,
    });
    await sensor.publishAsync('v5/props', '{"t":19}', {
      qos: 1,
      properties: {
        contentType: 'application/json',
        correlationData: Buffer.from('req-9'),
        responseTopic: 'v5/replies',
        userProperties: { site: 'hall', unit: 'C' },
      },
    });
    await until(() => got.length === 1, 'the STOMP delivery');
    expect(got[0]!.headers).toMatchObject({
      'content-type': 'application/json',
      'correlation-id': 'req-9',
      'reply-to': 'v5.replies',
      site: 'hall',
      unit: 'C',
    });
    // And a STOMP SEND's headers reach the MQTT 5 client as properties.
    const props: unknown[] = [];
    sensor.on('message', (_t, _p, packet) => props.push(packet.properties));
    await sensor.subscribeAsync('v5/from-stomp', { qos: 1 });
    await new Promise<void>((resolve, reject) => {
      const f = s.send(
        {
          destination: '/topic/v5.from-stomp',
          'content-type': 'text/plain',
          'correlation-id': 'c-1',
          'reply-to': 'v5.back',
          region: 'eu',
          receipt: 'r5',
        },
        { onReceipt: () => resolve(), onError: reject } as Client.SendOptions,
      );
      f.end('hello');
    });
    await until(() => props.length === 1, 'the MQTT 5 delivery');
    expect(props[0]).toMatchObject({
      contentType: 'text/plain',
      correlationData: Buffer.from('c-1'),
      responseTopic: 'v5/back',
      userProperties: { region: 'eu' },
    });
    await sensor.endAsync();
  });

  it('delivers a STOMP SEND to /topic/ to an MQTT subscriber', async () => {
    const device = await mqtt.connectAsync(broker.mqttUrl!, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    const got: string[] = [];
    device.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    await device.subscribeAsync('display/+/text', { qos: 1 });
    const s = await stomp();
    await new Promise<void>((resolve, reject) => {
      const f = s.send({ destination: '/topic/display.lobby.text', persistent: 'true', receipt: 'r2' }, {
        onReceipt: () => resolve(),
        onError: reject,
      } as Client.SendOptions);
      f.end('welcome');
    });
    await until(() => got.length === 1, 'the MQTT delivery');
    expect(got).toEqual(['display/lobby/text welcome']);
    await device.endAsync();
  });

  it('filters AMQP-published messages with a STOMP selector on their headers', async () => {
    const s = await stomp();
    const got = await subscribe(s, {
      destination: '/queue/orders-eu',
      selector: "region = 'eu' AND amount > 100",
    });
    const conn = await amqp.connect(broker.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    const orders: [string, number][] = [
      ['eu', 50],
      ['us', 500],
      ['eu', 150],
      ['eu', 101],
    ];
    for (const [region, amount] of orders)
      ch.sendToQueue('orders-eu', Buffer.from(`${region}-${amount}`), { headers: { region, amount } });
    await ch.waitForConfirms();
    await until(() => got.length === 2, 'the selected messages');
    expect(got.map((g) => g.body)).toEqual(['eu-150', 'eu-101']);
    // The others stay in the queue for consumers without that selector.
    expect(broker.broker.vhost('/').queues.get('orders-eu')!.messageCount).toBe(2);
    await conn.close();
  });
});
