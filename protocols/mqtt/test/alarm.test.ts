/**
 * The memory alarm blocks MQTT publishers only: a subscriber keeps receiving and PUBACKing
 * (its in-flight window needs its acks read), neither side is dropped by the keepalive check,
 * and management shows the held publisher as blocked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient, startMqttServer, until, type WsTestServer } from '@junction/testkit';
import type { Connection } from '@junction/core';
import { client, collect, connectPacket, remainingLength } from './helpers.js';

let server: WsTestServer;
let injector: Connection;
beforeAll(async () => {
  server = await startMqttServer({ maxInflight: 10 });
  const principal = { username: 'guest', tags: ['administrator'] };
  // A core connection outside every adapter: it fills the subscriber's queue during the alarm.
  injector = server.broker.connect(
    principal,
    '/',
    { id: 'injector', protocol: 'internal', remoteAddress: '127.0.0.1', remotePort: 0, localPort: 0 },
    { close: async () => {} },
  );
});
afterAll(async () => {
  server.broker.setAlarm('memory', null);
  await injector.close();
  await server.close();
});

function publishPacket(topic: string, packetId: number, payload: string): Buffer {
  const t = Buffer.from(topic);
  const body = Buffer.concat([
    Buffer.from([t.length >> 8, t.length & 0xff]),
    t,
    Buffer.from([packetId >> 8, packetId & 0xff]),
    Buffer.from(payload),
  ]);
  return Buffer.concat([Buffer.from([0x32]), remainingLength(body.length), body]);
}

const stateOf = (clientId: string): string | undefined =>
  [...server.adapter.connections()].find((s) => s.clientId === clientId)?.state;

describe('MQTT during a memory alarm', () => {
  it('holds a publisher while a subscriber keeps receiving and acking, and drops neither', async () => {
    const sub = await client(server, { clientId: 'alarm-sub', keepalive: 1 });
    let subClosed = false;
    sub.on('close', () => (subClosed = true));
    const got = collect(sub);
    await sub.subscribeAsync('alarm/t', { qos: 1 });

    // The publisher is a raw client: mqtt.js would end a connection whose PINGREQs go
    // unanswered, and here the broker is meant to leave them unread.
    const pub = await rawClient(server.port);
    pub.write(connectPacket({ clientId: 'alarm-pub', keepalive: 1, username: 'guest', password: 'guest' }));
    await until(() => pub.received().length >= 4, 'CONNACK');
    const ping = setInterval(() => pub.write(Buffer.from([0xc0, 0])), 500);

    server.broker.setAlarm('memory', 'low on memory');
    pub.write(publishPacket('alarm/t', 1, 'blocks'));
    await until(() => stateOf('alarm-pub') === 'blocked', 'publisher blocked');
    pub.write(publishPacket('alarm/t', 2, 'during-alarm'));

    const session = injector.openSession();
    const backlog = 300;
    for (let i = 0; i < backlog; i++)
      session.publish({
        exchange: 'amq.topic',
        routingKey: 'alarm.t',
        properties: { deliveryMode: 1 },
        body: Buffer.from(`m${i}`),
      });
    // In-flight window 10: 300 deliveries need 290 PUBACKs read during the alarm.
    await until(() => got.length === backlog + 1, `subscriber received ${backlog + 1}`, 15_000);
    expect(stateOf('alarm-sub')).toBe('running');

    // Keepalive 1 s: silence for 1.5 s ends a connection; the held publisher is not silent.
    const heldSince = Date.now();
    await until(() => Date.now() - heldSince > 2500, 'two keepalive periods', 10_000);
    expect(pub.isClosed()).toBe(false);
    expect(subClosed).toBe(false);
    expect(stateOf('alarm-pub')).toBe('blocked');
    expect(got.map((m) => m.payload)).not.toContain('during-alarm');

    server.broker.setAlarm('memory', null);
    await until(() => got.some((m) => m.payload === 'during-alarm'), 'held message delivered');
    // PUBACK for packet id 2 once the publish was read.
    await until(() => pub.received().includes(Buffer.from([0x40, 0x02, 0x00, 0x02])), 'PUBACK 2');
    expect(stateOf('alarm-pub')).toBe('running');
    clearInterval(ping);
    pub.socket.destroy();
    await session.close();
    await sub.endAsync();
  });
});
