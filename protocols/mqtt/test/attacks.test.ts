/**
 * Issue 14, MQTT edges, each as an attacker with only the permissions named, against a real
 * broker over sockets, with a second client's round trip measured while the attack runs:
 * - 65,536 retained QoS 1 messages and a `#` subscriber that never acknowledges: packet
 *   ids stop at the receive window and resume as PUBACKs arrive (the allocator used to loop
 *   forever once every id was in flight, freezing the broker);
 * - a read-only user cannot clear a retained message with an empty retained publish;
 * - `*` is a literal topic level (MQTT has no `*` wildcard), and `+`/`#` at the first level
 *   never match `$` topics, for live and retained messages;
 * - an MQTT 5 PUBLISH that repeats one user property name 100,000 times (700 KB) is carried
 *   whole (mapping it to headers was quadratic: it stalled the broker for 95 s).
 */
import type { Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, rawClient, startMqttServer, until, type WsTestServer } from '@junction/testkit';
import { client, collect, connectPacket } from './helpers.js';
import { filterToPattern, keyToTopic, topicToKey } from '../src/topics.js';

let server: WsTestServer | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  await closeAll(clients.splice(0).map((c) => () => c.endAsync(true)));
  await server?.close();
  server = undefined;
});
const track = (c: MqttClient): MqttClient => (clients.push(c), c);

/** How long a second client's publish-and-receive takes. */
async function roundTripMs(s: WsTestServer, topic: string): Promise<number> {
  const c = track(await client(s, { clientId: `bystander-${topic.replaceAll('/', '-')}` }));
  await c.subscribeAsync(topic, { qos: 1 });
  const t0 = performance.now();
  const got = new Promise<void>((resolve) => c.on('message', () => resolve()));
  await c.publishAsync(topic, 'ping', { qos: 1 });
  await got;
  return performance.now() - t0;
}

/** A subscriber on a raw socket that records every PUBLISH and acknowledges only when told. */
async function silentSubscriber(
  s: WsTestServer,
  filter: string,
): Promise<{ socket: Socket; publishes: mqttPacket.IPublishPacket[]; ack(ids: number[]): void }> {
  const { socket } = await rawClient(s.port);
  const publishes: mqttPacket.IPublishPacket[] = [];
  const parser = mqttPacket.parser();
  parser.on('packet', (p: mqttPacket.Packet) => {
    if (p.cmd === 'publish') publishes.push(p);
  });
  socket.on('data', (b: Buffer) => parser.parse(b));
  socket.write(connectPacket({ clientId: 'silent', username: 'guest', password: 'guest' }));
  socket.write(
    mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] }),
  );
  return {
    socket,
    publishes,
    ack: (ids) => {
      for (const messageId of ids) socket.write(mqttPacket.generate({ cmd: 'puback', messageId }));
    },
  };
}

describe('outbound packet ids are bounded by the receive window', () => {
  it('65,536 retained QoS 1 messages to a subscriber that does not ack', async () => {
    const window = 500;
    server = await startMqttServer({ maxInflight: window });
    const retained = server.broker.vhosts.get('/')!.retained;
    const total = 65_536;
    for (let i = 0; i < total; i++) {
      const routingKey = `flood.${i}`;
      await retained.set(routingKey, {
        exchange: 'amq.topic',
        routingKey,
        properties: { deliveryMode: 2, headers: { 'x-mqtt-publish-qos': 1 } },
        body: Buffer.from(String(i)),
      });
    }
    const sub = await silentSubscriber(server, '#');
    await until(() => sub.publishes.length >= window, 'the first window of retained messages', 20_000);
    // The broker is not frozen, and sends nothing past the window while nothing is acked.
    expect(await roundTripMs(server, 'bystander/1')).toBeLessThan(3000);
    const first = sub.publishes.filter((p) => p.retain);
    expect(first.length).toBe(window);
    expect(new Set(first.map((p) => p.messageId)).size).toBe(window);

    // Acknowledging resumes the flow, window by window, until every message has arrived.
    let acked = 0;
    const deadline = Date.now() + 120_000;
    while (acked < total) {
      if (Date.now() > deadline) throw new Error(`only ${acked} of ${total} retained messages arrived`);
      const batch = sub.publishes.slice(acked);
      if (batch.length === 0) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      // Never more unacknowledged retained messages than the window (+1: a bystander's live one).
      expect(batch.length).toBeLessThanOrEqual(window + 1);
      sub.ack(batch.map((p) => p.messageId!));
      acked += batch.length;
    }
    // Every retained message once (the bystander's live message came through as well).
    const flood = sub.publishes.filter((p) => p.retain);
    expect(flood.length).toBe(total);
    expect(new Set(flood.map((p) => String(p.payload))).size).toBe(total);
    expect(await roundTripMs(server, 'bystander/2')).toBeLessThan(3000);
    sub.socket.destroy();
  }, 180_000);
});

describe('retained messages need write permission, to clear them too', () => {
  it('a read-only user’s empty retained publish leaves the retained message', async () => {
    server = await startMqttServer();
    await server.broker.putUser('reader', { password: 'r', tags: [] });
    // Enough to subscribe (its own queues) and read amq.topic; no write on the exchange.
    await server.broker.setPermission('/', 'reader', {
      configure: '^mqtt-subscription-',
      write: '^mqtt-subscription-',
      read: '.*',
    });
    const owner = track(await client(server, { clientId: 'owner' }));
    await owner.publishAsync('plant/valve', 'open', { qos: 1, retain: true });

    const reader = track(await client(server, { clientId: 'reader', username: 'reader', password: 'r' }));
    const got = collect(reader);
    await reader.subscribeAsync('plant/#', { qos: 1 });
    await until(() => got.length === 1, 'the reader to get the retained message');
    const closed = new Promise<void>((r) => reader.once('close', () => r()));
    reader.publish('plant/valve', '', { qos: 1, retain: true });
    await closed;

    const check = track(await client(server, { clientId: 'check' }));
    const seen = collect(check);
    await check.subscribeAsync('plant/valve', { qos: 1 });
    await until(() => seen.length === 1, 'the retained message, still there');
    expect(seen[0]).toMatchObject({ topic: 'plant/valve', payload: 'open', retain: true });
    expect(await roundTripMs(server, 'bystander/3')).toBeLessThan(3000);
  });
});

describe('MQTT wildcards per the spec only', () => {
  it('maps a literal * level so that AMQP does not read it as a wildcard, losslessly', () => {
    expect(filterToPattern('*')).toBe('+');
    expect(filterToPattern('*/broker/load')).toBe('+.broker.load');
    expect(filterToPattern('+/a*/#')).toBe('*.a*.#');
    for (const topic of ['*', '*/broker/load', 'a/*/b.c', 'x*/*y', 'a.b/c'])
      expect(keyToTopic(topicToKey(topic))).toBe(topic);
    // AMQP keys come back unchanged as well, `*` and `+` words included.
    for (const key of ['a.*.b', 'a.+.b', '+', '*', 'a/b.c']) expect(topicToKey(keyToTopic(key))).toBe(key);
  });

  it('* matches only the topic *, and no leading wildcard matches a $ topic', async () => {
    server = await startMqttServer();
    const pub = track(await client(server, { clientId: 'pub' }));
    await pub.publishAsync('$SYS/broker/uptime', 'retained-sys', { qos: 1, retain: true });
    await pub.publishAsync('solo', 'retained-solo', { qos: 1, retain: true });

    const filters = ['*', '*/broker/load', '+/broker/load', '#', '+', '$SYS/#'];
    const got = new Map<string, string[]>();
    for (const f of filters) {
      const c = track(await client(server, { clientId: `sub-${filters.indexOf(f)}` }));
      const seen: string[] = [];
      got.set(f, seen);
      c.on('message', (topic) => seen.push(topic));
      await c.subscribeAsync(f, { qos: 1 });
    }
    for (const t of ['$SYS/broker/load', 'x/broker/load', '*/broker/load', '*', 'a', 'end'])
      await pub.publishAsync(t, t, { qos: 1 });
    await until(() => got.get('#')!.includes('end'), 'the last message');
    await until(() => got.get('$SYS/#')!.includes('$SYS/broker/load'), 'the $SYS subscriber');
    const sorted = (f: string): string[] => [...got.get(f)!].sort();
    expect(sorted('*')).toEqual(['*']);
    expect(sorted('*/broker/load')).toEqual(['*/broker/load']);
    expect(sorted('+/broker/load')).toEqual(['*/broker/load', 'x/broker/load']);
    expect(sorted('+')).toEqual(['*', 'a', 'end', 'solo']);
    expect(sorted('#')).toEqual(['*', '*/broker/load', 'a', 'end', 'solo', 'x/broker/load']);
    expect(sorted('$SYS/#')).toEqual(['$SYS/broker/load', '$SYS/broker/uptime']);
    expect(await roundTripMs(server, 'bystander/4')).toBeLessThan(3000);
  });
});

describe('MQTT 5 user properties', () => {
  it('a PUBLISH repeating one user property name 100,000 times is carried whole', async () => {
    server = await startMqttServer();
    const v5 = { protocolVersion: 5 as const };
    const sub = track(await client(server, v5));
    const got = new Promise<unknown>((resolve) =>
      sub.on('message', (_t, _p, packet) => resolve(packet.properties?.userProperties?.['k'])),
    );
    await sub.subscribeAsync('props/many', { qos: 1 });
    const pub = track(await client(server, v5));
    const values = Array.from({ length: 100_000 }, (_, i) => String(i % 10));
    await pub.publishAsync('props/many', 'x', { qos: 1, properties: { userProperties: { k: values } } });
    // Each repeat used to copy the array of the ones before it: quadratic, the broker stalled.
    expect(await got).toEqual(values);
  });
});
