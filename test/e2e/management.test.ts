/**
 * The management plane wired by startBroker: one HTTP API sees AMQP and MQTT connections
 * and what they declared, and serves /metrics and health endpoints beside them.
 */
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '@junction/server';

let broker: BrokerHandle;
const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };

beforeAll(async () => {
  broker = await startBroker({ ports: { amqp: 0, mqtt: 0, http: 0 } });
});
afterAll(async () => {
  await broker.close();
});

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${broker.httpUrl}${path}`, { headers: auth });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

describe('management through startBroker', () => {
  it('lists AMQP and MQTT connections and the MQTT subscription queue', async () => {
    const conn = await amqp.connect(broker.amqpUrl!);
    const device = await mqtt.connectAsync(broker.mqttUrl!, {
      username: 'guest',
      password: 'guest',
      clientId: 'thermostat',
      reconnectPeriod: 0,
    });
    await device.subscribeAsync('home/+/setpoint', { qos: 1 });
    const connections = await api<{ protocol: string; user: string }[]>('/api/connections');
    expect(connections.map((c) => c.protocol).sort()).toEqual(['AMQP 0-9-1', 'MQTT 3.1.1']);
    const queues = await api<{ name: string; consumers: number }[]>('/api/queues/%2F');
    expect(queues.find((q) => q.name.startsWith('mqtt-subscription-thermostat-'))).toMatchObject({
      consumers: 1,
    });
    const overview = await api<{ listeners: { protocol: string; port: number }[] }>('/api/overview');
    expect(overview.listeners.map((l) => l.protocol).sort()).toEqual(['amqp', 'http', 'mqtt']);
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/protocol="mqtt"/);
    expect((await fetch(`${broker.httpUrl}/readyz`)).status).toBe(200);
    await device.endAsync();
    await conn.close();
  });
});
