/**
 * MQTT 5 with mqtt.js (protocolVersion 5) and raw sockets, against a real broker: CONNACK
 * reason codes and capability properties over TCP and WebSocket, reason codes on every
 * acknowledgement, server-sent DISCONNECT with its reason, and bad v5 input answered with the
 * reason code the spec names while other clients keep being served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IConnackPacket, IDisconnectPacket, IPubcompPacket, IPubrecPacket } from 'mqtt-packet';
import { startMqttServer, until, type WsTestServer } from '@junction/testkit';
import { collect, connect5, connectedRaw5, disconnectedWith, raw5 } from './helpers.js';

const MAX_PACKET = 64 * 1024;
const RECEIVE_MAXIMUM = 4;
let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer({ maxPacketSize: MAX_PACKET, receiveMaximum: RECEIVE_MAXIMUM });
});
afterAll(async () => {
  await server.close();
});

function client5(opts: IClientOptions = {}, url = server.url): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    username: 'guest',
    password: 'guest',
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  });
}

/** Connects and returns the CONNACK mqtt.js received. */
async function connack5(opts: IClientOptions = {}, url = server.url): Promise<[MqttClient, IConnackPacket]> {
  const c = mqtt.connect(url, {
    username: 'guest',
    password: 'guest',
    protocolVersion: 5,
    reconnectPeriod: 0,
    ...opts,
  });
  const packet = await new Promise<IConnackPacket>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  return [c, packet];
}

/** The reason code mqtt.js reports for a refused CONNECT. */
async function refusedWith(opts: IClientOptions): Promise<number> {
  const err = await client5(opts).then(
    () => {
      throw new Error('connected');
    },
    (e: { code?: number }) => e,
  );
  return err.code!;
}

const connectedRaw = (keepalive = 0) => connectedRaw5(server.port, keepalive);

/** A well-behaved client that must keep working while others misbehave. */
async function stillServed(): Promise<void> {
  const c = await client5();
  const got = collect(c);
  await c.subscribeAsync('still/served', { qos: 1 });
  await c.publishAsync('still/served', 'yes', { qos: 1 });
  await until(() => got.length === 1, 'a well-behaved client still served');
  await c.endAsync();
}

describe('MQTT 5 CONNECT', () => {
  it('accepts level 5 over TCP and WebSocket; CONNACK says what the server supports', async () => {
    for (const url of [server.url, `ws://127.0.0.1:${server.wsPort}/ws`]) {
      const [c, ack] = await connack5({ clientId: 'caps' }, url);
      expect(ack.reasonCode).toBe(0);
      expect(ack.sessionPresent).toBe(false);
      expect(ack.properties).toEqual({
        receiveMaximum: RECEIVE_MAXIMUM,
        maximumPacketSize: MAX_PACKET,
        retainAvailable: true,
        topicAliasMaximum: 64,
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: true,
        sharedSubscriptionAvailable: true,
      });
      const snapshot = [...server.adapter.connections()].find((x) => x.clientId === 'caps');
      expect(snapshot?.protocolVersion).toBe('MQTT 5.0');
      const got = collect(c);
      await c.subscribeAsync('v5/+', { qos: 2 });
      await c.publishAsync('v5/x', 'two', { qos: 2 });
      await c.publishAsync('v5/x', 'one', { qos: 1 });
      await until(() => got.length === 2, 'v5 round trip');
      expect(got.map((m) => [m.topic, m.payload, m.qos])).toEqual([
        ['v5/x', 'two', 2],
        ['v5/x', 'one', 1],
      ]);
      await c.endAsync();
    }
  });

  it('assigns a client identifier to an empty one, with Clean Start 0 too', async () => {
    const c = await raw5(server.port);
    c.send(connect5(Buffer.alloc(0), '', false));
    const ack = (await c.next('connack')) as IConnackPacket;
    const assigned = ack.properties?.assignedClientIdentifier;
    expect(assigned).toMatch(/^junction-/);
    expect([...server.adapter.connections()].some((x) => x.clientId === assigned)).toBe(true);
    c.raw.socket.destroy();
  });

  it('refuses with v5 reason codes: bad password 0x86, anonymous 0x87, unknown vhost 0x87, auth method 0x8C', async () => {
    expect(await refusedWith({ password: 'wrong' })).toBe(0x86);
    expect(await refusedWith({ username: undefined, password: undefined })).toBe(0x87);
    expect(await refusedWith({ username: 'nowhere:guest' })).toBe(0x87);
    expect(await refusedWith({ properties: { authenticationMethod: 'GS2-KRB5' } })).toBe(0x8c);
    await stillServed();
  });

  it('answers bad CONNECT properties with CONNACK 0x81 or 0x82 and closes', async () => {
    const cases: [string, number[], number][] = [
      ['Session Expiry Interval twice', [0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], 0x82],
      ['Receive Maximum 0', [0x21, 0, 0], 0x82],
      ['Maximum Packet Size 0', [0x27, 0, 0, 0, 0], 0x82],
      ['Request Problem Information 2', [0x17, 2], 0x82],
      ['Topic Alias (not a CONNECT property)', [0x23, 0, 1], 0x81],
      ['unknown property 0x7f', [0x7f, 0], 0x81],
      ['truncated Maximum Packet Size', [0x27, 0, 0], 0x81],
      ['ill-formed UTF-8 in a user property', [0x26, 0, 1, 0xff, 0, 1, 0x61], 0x81],
    ];
    for (const [name, props, code] of cases) {
      const c = await raw5(server.port);
      c.send(connect5(Buffer.from(props), `bad-${code}`));
      const ack = (await c.next('connack')) as IConnackPacket;
      expect([name, ack.reasonCode]).toEqual([name, code]);
      await c.raw.closed;
    }
    await stillServed();
  });

  it('keeps MQTT 3.1.1 CONNACK return codes for 3.1.1 clients', async () => {
    const err = await mqtt
      .connectAsync(server.url, { username: 'guest', password: 'wrong', reconnectPeriod: 0 })
      .catch((e: { code?: number }) => e);
    expect((err as { code?: number }).code).toBe(4);
  });
});

describe('MQTT 5 acknowledgements', () => {
  it('PUBACK and PUBREC 0x97 when a queue refuses the message', async () => {
    const amqp = await amqplib.connect(server.amqpUrl);
    const ch = await amqp.createChannel();
    await ch.assertQueue('v5-full', { arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    await ch.bindQueue('v5-full', 'amq.topic', 'v5.full');
    const c = await client5();
    await c.publishAsync('v5/full', 'fits', { qos: 1 });
    const refused = (qos: 1 | 2) =>
      c.publishAsync('v5/full', 'no room', { qos }).then(
        () => 0,
        (e: { code?: number }) => e.code,
      );
    expect(await refused(1)).toBe(0x97);
    expect(await refused(2)).toBe(0x97);
    await c.endAsync();
    await amqp.close();
  });

  it('SUBACK 0x8F for an invalid filter, 0x87 without permission; UNSUBACK 0x11 for no subscription', async () => {
    const b = server.broker;
    await b.putUser('v5-reader', { password: 'pw', tags: [] });
    await b.setPermission('/', 'v5-reader', { configure: '.*', write: '.*', read: '^$' });
    const c = await client5({ username: 'v5-reader', password: 'pw' });
    // mqtt.js rejects failed subscriptions; the raw packet tells the code.
    await expect(c.subscribeAsync('any/#', { qos: 1 })).rejects.toThrow();
    await c.endAsync();
    const raw = await connectedRaw();
    raw.send({
      cmd: 'subscribe',
      messageId: 3,
      subscriptions: [
        { topic: 'ok/+', qos: 1 },
        { topic: 'bad/#/x', qos: 1 },
      ],
    });
    const suback = (await raw.next('suback')) as {
      granted: number[];
      properties?: { reasonString?: string };
    };
    expect(suback.granted).toEqual([1, 0x8f]);
    expect(suback.properties?.reasonString).toMatch(/bad\/#\/x/);
    raw.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['ok/+', 'never'] });
    expect(((await raw.next('unsuback')) as { granted: number[] }).granted).toEqual([0, 0x11]);
    raw.raw.socket.destroy();

    const reader = await raw5(server.port);
    reader.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: '',
      username: 'v5-reader',
      password: Buffer.from('pw'),
    });
    await reader.next('connack');
    reader.send({ cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'any/#', qos: 1 }] });
    expect(((await reader.next('suback')) as { granted: number[] }).granted).toEqual([0x87]);
    reader.raw.socket.destroy();
  });

  it('PUBACK 0x99 (DISCONNECT at QoS 0) for a payload marked UTF-8 that is not', async () => {
    const c = await client5();
    const code = await c
      .publishAsync('v5/utf8', Buffer.from([0xff, 0xfe]), {
        qos: 1,
        properties: { payloadFormatIndicator: true },
      })
      .then(
        () => 0,
        (e: { code?: number }) => e.code,
      );
    expect(code).toBe(0x99);
    await c.publishAsync('v5/utf8', 'fine', { qos: 1, properties: { payloadFormatIndicator: true } });
    await c.endAsync();
    const raw = await connectedRaw();
    raw.send({
      cmd: 'publish',
      topic: 'v5/utf8',
      payload: Buffer.from([0xc3, 0x28]),
      qos: 0,
      retain: false,
      dup: false,
      properties: { payloadFormatIndicator: true },
    });
    expect(await disconnectedWith(raw)).toBe(0x99);
  });

  it('PUBCOMP 0x92 for a PUBREL of an unknown packet id', async () => {
    const c = await connectedRaw();
    c.send({ cmd: 'pubrel', messageId: 77 });
    const comp = (await c.next('pubcomp')) as IPubcompPacket;
    expect([comp.messageId, comp.reasonCode]).toEqual([77, 0x92]);
    c.raw.socket.destroy();
  });

  it('PUBREC with a failure code from the client ends the QoS 2 flow without PUBREL', async () => {
    const sub = await connectedRaw();
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v5/refuse', qos: 2 }] });
    await sub.next('suback');
    const pub = await client5();
    await pub.publishAsync('v5/refuse', 'not wanted', { qos: 2 });
    const p = (await sub.next('publish')) as { messageId: number };
    sub.send({ cmd: 'pubrec', messageId: p.messageId, reasonCode: 0x80 } as IPubrecPacket);
    // Nothing stays unacked in the core, and no PUBREL comes back.
    await until(
      () => [...server.broker.vhost('/').queues.values()].every((q) => q.unacked === 0),
      'the refused delivery settled',
    );
    sub.send({ cmd: 'pingreq' });
    await sub.next('pingresp');
    expect(sub.packets.some((x) => x.cmd === 'pubrel')).toBe(false);
    sub.raw.socket.destroy();
    await pub.endAsync();
  });
});

describe('MQTT 5 DISCONNECT', () => {
  it('from the client: reason 0x04 publishes the will, 0x00 does not', async () => {
    const watcher = await client5();
    const got = collect(watcher);
    await watcher.subscribeAsync('v5/will/+', { qos: 1 });
    for (const [name, reasonCode] of [
      ['normal', 0],
      ['with-will', 4],
    ] as const) {
      const c = await client5({
        will: { topic: `v5/will/${name}`, payload: Buffer.from(name), qos: 1, retain: false },
      });
      await c.endAsync(false, { reasonCode });
    }
    await until(() => got.length === 1, 'the will of the 0x04 disconnect');
    await watcher.publishAsync('v5/will/end', 'end', { qos: 1 });
    await until(() => got.length === 2, 'end marker');
    expect(got.map((m) => m.topic)).toEqual(['v5/will/with-will', 'v5/will/end']);
    await watcher.endAsync();
  });

  it('session taken over: 0x8E to the older connection', async () => {
    const a = await client5({ clientId: 'v5-twin' });
    const told = new Promise<IDisconnectPacket>((r) => a.once('disconnect', r));
    const b = await client5({ clientId: 'v5-twin' });
    expect((await told).reasonCode).toBe(0x8e);
    await b.endAsync();
    a.end(true);
  });

  it('keepalive timeout: 0x8D', async () => {
    const c = await connectedRaw(1);
    expect(await disconnectedWith(c)).toBe(0x8d);
  });

  it('packet too large: 0x95', async () => {
    const c = await connectedRaw();
    c.send({
      cmd: 'publish',
      topic: 'big',
      payload: Buffer.alloc(MAX_PACKET + 10),
      qos: 0,
      retain: false,
      dup: false,
    });
    expect(await disconnectedWith(c)).toBe(0x95);
  });

  it('closed by an operator: 0x98; server shutting down: 0x8B', async () => {
    const c = await client5({ clientId: 'v5-admin' });
    const told = new Promise<IDisconnectPacket>((r) => c.once('disconnect', r));
    const snapshot = [...server.adapter.connections()].find((x) => x.clientId === 'v5-admin')!;
    await server.adapter.closeConnection(snapshot.id, 'closed from the management UI');
    const d = await told;
    expect([d.reasonCode, d.properties?.reasonString]).toEqual([0x98, 'closed from the management UI']);

    const other = await startMqttServer();
    const d2 = await client5({}, other.url);
    const bye = new Promise<IDisconnectPacket>((r) => d2.once('disconnect', r));
    await other.close();
    expect((await bye).reasonCode).toBe(0x8b);
    d2.end(true);
  });

  it('answers bad v5 packets with the reason code the spec names; others keep being served', async () => {
    const publish = {
      cmd: 'publish',
      topic: 'v5/bad',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
    } as const;
    const cases: [string, Parameters<Awaited<ReturnType<typeof raw5>>['send']>[0], number][] = [
      ['a second CONNECT', { cmd: 'connect', protocolVersion: 5, clientId: 'x' }, 0x82],
      ['topic alias 0', { ...publish, properties: { topicAlias: 0 } }, 0x94],
      ['topic alias 65 above the maximum of 64', { ...publish, properties: { topicAlias: 65 } }, 0x94],
      [
        'an empty topic with an alias never set',
        { ...publish, topic: '', properties: { topicAlias: 3 } },
        0x82,
      ],
      // PUBLISH QoS 0 with an empty topic and no properties
      ['an empty topic without an alias', Buffer.from([0x30, 4, 0, 0, 0, 0x78]), 0x82],
      [
        'subscription identifier in a client PUBLISH',
        { ...publish, properties: { subscriptionIdentifier: 5 } },
        0x82,
      ],
      // PUBACK 1, reason 0, properties: Topic Alias (not valid in PUBACK)
      ['a PUBLISH-only property in PUBACK', Buffer.from([0x40, 6, 0, 1, 0, 3, 0x23, 0, 1]), 0x81],
      // PUBACK 1, reason 0, properties: Reason String twice
      ['a property twice', Buffer.from([0x40, 10, 0, 1, 0, 6, 0x1f, 0, 1, 0x61, 0x1f, 0, 0]), 0x82],
      // PUBLISH QoS 0 with Payload Format Indicator 3
      ['a boolean property of 3', Buffer.from([0x30, 7, 0, 1, 0x61, 2, 0x01, 3, 0x78]), 0x82],
      // SUBSCRIBE 1 with Subscription Identifier 0, then with two of them
      ['subscription identifier 0', Buffer.from([0x82, 9, 0, 1, 2, 0x0b, 0, 0, 1, 0x78, 0]), 0x82],
      [
        'two subscription identifiers',
        Buffer.from([0x82, 11, 0, 1, 4, 0x0b, 1, 0x0b, 2, 0, 1, 0x78, 0]),
        0x82,
      ],
      ['retain handling 3', Buffer.from([0x82, 7, 0, 1, 0, 0, 1, 0x78, 0x30]), 0x82],
      ['an AUTH packet', Buffer.from([0xf0, 0]), 0x82],
    ];
    for (const [name, bytes, code] of cases) {
      const c = await connectedRaw();
      c.send(bytes);
      expect([name, await disconnectedWith(c)]).toEqual([name, code]);
    }
    await stillServed();
  });

  it('more unacknowledged QoS 2 publishes than Receive Maximum: 0x93', async () => {
    const c = await connectedRaw();
    for (let id = 1; id <= RECEIVE_MAXIMUM + 1; id++)
      c.send({
        cmd: 'publish',
        topic: 'v5/rm',
        payload: Buffer.from('x'),
        qos: 2,
        messageId: id,
        retain: false,
        dup: false,
      });
    expect(await disconnectedWith(c)).toBe(0x93);
    expect(c.packets.filter((p) => p.cmd === 'pubrec')).toHaveLength(RECEIVE_MAXIMUM);
  });
});
