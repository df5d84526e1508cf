/**
 * MQTT 3.1.1 with mqtt.js over real sockets, against the core: QoS 0/1/2, wildcards,
 * retained messages, wills, sessions, takeover, authentication and permissions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import mqtt from 'mqtt';
import { rawClient, startMqttServer, until, type WsTestServer } from '@junction/testkit';
import { client, collect, connectPacket, resumed } from './helpers.js';

let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer();
});
afterAll(async () => {
  await server.close();
});

describe('publish and subscribe', () => {
  it('delivers QoS 0, 1 and 2 at the lower of publish and subscription QoS', async () => {
    const sub = await client(server);
    const got = collect(sub);
    await sub.subscribeAsync({ 'qos/two': { qos: 2 }, 'qos/one': { qos: 1 } });
    const pub = await client(server);
    await pub.publishAsync('qos/two', 'a', { qos: 2 });
    await pub.publishAsync('qos/two', 'b', { qos: 1 });
    await pub.publishAsync('qos/one', 'c', { qos: 2 });
    await pub.publishAsync('qos/one', 'd', { qos: 0 });
    await until(() => got.length === 4, '4 messages');
    expect(got.map((m) => [m.topic, m.payload, m.qos, m.retain])).toEqual([
      ['qos/two', 'a', 2, false],
      ['qos/two', 'b', 1, false],
      ['qos/one', 'c', 1, false],
      ['qos/one', 'd', 0, false],
    ]);
    // Every QoS 1/2 delivery was acknowledged by mqtt.js: nothing is left unacked in the core.
    const queues = [...server.broker.vhost('/').queues.values()].filter((q) =>
      q.name.startsWith('mqtt-subscription-'),
    );
    await until(() => queues.every((q) => q.unacked === 0), 'acks settled');
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });

  it('speaks MQTT 3.1 (MQIsdp) too', async () => {
    const old = await client(server, { protocolId: 'MQIsdp', protocolVersion: 3 });
    const got = collect(old);
    await old.subscribeAsync('legacy/+', { qos: 1 });
    await old.publishAsync('legacy/x', 'v3', { qos: 1 });
    await until(() => got.length === 1, 'MQTT 3.1 round trip');
    expect([...server.adapter.connections()].some((c) => c.protocolVersion === 'MQTT 3.1')).toBe(true);
    await old.endAsync();
  });

  it('publishes a QoS 2 message exactly once when the client retransmits it before PUBREL', async () => {
    const sub = await client(server);
    const got = collect(sub);
    await sub.subscribeAsync('exactly/once', { qos: 2 });
    const raw = await rawClient(server.port);
    raw.socket.write(connectPacket({ clientId: 'qos2-raw', username: 'guest', password: 'guest' }));
    const topic = Buffer.concat([Buffer.from([0, 12]), Buffer.from('exactly/once')]);
    const publish = (dup: boolean, body: string): Buffer =>
      Buffer.concat([
        Buffer.from([0x34 | (dup ? 8 : 0), topic.length + 2 + body.length]),
        topic,
        Buffer.from([0, 7]),
        Buffer.from(body),
      ]);
    raw.socket.write(publish(false, 'one'));
    raw.socket.write(publish(true, 'one'));
    // CONNACK, then PUBREC 7 for each copy.
    await until(() => raw.received().length >= 12, 'two PUBRECs');
    expect([...raw.received().subarray(4, 12)]).toEqual([0x50, 2, 0, 7, 0x50, 2, 0, 7]);
    raw.socket.write(Buffer.from([0x62, 2, 0, 7])); // PUBREL
    await until(() => raw.received().length >= 16, 'PUBCOMP');
    expect([...raw.received().subarray(12, 16)]).toEqual([0x70, 2, 0, 7]);
    // Packet id 7 is free again: a new message with it is a new message.
    raw.socket.write(publish(false, 'two'));
    await until(() => got.length === 2, 'two deliveries');
    expect(got.map((g) => [g.payload, g.qos])).toEqual([
      ['one', 2],
      ['two', 2],
    ]);
    raw.socket.destroy();
    await sub.endAsync();
  });

  it('matches + and # wildcards, and leading wildcards skip $ topics', async () => {
    const sub = await client(server);
    const got = collect(sub);
    await sub.subscribeAsync(['home/+/temp', 'alarm/#', '#', '$SYS/#']);
    const pub = await client(server);
    for (const t of [
      'home/kitchen/temp',
      'home/kitchen/humidity',
      'alarm',
      'alarm/fire/floor1',
      '$SYS/broker/load',
    ])
      await pub.publishAsync(t, t, { qos: 1 });
    await until(() => got.length >= 8, 'deliveries');
    await pub.publishAsync('end', 'end', { qos: 1 });
    await until(() => got.some((m) => m.topic === 'end'), 'end marker');
    const topics = got.map((m) => m.topic).sort();
    // '#' sees every non-$ topic once; the specific filters add their own copies; '$SYS/#' sees $SYS.
    expect(topics).toEqual(
      [
        '$SYS/broker/load',
        'alarm',
        'alarm',
        'alarm/fire/floor1',
        'alarm/fire/floor1',
        'end',
        'home/kitchen/humidity',
        'home/kitchen/temp',
        'home/kitchen/temp',
      ].sort(),
    );
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });

  it('maps dots inside levels losslessly both ways with AMQP', async () => {
    const conn = await amqplib.connect(server.amqpUrl);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', 'sensors.v1/2.temp');
    const pub = await client(server);
    await pub.publishAsync('sensors/v1.2/temp', '21.5', { qos: 1 });
    const m = await until(async () => (await ch.get(queue, { noAck: true })) || null, 'AMQP get');
    expect(m.fields.routingKey).toBe('sensors.v1/2.temp');
    expect(m.content.toString()).toBe('21.5');
    expect(m.properties.deliveryMode).toBe(2);
    expect(m.properties.headers?.['x-mqtt-publish-qos']).toBe(1);

    const sub = await client(server);
    const got = collect(sub);
    await sub.subscribeAsync('fw/v2.0/+', { qos: 1 });
    ch.publish('amq.topic', 'fw.v2/0.image', Buffer.from('bits'), { deliveryMode: 2 });
    ch.publish('amq.topic', 'fw.v2.0.image', Buffer.from('other'));
    await until(() => got.length >= 1, 'MQTT delivery');
    await pub.publishAsync('fw/v2.0/done', 'done', { qos: 1 });
    await until(() => got.length >= 2, 'done marker');
    expect(got.map((g) => [g.topic, g.payload, g.qos])).toEqual([
      ['fw/v2.0/image', 'bits', 1],
      ['fw/v2.0/done', 'done', 1],
    ]);
    await Promise.all([sub.endAsync(), pub.endAsync(), conn.close()]);
  });

  it('carries per-message priority to devices through a max-priority policy', async () => {
    await server.broker.vhost('/').setPolicy({
      name: 'mqtt-prio',
      pattern: '^mqtt-subscription-prio',
      applyTo: 'queues',
      priority: 0,
      definition: { 'max-priority': 10 },
    });
    const opts = { clientId: 'prio', clean: false };
    const device = await client(server, opts);
    await device.subscribeAsync('alerts/#', { qos: 1 });
    await device.endAsync();
    const pub = await client(server);
    for (let i = 0; i < 5; i++) await pub.publishAsync('alerts/routine', `routine-${i}`, { qos: 1 });
    const conn = await amqplib.connect(server.amqpUrl);
    const ch = await conn.createConfirmChannel();
    ch.publish('amq.topic', 'alerts.fire', Buffer.from('URGENT'), { priority: 9, deliveryMode: 2 });
    await ch.waitForConfirms();
    const [back, got] = await resumed(server, opts);
    await until(() => got.length === 6, 'backlog');
    expect(got[0]!.payload).toBe('URGENT');
    expect(got.slice(1).map((g) => g.payload)).toEqual([
      'routine-0',
      'routine-1',
      'routine-2',
      'routine-3',
      'routine-4',
    ]);
    await back.endAsync();
    const clean = await client(server, { clientId: 'prio', clean: true });
    await Promise.all([clean.endAsync(), pub.endAsync(), conn.close()]);
    await server.broker.vhost('/').deletePolicy('mqtt-prio');
  });
});

describe('retained messages', () => {
  it('are delivered to later subscribers, wildcards included, and cleared by an empty payload', async () => {
    const pub = await client(server);
    await pub.publishAsync('ret/a/status', 'online', { qos: 1, retain: true });
    await pub.publishAsync('ret/b/status', 'offline', { qos: 0, retain: true });
    await pub.publishAsync('ret/c/status', 'gone', { qos: 1, retain: true });
    await pub.publishAsync('ret/c/status', '', { qos: 1, retain: true });

    const late = await client(server);
    const got = collect(late);
    await late.subscribeAsync('ret/+/status', { qos: 1 });
    await until(() => got.length === 2, 'retained messages');
    expect(got.map((g) => [g.topic, g.payload, g.qos, g.retain]).sort()).toEqual([
      ['ret/a/status', 'online', 1, true],
      ['ret/b/status', 'offline', 0, true],
    ]);
    // A live publish to an existing subscription is not flagged retained (MQTT-3.3.1-9).
    await pub.publishAsync('ret/a/status', 'still online', { qos: 1, retain: true });
    await until(() => got.length === 3, 'live message');
    expect(got[2]).toMatchObject({ payload: 'still online', retain: false });

    const exact = await client(server);
    const got2 = collect(exact);
    await exact.subscribeAsync('ret/a/status', { qos: 0 });
    await until(() => got2.length === 1, 'retained on exact subscription');
    expect(got2[0]).toMatchObject({ payload: 'still online', retain: true, qos: 0 });
    await Promise.all([pub.endAsync(), late.endAsync(), exact.endAsync()]);
  });
});

describe('wills', () => {
  it('publishes the will on an abnormal disconnect only, to MQTT and AMQP alike', async () => {
    const conn = await amqplib.connect(server.amqpUrl);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', 'will.#');
    const watcher = await client(server);
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });

    const polite = await client(server, {
      will: { topic: 'will/polite', payload: Buffer.from('bye'), qos: 1, retain: false },
    });
    await polite.endAsync();
    const rude = await client(server, {
      will: { topic: 'will/rude', payload: Buffer.from('lost'), qos: 1, retain: false },
    });
    rude.stream.destroy();
    await until(() => got.length === 1, 'will to MQTT');
    expect(got[0]).toMatchObject({ topic: 'will/rude', payload: 'lost', qos: 1 });
    const m = await until(async () => (await ch.get(queue, { noAck: true })) || null, 'will to AMQP');
    expect(m.fields.routingKey).toBe('will.rude');
    expect(m.content.toString()).toBe('lost');
    expect(await ch.get(queue, { noAck: true })).toBe(false);
    await Promise.all([watcher.endAsync(), conn.close()]);
  });

  it('publishes the will when keepalive runs out', async () => {
    const watcher = await client(server);
    const got = collect(watcher);
    await watcher.subscribeAsync('ka/#', { qos: 0 });
    const raw = await rawClient(server.port);
    raw.socket.write(
      connectPacket({
        clientId: 'silent',
        keepalive: 1,
        username: 'guest',
        password: 'guest',
        will: { topic: 'ka/silent', payload: 'timed out' },
      }),
    );
    await until(() => raw.received().length >= 4, 'CONNACK');
    expect([...raw.received().subarray(0, 4)]).toEqual([0x20, 2, 0, 0]);
    await raw.closed; // 1.5 x 1 s of silence
    await until(() => got.length === 1, 'will after keepalive timeout');
    expect(got[0]).toMatchObject({ topic: 'ka/silent', payload: 'timed out' });
    await watcher.endAsync();
  });
});

describe('sessions', () => {
  it('keeps QoS 1 messages for an offline persistent session and resumes it', async () => {
    const opts = { clientId: 'device-17', clean: false };
    const first = await client(server, opts);
    expect(first.connected).toBe(true);
    await first.subscribeAsync('cmd/device-17/#', { qos: 1 });
    await first.endAsync();

    const pub = await client(server);
    for (let i = 0; i < 20; i++) await pub.publishAsync(`cmd/device-17/set`, `${i}`, { qos: 1 });
    await pub.publishAsync(`cmd/device-17/set`, 'qos0 while offline', { qos: 0 });

    const connacks: boolean[] = [];
    const back = mqtt.connect(server.url, {
      ...opts,
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    back.on('connect', (ack) => connacks.push(ack.sessionPresent));
    const got = collect(back);
    await until(() => got.length >= 21, 'offline backlog');
    expect(connacks).toEqual([true]);
    expect(got.slice(0, 20).map((g) => g.payload)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}`));
    expect(got[20]!.payload).toBe('qos0 while offline');
    await back.endAsync();

    // A clean-session connect discards the stored session and its queue.
    const clean = await client(server, { clientId: 'device-17', clean: true });
    await clean.endAsync();
    await until(
      () => ![...server.broker.vhost('/').queues.keys()].some((q) => q.includes('device-17')),
      'session queue deleted',
    );
    const again = mqtt.connect(server.url, {
      ...opts,
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    const present = await new Promise<boolean>((r) => again.once('connect', (ack) => r(ack.sessionPresent)));
    expect(present).toBe(false);
    await Promise.all([again.endAsync(), pub.endAsync()]);
    const cleanup = await client(server, { clientId: 'device-17', clean: true });
    await cleanup.endAsync();
  });

  it('redelivers unacknowledged QoS 1 messages with DUP after a reconnect', async () => {
    const opts = { clientId: 'flaky', clean: false };
    const first = await client(server, opts);
    await first.subscribeAsync('flaky/#', { qos: 1 });
    // Stop mqtt.js from acknowledging by cutting the socket as soon as the message arrives.
    const arrived = new Promise<void>((r) => first.once('message', () => r()));
    const pub = await client(server);
    first.handleMessage = () => {}; // never PUBACK
    await pub.publishAsync('flaky/x', 'once', { qos: 1 });
    await arrived;
    await until(
      () =>
        [...server.broker.vhost('/').queues.values()].some(
          (q) => q.name.startsWith('mqtt-subscription-flaky') && q.unacked === 1,
        ),
      'unacked',
    );
    first.stream.destroy();
    const [back, got] = await resumed(server, opts);
    await until(() => got.length === 1, 'redelivery');
    expect(got[0]).toMatchObject({ payload: 'once', dup: true, qos: 1 });
    await back.endAsync();
    const clean = await client(server, { clientId: 'flaky', clean: true });
    await Promise.all([clean.endAsync(), pub.endAsync()]);
  });

  it('takes over a client id: the older connection is closed', async () => {
    const a = await client(server, { clientId: 'twin' });
    const closed = new Promise<void>((r) => a.once('close', () => r()));
    const b = await client(server, { clientId: 'twin' });
    await closed;
    expect(b.connected).toBe(true);
    const got = collect(b);
    await b.subscribeAsync('twin/t', { qos: 1 });
    await b.publishAsync('twin/t', 'still here', { qos: 1 });
    await until(() => got.length === 1, 'b works');
    await b.endAsync();
    a.end(true);
  });
});

describe('authentication and permissions', () => {
  it('refuses bad credentials (4) and anonymous clients (5)', async () => {
    await expect(client(server, { password: 'wrong' })).rejects.toThrow(/Bad username or password/);
    await expect(client(server, { username: undefined, password: undefined })).rejects.toThrow(
      /Not authorized/,
    );
  });

  it('lets anonymous clients in as the configured user when allowed', async () => {
    const open = await startMqttServer({ allowAnonymous: true });
    const c = await mqtt.connectAsync(open.url, { reconnectPeriod: 0 });
    const got = collect(c);
    await c.subscribeAsync('anon', { qos: 1 });
    await c.publishAsync('anon', 'hi', { qos: 1 });
    await until(() => got.length === 1, 'anonymous round trip');
    await c.endAsync();
    await open.close();
  });

  it('takes the vhost from vhost:user and applies per-vhost permissions', async () => {
    const b = server.broker;
    await b.addVhost('fleet');
    await b.putUser('sensor', { password: 's3cret', tags: [] });
    // May publish to amq.topic, may not read: subscriptions fail with 0x80.
    await b.setPermission('fleet', 'sensor', { configure: '.*', write: '.*', read: '^$' });
    const s = await client(server, { username: 'fleet:sensor', password: 's3cret' });
    await expect(s.subscribeAsync('x/#', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    await s.publishAsync('fleet/temp', '7', { qos: 1 });
    expect(server.adapter.connections()).toBeDefined();
    const snapshot = [...server.adapter.connections()].find((c) => c.user === 'sensor');
    expect(snapshot).toMatchObject({ vhost: 'fleet', protocol: 'mqtt', protocolVersion: 'MQTT 3.1.1' });
    await s.endAsync();
    // No permission on the default vhost at all: CONNACK 5.
    await expect(client(server, { username: 'sensor', password: 's3cret' })).rejects.toThrow(
      /Not authorized/,
    );

    // Write refused: the publish closes the connection; other clients are untouched.
    await b.setPermission('fleet', 'sensor', { configure: '.*', write: '^$', read: '.*' });
    const w = await client(server, { username: 'fleet:sensor', password: 's3cret' });
    const closed = new Promise<void>((r) => w.once('close', () => r()));
    w.publish('fleet/temp', 'nope', { qos: 1 });
    await closed;
    const other = await client(server);
    await other.publishAsync('still/fine', 'ok', { qos: 1 });
    await other.endAsync();
  });
});

describe('WebSocket', () => {
  it('speaks MQTT on /ws', async () => {
    const ws = await mqtt.connectAsync(`ws://127.0.0.1:${server.wsPort}/ws`, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    const tcp = await client(server);
    const got = collect(ws);
    await ws.subscribeAsync('web/+', { qos: 1 });
    await tcp.publishAsync('web/x', 'over websocket', { qos: 1 });
    await until(() => got.length === 1, 'ws delivery');
    expect(got[0]).toMatchObject({ topic: 'web/x', payload: 'over websocket' });
    await Promise.all([ws.endAsync(), tcp.endAsync()]);
  });
});
