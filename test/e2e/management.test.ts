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
  it('lists AMQP and MQTT connections, an MQTT connection with its subscriptions, and a stored session’s queue', async () => {
    const conn = await amqp.connect(broker.amqpUrl!);
    const device = await mqtt.connectAsync(broker.mqttUrl!, {
      username: 'guest',
      password: 'guest',
      clientId: 'thermostat',
      reconnectPeriod: 0,
    });
    await device.subscribeAsync('home/+/setpoint', { qos: 1 });
    // A stored session's subscription is a queue; a clean one's is bound straight to its connection.
    const stored = await mqtt.connectAsync(broker.mqttUrl!, {
      username: 'guest',
      password: 'guest',
      clientId: 'boiler',
      clean: false,
      reconnectPeriod: 0,
    });
    await stored.subscribeAsync('home/boiler/#', { qos: 1 });
    type Listed = { protocol: string; client_id?: string; subscriptions?: Record<string, unknown>[] };
    const connections = await api<Listed[]>('/api/connections');
    expect(connections.map((c) => c.protocol).sort()).toEqual(['AMQP 0-9-1', 'MQTT 3.1.1', 'MQTT 3.1.1']);
    expect(connections.find((c) => c.client_id === 'thermostat')?.subscriptions).toMatchObject([
      { filter: 'home/+/setpoint', qos: 1, kind: 'direct', messages: 0 },
    ]);
    const boiler = connections.find((c) => c.client_id === 'boiler')?.subscriptions;
    expect(boiler).toMatchObject([{ filter: 'home/boiler/#', qos: 1, kind: 'queue' }]);
    const queues = await api<{ name: string; consumers: number }[]>('/api/queues/%2F');
    expect(queues.find((q) => q.name === boiler?.[0]?.['queue'])).toMatchObject({ consumers: 1 });
    expect(queues.some((q) => q.name.startsWith('mqtt-subscription-thermostat-'))).toBe(false);
    const overview = await api<{ listeners: { protocol: string; port: number }[] }>('/api/overview');
    expect(overview.listeners.map((l) => l.protocol).sort()).toEqual(['amqp', 'http', 'mqtt']);
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/protocol="mqtt"/);
    expect((await fetch(`${broker.httpUrl}/readyz`)).status).toBe(200);
    await device.endAsync();
    await stored.endAsync();
    // The stored session ends (its queue with it).
    const cleanup = await mqtt.connectAsync(broker.mqttUrl!, {
      username: 'guest',
      password: 'guest',
      clientId: 'boiler',
      clean: true,
      reconnectPeriod: 0,
    });
    await cleanup.endAsync();
    await conn.close();
  });
});
