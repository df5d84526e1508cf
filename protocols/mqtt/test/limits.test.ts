/**
 * Limits: packet size, topic levels, connections, in-flight window, connect timeout. Each
 * violation ends only the offending client; everyone else carries on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient, startMqttServer, until, type WsTestServer } from '@junction/testkit';
import { client, collect } from './helpers.js';

let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer({
    maxPacketSize: 1024,
    maxTopicLevels: 4,
    maxConnections: 3,
    maxInflight: 2,
    handshakeTimeoutMs: 300,
  });
});
afterAll(async () => {
  await server.close();
});

describe('limits', () => {
  it('disconnects a client that sends a packet over maxPacketSize', async () => {
    const ok = await client(server);
    const big = await client(server);
    const closed = new Promise<void>((r) => big.once('close', () => r()));
    big.publish('size/big', Buffer.alloc(2000, 1), { qos: 1 });
    await closed;
    await ok.publishAsync('size/small', Buffer.alloc(900, 1), { qos: 1 });
    await ok.endAsync();
    big.end(true);
  });

  it('refuses topics deeper than maxTopicLevels: SUBACK failure, disconnect on PUBLISH', async () => {
    const c = await client(server);
    await expect(c.subscribeAsync('a/b/c/d/e', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    await c.subscribeAsync('a/b/c/d', { qos: 1 });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.publish('a/b/c/d/e', 'deep', { qos: 1 });
    await closed;
    c.end(true);
  });

  it('answers CONNACK 3 past maxConnections', async () => {
    const held = await Promise.all([client(server), client(server), client(server)]);
    await expect(client(server)).rejects.toThrow(/Server unavailable/);
    await Promise.all(held.map((c) => c.endAsync()));
    await until(() => [...server.adapter.connections()].length === 0, 'connections closed');
    const again = await client(server);
    await again.endAsync();
  });

  // A clean session's subscription is direct (no queue), a stored session's a queue: both keep the window.
  it.each([
    ['a clean session', 'slow-clean', true],
    ['a stored session', 'slow-stored', false],
  ])(
    'keeps at most maxInflight QoS 1 messages unacknowledged per client (%s)',
    async (_, clientId, clean) => {
      const slow = await client(server, { clientId, clean });
      const got = collect(slow);
      const pending: (() => void)[] = [];
      // Hold every PUBACK back until the test releases it.
      slow.handleMessage = (_packet, done) => void pending.push(() => done());
      await slow.subscribeAsync('window/#', { qos: 1 });
      const pub = await client(server);
      for (let i = 0; i < 5; i++) await pub.publishAsync('window/x', `${i}`, { qos: 1 });
      const subscription = () =>
        [...server.adapter.connections()].find((c) => c.clientId === clientId)?.subscriptions?.[0];
      expect(subscription()?.kind).toBe(clean ? 'direct' : 'queue');
      // A direct subscription's waiting messages are listed with the connection, a queue's with it.
      const queue = () => server.broker.vhost('/').queues.get(subscription()!.queue);
      const waiting = () => (clean ? subscription()?.waiting : queue()?.messageCount);
      await until(() => waiting() === 3, 'two in flight, three waiting');
      if (!clean) expect(queue()?.unacked).toBe(2);
      // mqtt.js hands packets to handleMessage one at a time, so only the first is held here.
      expect(pending.length).toBe(1);
      while (pending.length > 0 || got.length < 5) {
        pending.shift()?.();
        await new Promise((r) => setImmediate(r));
      }
      await until(() => waiting() === 0 && (clean || queue()?.unacked === 0), 'all acknowledged');
      expect(got.map((g) => g.payload)).toEqual(['0', '1', '2', '3', '4']);
      await Promise.all([slow.endAsync(), pub.endAsync()]);
      if (!clean) await (await client(server, { clientId, clean: true })).endAsync();
    },
  );

  it('closes a connection that sends no CONNECT in time', async () => {
    const raw = await rawClient(server.port);
    await raw.closed;
    expect(raw.received().length).toBe(0);
  });
});
