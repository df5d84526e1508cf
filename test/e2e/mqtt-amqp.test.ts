/**
 * MQTT and AMQP through one core: an MQTT sensor's reading lands in an AMQP worker's queue,
 * an AMQP publish reaches MQTT subscribers, retained messages and persistent sessions hold,
 * and a will message reaches an AMQP consumer.
 */
import amqp from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '@junction/testkit';
import { startBroker, type BrokerHandle } from '@junction/server';

let broker: BrokerHandle;
let mqttUrl: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  broker = await startBroker({ ports: { amqp: 0, mqtt: 0 } });
  mqttUrl = `mqtt://127.0.0.1:${broker.ports.mqtt}`;
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await broker.close();
});

function connectMqtt(opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(mqttUrl, { username: 'guest', password: 'guest', reconnectPeriod: 0, ...opts });
    clients.push(c);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

async function amqpChannel() {
  const conn = await amqp.connect(broker.amqpUrl!);
  const ch = await conn.createChannel();
  return { conn, ch };
}

describe('MQTT <-> AMQP', () => {
  it('delivers an MQTT publish to an AMQP queue bound to amq.topic, with the lossless topic mapping', async () => {
    const { conn, ch } = await amqpChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', 'sensors.*.temp');
    const got: amqp.ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && got.push(m), { noAck: true });
    const sensor = await connectMqtt();
    const enqueued = broker.waitFor.enqueued((m) => m.body.toString() === 'dotted', { queue });
    await sensor.publishAsync('sensors/kitchen/temp', '21.5', { qos: 1 });
    await sensor.publishAsync('sensors/v1.2/temp', 'dotted', { qos: 1 });
    await enqueued;
    await until(() => got.length === 2, 'two messages');
    expect(got.map((m) => [m.fields.routingKey, m.content.toString()])).toEqual([
      ['sensors.kitchen.temp', '21.5'],
      ['sensors.v1/2.temp', 'dotted'],
    ]);
    await conn.close();
  });

  it('delivers an AMQP publish to amq.topic to an MQTT wildcard subscriber', async () => {
    const sub = await connectMqtt();
    const got: [string, string][] = [];
    sub.on('message', (topic, payload) => got.push([topic, payload.toString()]));
    await sub.subscribeAsync('alerts/#', { qos: 1 });
    const { conn, ch } = await amqpChannel();
    ch.publish('amq.topic', 'alerts.fire.v1/2', Buffer.from('evacuate'));
    await until(() => got.length === 1, 'the message');
    expect(got).toEqual([['alerts/fire/v1.2', 'evacuate']]);
    await conn.close();
  });

  it('gives a late subscriber the retained message, matched by a wildcard', async () => {
    const pub = await connectMqtt();
    await pub.publishAsync('status/door', 'open', { qos: 1, retain: true });
    const late = await connectMqtt();
    const got: [string, boolean][] = [];
    late.on('message', (topic, _p, packet) => got.push([topic, packet.retain]));
    await late.subscribeAsync('status/+', { qos: 1 });
    await until(() => got.length === 1, 'the message');
    expect(got).toEqual([['status/door', true]]);
  });

  it('keeps QoS 1 messages for a persistent session while it is offline', async () => {
    const first = await connectMqtt({ clientId: 'device-42', clean: false });
    await first.subscribeAsync('cmd/device-42', { qos: 1 });
    await first.endAsync();
    const conn = await amqp.connect(broker.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    for (const c of ['reboot', 'update'])
      ch.publish('amq.topic', 'cmd.device-42', Buffer.from(c), { persistent: true });
    await ch.waitForConfirms();
    await conn.close();
    const got: string[] = [];
    const again = mqtt.connect(mqttUrl, {
      username: 'guest',
      password: 'guest',
      clientId: 'device-42',
      clean: false,
      reconnectPeriod: 0,
    });
    clients.push(again);
    again.on('message', (_t, p) => got.push(p.toString()));
    await until(() => got.length === 2, 'two messages');
    expect(got).toEqual(['reboot', 'update']);
  });

  it('sends the will message to an AMQP consumer when a device drops without DISCONNECT', async () => {
    const { conn, ch } = await amqpChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', 'devices.*.lwt');
    const got: string[] = [];
    await ch.consume(queue, (m) => m && got.push(m.content.toString()), { noAck: true });
    const device = await connectMqtt({
      will: { topic: 'devices/d7/lwt', payload: Buffer.from('offline'), qos: 1, retain: false },
    });
    (device as unknown as { stream: { destroy(): void } }).stream.destroy();
    await until(() => got.length === 1, 'the message');
    expect(got).toEqual(['offline']);
    await conn.close();
  });
});
