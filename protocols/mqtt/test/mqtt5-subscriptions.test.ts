/**
 * MQTT 5 subscription options and identifiers with mqtt.js: No Local, Retain As Published,
 * Retain Handling 0/1/2, and Subscription Identifiers on every delivery (retained ones and a
 * resumed session's included); topic aliases both ways.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { startMqttServer, until, type WsTestServer } from '@junction/testkit';
import { raw5 } from './helpers.js';

let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer();
});
afterAll(async () => {
  await server.close();
});

function client5(opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(server.url, {
    username: 'guest',
    password: 'guest',
    protocolVersion: 5,
    reconnectPeriod: 0,
    ...opts,
  });
}

function packets(c: MqttClient): IPublishPacket[] {
  const out: IPublishPacket[] = [];
  c.on('message', (_t, _p, packet) => out.push(packet));
  return out;
}

/** Publishes a marker to `topic` and waits for it: everything sent before it has arrived. */
async function marker(pub: MqttClient, got: IPublishPacket[], topic: string): Promise<void> {
  await pub.publishAsync(topic, 'marker', { qos: 1 });
  await until(() => got.some((p) => p.payload.toString() === 'marker'), 'the marker');
}

const payloads = (got: IPublishPacket[]) => got.map((p) => p.payload.toString());

describe('MQTT 5 subscription options', () => {
  it('No Local: the connection does not get its own messages on that subscription', async () => {
    const c = await client5();
    const got = packets(c);
    await c.subscribeAsync({ 'nl/quiet': { qos: 1, nl: true }, 'nl/echo': { qos: 1 } });
    const other = await client5();
    await c.publishAsync('nl/quiet', 'mine', { qos: 1 });
    await c.publishAsync('nl/echo', 'echoed', { qos: 1 });
    await other.publishAsync('nl/quiet', 'theirs', { qos: 1 });
    await marker(other, got, 'nl/quiet');
    expect(payloads(got).sort()).toEqual(['echoed', 'marker', 'theirs']);
    await Promise.all([c.endAsync(), other.endAsync()]);
  });

  it('Retain As Published keeps the RETAIN flag of live messages; without it RETAIN is 0', async () => {
    const c = await client5();
    const got = packets(c);
    await c.subscribeAsync({ 'rap/kept': { qos: 1, rap: true }, 'rap/cleared': { qos: 1 } });
    const pub = await client5();
    await pub.publishAsync('rap/kept', 'a', { qos: 1, retain: true });
    await pub.publishAsync('rap/cleared', 'b', { qos: 1, retain: true });
    await until(() => got.length === 2, 'two deliveries');
    expect(got.map((p) => [p.topic, p.retain]).sort()).toEqual([
      ['rap/cleared', false],
      ['rap/kept', true],
    ]);
    // Clear the retained messages for the tests after this one.
    await pub.publishAsync('rap/kept', '', { qos: 1, retain: true });
    await pub.publishAsync('rap/cleared', '', { qos: 1, retain: true });
    await Promise.all([c.endAsync(), pub.endAsync()]);
  });

  it('Retain Handling: 0 always sends retained messages, 1 only for a new subscription, 2 never', async () => {
    const pub = await client5();
    await pub.publishAsync('rh/t', 'retained', { qos: 1, retain: true });
    const c = await client5();
    const got = packets(c);
    const retainedCount = () => got.filter((p) => p.retain).length;
    await c.subscribeAsync('rh/t', { qos: 1, rh: 2 });
    await marker(pub, got, 'rh/t');
    expect(retainedCount()).toBe(0);
    await c.subscribeAsync('rh/+', { qos: 1, rh: 1 });
    await until(() => retainedCount() === 1, 'the retained message for a new subscription');
    await c.subscribeAsync('rh/+', { qos: 1, rh: 1 }); // exists: nothing
    await c.subscribeAsync('rh/#', { qos: 1, rh: 0 });
    await until(() => retainedCount() === 2, 'the retained message for rh 0');
    await c.subscribeAsync('rh/#', { qos: 1, rh: 0 }); // 0: again, although it exists
    await until(() => retainedCount() === 3, 'the retained message again for rh 0');
    got.length = 0;
    await marker(pub, got, 'rh/t');
    expect(retainedCount()).toBe(0);
    await pub.publishAsync('rh/t', '', { qos: 1, retain: true });
    await Promise.all([c.endAsync(), pub.endAsync()]);
  });
});

describe('MQTT 5 retained messages with a Message Expiry Interval', () => {
  it('are sent with the time left, and not at all once it has passed', async () => {
    const pub = await client5();
    await pub.publishAsync('rexp/t', 'short-lived', {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    const first = await client5();
    const got = packets(first);
    await first.subscribeAsync('rexp/t', { qos: 1 });
    await until(() => got.length === 1, 'the retained message');
    expect(got[0]!.properties?.messageExpiryInterval).toBe(1);
    await first.endAsync();
    const retainedAt = Date.now();
    await until(() => Date.now() - retainedAt > 1100, 'the expiry passed');
    const late = await client5();
    const none = packets(late);
    await late.subscribeAsync('rexp/t', { qos: 1 });
    await marker(pub, none, 'rexp/t');
    expect(payloads(none)).toEqual(['marker']);
    await Promise.all([late.endAsync(), pub.endAsync()]);
  });
});

describe('MQTT 5 subscription identifiers', () => {
  it('travel with every delivery of their subscription, retained and resumed ones too', async () => {
    const pub = await client5();
    await pub.publishAsync('sid/retained', 'r', { qos: 1, retain: true });
    const c = await client5({
      clientId: 'sid-session',
      clean: true,
      properties: { sessionExpiryInterval: 60 },
    });
    const got = packets(c);
    await c.subscribeAsync('sid/+', { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await c.subscribeAsync('sid/#', { qos: 1, properties: { subscriptionIdentifier: 268435455 } });
    await c.subscribeAsync('nosid/t', { qos: 1 });
    await until(() => got.length === 2, 'the retained message for each subscription');
    expect(got.map((p) => p.properties?.subscriptionIdentifier).sort()).toEqual([268435455, 7]);
    got.length = 0;
    await pub.publishAsync('sid/x', 'live', { qos: 1 });
    await pub.publishAsync('nosid/t', 'none', { qos: 1 });
    await until(() => got.length === 3, 'a copy per subscription, and one without');
    expect(got.map((p) => [p.payload.toString(), p.properties?.subscriptionIdentifier]).sort()).toEqual([
      ['live', 268435455],
      ['live', 7],
      ['none', undefined],
    ]);
    await c.endAsync();

    // The identifier is part of the stored session.
    await pub.publishAsync('sid/y', 'while away', { qos: 1 });
    const back = mqtt.connect(server.url, {
      username: 'guest',
      password: 'guest',
      protocolVersion: 5,
      reconnectPeriod: 0,
      clientId: 'sid-session',
      clean: false,
      properties: { sessionExpiryInterval: 0 },
    });
    const again = packets(back);
    await until(() => again.length === 2, 'the backlog of both subscriptions');
    expect(again.map((p) => p.properties?.subscriptionIdentifier).sort()).toEqual([268435455, 7]);
    await pub.publishAsync('sid/retained', '', { qos: 1, retain: true });
    await Promise.all([back.endAsync(), pub.endAsync()]);
  });
});

describe('MQTT 5 topic aliases', () => {
  it('from the client: mqtt.js assigns aliases, subscribers get the full topic', async () => {
    const sub = await client5();
    const got = packets(sub);
    await sub.subscribeAsync('alias/in', { qos: 1 });
    const pub = await client5({ autoAssignTopicAlias: true });
    const sent: { topic: string; alias?: number }[] = [];
    pub.on('packetsend', (p) => {
      if (p.cmd === 'publish') sent.push({ topic: p.topic, alias: p.properties?.topicAlias });
    });
    for (const n of ['1', '2', '3']) await pub.publishAsync('alias/in', n, { qos: 1 });
    await until(() => got.length === 3, 'three deliveries');
    expect(got.map((p) => [p.topic, p.payload.toString()])).toEqual([
      ['alias/in', '1'],
      ['alias/in', '2'],
      ['alias/in', '3'],
    ]);
    // The first publish set alias 1, the next ones used it with an empty topic.
    expect(sent).toEqual([
      { topic: 'alias/in', alias: 1 },
      { topic: '', alias: 1 },
      { topic: '', alias: 1 },
    ]);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });

  it('to the client: up to its Topic Alias Maximum, each topic in full once, then by alias', async () => {
    const c = await raw5(server.port);
    c.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: '',
      username: 'guest',
      password: Buffer.from('guest'),
      properties: { topicAliasMaximum: 2 },
    });
    await c.next('connack');
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'alias/out/#', qos: 0 }] });
    await c.next('suback');
    const pub = await client5();
    for (const t of ['a', 'a', 'b', 'c', 'b', 'c']) await pub.publishAsync(`alias/out/${t}`, t, { qos: 0 });
    await until(() => c.packets.filter((p) => p.cmd === 'publish').length === 6, 'six deliveries');
    const seen = (c.packets.filter((p) => p.cmd === 'publish') as IPublishPacket[]).map((p) => [
      p.topic,
      p.properties?.topicAlias,
      p.payload.toString(),
    ]);
    expect(seen).toEqual([
      ['alias/out/a', 1, 'a'],
      ['', 1, 'a'],
      ['alias/out/b', 2, 'b'],
      ['alias/out/c', undefined, 'c'], // both aliases taken
      ['', 2, 'b'],
      ['alias/out/c', undefined, 'c'],
    ]);
    c.raw.socket.destroy();
    await pub.endAsync();
  });

  it('mqtt.js with a Topic Alias Maximum resolves the aliases the server sends', async () => {
    const sub = await client5({ properties: { topicAliasMaximum: 4 } });
    // The packet's topic is empty where an alias stood in; the event's topic is resolved.
    const got: [string, string, string][] = [];
    sub.on('message', (topic, payload, packet) => got.push([topic, payload.toString(), packet.topic]));
    await sub.subscribeAsync('alias/js/+', { qos: 1 });
    const pub = await client5();
    for (const t of ['x', 'x', 'y', 'x']) await pub.publishAsync(`alias/js/${t}`, t, { qos: 1 });
    await until(() => got.length === 4, 'four deliveries');
    expect(got).toEqual([
      ['alias/js/x', 'x', 'alias/js/x'],
      ['alias/js/x', 'x', ''],
      ['alias/js/y', 'y', 'alias/js/y'],
      ['alias/js/x', 'x', ''],
    ]);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });
});
