/**
 * Shared subscriptions (`$share/<group>/<filter>`) for MQTT 5 and 3.1.1 clients, over real
 * sockets with mqtt.js (raw packets where mqtt.js would refuse to send them or would acknowledge
 * on its own): messages spread over the members, each delivered once; a member that leaves
 * hands its unacknowledged messages to the others; the backlog waits for a persistent member;
 * no retained messages; bad share names refused; AMQP publishes reach the group; Debian's
 * python3-paho-mqtt is a member beside mqtt.js.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  rawClient,
  runPython,
  startMqttServer,
  until,
  type RawClient,
  type WsTestServer,
} from '@junction/testkit';
import { collect, type Received } from './helpers.js';

let server: WsTestServer;
// The returned function is the teardown, run after the last test.
beforeAll(async () => {
  server = await startMqttServer();
  return () => server.close();
});

type Version = 4 | 5;

function connectAs(version: Version, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(server.url, {
    username: 'guest',
    password: 'guest',
    protocolVersion: version,
    reconnectPeriod: 0,
    ...opts,
  });
}

/** A member that never acknowledges: what it was sent stays unacknowledged until it goes. */
interface RawMember {
  raw: RawClient;
  packets: mqttPacket.Packet[];
  send(p: mqttPacket.Packet): void;
}

async function rawMember(
  version: Version,
  session: Pick<mqttPacket.IConnectPacket, 'clientId' | 'clean' | 'properties'> = {
    clientId: '',
    clean: true,
  },
): Promise<RawMember> {
  const packets: mqttPacket.Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: version });
  parser.on('packet', (p: mqttPacket.Packet) => packets.push(p));
  const raw = await rawClient(server.port, (chunk) => parser.parse(chunk));
  const send = (p: mqttPacket.Packet): void =>
    raw.write(mqttPacket.generate(p, { protocolVersion: version }));
  send({
    cmd: 'connect',
    protocolVersion: version,
    ...session,
    keepalive: 0,
    username: 'guest',
    password: Buffer.from('guest'),
  });
  await until(() => packets.some((p) => p.cmd === 'connack'), 'CONNACK');
  return { raw, packets, send };
}

async function subackOf(m: RawMember, filters: string[], extra: { nl?: boolean } = {}): Promise<number[]> {
  m.send({
    cmd: 'subscribe',
    messageId: 7,
    subscriptions: filters.map((topic) => ({ topic, qos: 1, nl: extra.nl ?? false, rap: false, rh: 0 })),
  });
  const ack = await until(
    () => m.packets.find((p): p is mqttPacket.ISubackPacket => p.cmd === 'suback'),
    'SUBACK',
  );
  return ack.granted as number[];
}

const pahoMember = fileURLToPath(new URL('./clients/paho_shared_member.py', import.meta.url));
const payloadsOf = (got: Received[]): string[] => got.map((m) => m.payload);
const numbered = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** The group queue's name, as the README documents it. */
const groupQueue = (group: string, filter: string): string =>
  `mqtt-shared-${group}-${createHash('sha1').update(filter).digest('hex').slice(0, 16)}`;

async function queueExists(name: string): Promise<boolean> {
  const conn = await amqp.connect(server.amqpUrl);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {}); // a 404 closes the channel; that is the answer
    await ch.checkQueue(name);
    return true;
  } catch {
    return false;
  } finally {
    await conn.close(); // a 404 closes only the channel
  }
}

describe.each([5, 4] as const)('shared subscriptions, MQTT protocol level %i', (version) => {
  it('spreads 30 messages over 3 members, each delivered exactly once', async () => {
    const filter = `$share/lb${version}/lb/${version}/+`;
    const members = await Promise.all([1, 2, 3].map(() => connectAs(version)));
    const got = members.map(collect);
    for (const m of members) expect((await m.subscribeAsync(filter, { qos: 1 }))[0]?.qos).toBe(1);
    const pub = await connectAs(version);
    const sent = numbered('m', 30);
    for (const p of sent) await pub.publishAsync(`lb/${version}/x`, p, { qos: 1 });
    await until(() => got.flat().length >= 30, '30 deliveries');
    for (const g of got) expect(g.length).toBeGreaterThan(0);
    expect(payloadsOf(got.flat()).sort()).toEqual([...sent].sort());
    await Promise.all([pub, ...members].map((c) => c.endAsync()));
  });

  it(`spreads messages over a paho member (level ${version}) and an mqtt.js member`, async () => {
    const filter = `$share/paho${version}/paho/${version}/+`;
    const control = `paho-control/${version}`;
    const js = await connectAs(version);
    const jsGot = collect(js);
    await js.subscribeAsync(filter, { qos: 1 });
    const pub = await connectAs(version);
    const ready = collect(pub);
    await pub.subscribeAsync(`${control}/ready`, { qos: 1 });
    const paho = runPython(pahoMember, [String(server.port), String(version), filter, control]);
    await until(() => ready.length >= 1, 'the paho member subscribed');
    const sent = numbered('p', 20);
    for (const p of sent) await pub.publishAsync(`paho/${version}/x`, p, { qos: 1 });
    await until(() => jsGot.length >= 1, 'a message at the mqtt.js member');
    await pub.publishAsync(`${control}/done`, 'done', { qos: 1 });
    const seen = (await paho) as { connack: number; granted: number[]; payloads: string[] };
    expect(seen.connack).toBe(0);
    expect(seen.granted).toEqual([1, 1]);
    expect(seen.payloads.length).toBeGreaterThan(0);
    await until(() => jsGot.length + seen.payloads.length >= 20, 'all 20 delivered');
    expect([...seen.payloads, ...payloadsOf(jsGot)].sort()).toEqual([...sent].sort());
    await Promise.all([pub, js].map((c) => c.endAsync()));
  });

  it("gives a leaving member's unacknowledged QoS 1 messages to the others", async () => {
    const filter = `$share/leave${version}/leave/${version}`;
    const leaver = await rawMember(version);
    expect(await subackOf(leaver, [filter])).toEqual([1]);
    const stayers = await Promise.all([1, 2].map(() => connectAs(version)));
    const got = stayers.map(collect);
    for (const m of stayers) await m.subscribeAsync(filter, { qos: 1 });
    const pub = await connectAs(version);
    const sent = numbered('q', 30);
    for (const p of sent.slice(0, 15)) await pub.publishAsync(`leave/${version}`, p, { qos: 1 });
    const toLeaver = () => leaver.packets.filter((p) => p.cmd === 'publish').length;
    await until(() => toLeaver() + got.flat().length >= 15, 'the first 15 delivered');
    expect(toLeaver()).toBeGreaterThan(0);
    leaver.raw.socket.destroy();
    for (const p of sent.slice(15)) await pub.publishAsync(`leave/${version}`, p, { qos: 1 });
    await until(() => got.flat().length >= 30, 'all 30 at the members that stayed');
    expect(payloadsOf(got.flat()).sort()).toEqual([...sent].sort());
    await Promise.all([pub, ...stayers].map((c) => c.endAsync()));
  });

  it('keeps serving the group when a Clean Start connection takes over a member, losing nothing', async () => {
    const filter = `$share/tk${version}/takeover/${version}`;
    const clientId = `sh-takeover-${version}`;
    // The member taken over has a stored session and never acknowledges what it is sent.
    const old = await rawMember(version, {
      clientId,
      clean: false,
      ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
    });
    expect(await subackOf(old, [filter])).toEqual([1]);
    const stayer = await connectAs(version);
    const got = collect(stayer);
    await stayer.subscribeAsync(filter, { qos: 1 });
    const pub = await connectAs(version);
    const sent = numbered('t', 20);
    for (const p of sent.slice(0, 10)) await pub.publishAsync(`takeover/${version}`, p, { qos: 1 });
    const toOld = () => old.packets.filter((p) => p.cmd === 'publish').length;
    await until(() => toOld() + got.length >= 10, 'the first 10 delivered');
    expect(toOld()).toBeGreaterThan(0);
    const taker = await connectAs(version, { clientId, clean: true });
    await old.raw.closed;
    if (version === 5)
      expect(
        old.packets.find((p): p is mqttPacket.IDisconnectPacket => p.cmd === 'disconnect')?.reasonCode,
      ).toBe(0x8e);
    for (const p of sent.slice(10)) await pub.publishAsync(`takeover/${version}`, p, { qos: 1 });
    await until(() => got.length >= 20, 'all 20 at the member that stayed');
    expect(payloadsOf(got).sort()).toEqual([...sent].sort());
    // The taken-over session ended (Clean Start): the group lives on for the member that stayed.
    expect(server.broker.vhost('/').clientSessions.get(clientId)).toBeUndefined();
    expect(await queueExists(groupQueue(`tk${version}`, `takeover/${version}`))).toBe(true);
    await Promise.all([pub, stayer, taker].map((c) => c.endAsync()));
  });

  it('keeps the backlog while no member is connected, for a persistent member', async () => {
    const group = `bl${version}`;
    const topic = `backlog/${version}`;
    const filter = `$share/${group}/${topic}`;
    const persistent: IClientOptions =
      version === 5
        ? { clientId: `sh-p${version}`, clean: false, properties: { sessionExpiryInterval: 300 } }
        : { clientId: `sh-p${version}`, clean: false };
    const member = await connectAs(version, persistent);
    await member.subscribeAsync(filter, { qos: 1 });
    await member.endAsync();
    // A member without a stored session comes and goes: the group queue stays for the other.
    const passing = await connectAs(version);
    await passing.subscribeAsync(filter, { qos: 1 });
    await passing.endAsync();
    const pub = await connectAs(version);
    const sent = numbered('b', 5);
    for (const p of sent) await pub.publishAsync(topic, p, { qos: 1 });
    const back = mqtt.connect(server.url, {
      username: 'guest',
      password: 'guest',
      protocolVersion: version,
      reconnectPeriod: 0,
      ...persistent,
    });
    const got = collect(back);
    await until(() => got.length >= 5, 'the backlog at the returning member');
    expect(payloadsOf(got).sort()).toEqual(sent);
    // The last member unsubscribes: the group queue and its binding are gone.
    expect(await queueExists(groupQueue(group, topic))).toBe(true);
    await back.unsubscribeAsync(filter);
    expect(await queueExists(groupQueue(group, topic))).toBe(false);
    await Promise.all([pub.endAsync(), back.endAsync()]);
  });

  it('deletes a group queue when its last member without a stored session disconnects', async () => {
    const group = `gone${version}`;
    const members = await Promise.all([1, 2].map(() => connectAs(version)));
    for (const m of members) await m.subscribeAsync(`$share/${group}/gone/x`, { qos: 1 });
    await members[0]!.endAsync();
    expect(await queueExists(groupQueue(group, 'gone/x'))).toBe(true);
    await members[1]!.endAsync();
    await until(async () => !(await queueExists(groupQueue(group, 'gone/x'))), 'the group queue deleted');
  });

  it('sends no retained messages on a shared subscription', async () => {
    const topic = `retained/${version}`;
    const pub = await connectAs(version);
    await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });
    const shared = await connectAs(version);
    const sharedGot = collect(shared);
    await shared.subscribeAsync(`$share/rt${version}/${topic}`, { qos: 1 });
    const plain = await connectAs(version);
    const plainGot = collect(plain);
    await plain.subscribeAsync(topic, { qos: 1 });
    await until(() => plainGot.length >= 1, 'the retained message at a plain subscription');
    await pub.publishAsync(topic, 'live', { qos: 1 });
    await until(() => sharedGot.length >= 1, 'the live message at the shared subscription');
    await until(() => plainGot.length >= 2, 'the live message at the plain subscription');
    expect(payloadsOf(sharedGot)).toEqual(['live']);
    expect(payloadsOf(plainGot)).toEqual(['kept', 'live']);
    await pub.publishAsync(topic, '', { qos: 1, retain: true });
    await Promise.all([pub, shared, plain].map((c) => c.endAsync()));
  });

  it(`refuses bad share names with SUBACK ${version === 5 ? '0x8F' : '0x80'}`, async () => {
    const m = await rawMember(version);
    const bad = version === 5 ? 0x8f : 0x80;
    const codes = await subackOf(m, [
      '$share//x',
      '$share/a+b/x',
      '$share/a#/x',
      '$share/g',
      '$share/g/',
      '$share/g/a/#/b',
      `$share/${'n'.repeat(227)}/x`, // its queue name would be 256 bytes, over the core's 255
      `$share/${'n'.repeat(226)}/x`,
    ]);
    expect(codes).toEqual([bad, bad, bad, bad, bad, bad, bad, 1]);
    expect(m.raw.isClosed()).toBe(false);
    m.raw.socket.destroy();
  });

  it('delivers an AMQP publish to amq.topic to the group', async () => {
    const members = await Promise.all([1, 2].map(() => connectAs(version)));
    const got = members.map(collect);
    for (const m of members) await m.subscribeAsync(`$share/amqp${version}/from/amqp/${version}`, { qos: 1 });
    const conn = await amqp.connect(server.amqpUrl);
    const ch = await conn.createConfirmChannel();
    const sent = numbered('a', 6);
    for (const p of sent)
      ch.publish('amq.topic', `from.amqp.${version}`, Buffer.from(p), { persistent: true });
    await ch.waitForConfirms();
    await until(() => got.flat().length >= 6, '6 AMQP messages at the group');
    for (const g of got) expect(g.length).toBeGreaterThan(0);
    expect(payloadsOf(got.flat()).sort()).toEqual(sent);
    await conn.close();
    await Promise.all(members.map((c) => c.endAsync()));
  });
});

describe('shared subscriptions, MQTT 5 only', () => {
  const stored = (clientId: string, sessionExpiryInterval: number): IClientOptions => ({
    clientId,
    clean: false,
    properties: { sessionExpiryInterval },
  });
  const expired = (clientId: string) =>
    until(() => server.broker.vhost('/').clientSessions.get(clientId) === undefined, `${clientId} expired`);

  it("a member's expiring session leaves the group queue to a connected member", async () => {
    const short = await connectAs(5, stored('sh-exp-a', 1));
    const online = await connectAs(5);
    const got = collect(online);
    for (const m of [short, online]) await m.subscribeAsync('$share/expa/expa/x', { qos: 1 });
    await short.endAsync();
    await expired('sh-exp-a');
    await online.publishAsync('expa/x', 'after', { qos: 1 });
    await until(() => got.length >= 1, 'the message at the connected member');
    expect(payloadsOf(got)).toEqual(['after']);
    await online.endAsync();
  });

  it("a member's expiring session leaves the group queue to another stored session", async () => {
    const short = await connectAs(5, stored('sh-exp-b', 1));
    const long = await connectAs(5, stored('sh-exp-c', 300));
    for (const m of [short, long]) await m.subscribeAsync('$share/expb/expb/x', { qos: 1 });
    await Promise.all([short.endAsync(), long.endAsync()]);
    await expired('sh-exp-b');
    const pub = await connectAs(5);
    const sent = numbered('e', 4);
    for (const p of sent) await pub.publishAsync('expb/x', p, { qos: 1 });
    // Back with expiry 0: the session, the last member, ends with this connection.
    const back = mqtt.connect(server.url, {
      username: 'guest',
      password: 'guest',
      protocolVersion: 5,
      reconnectPeriod: 0,
      ...stored('sh-exp-c', 0),
    });
    const got = collect(back);
    await until(() => got.length >= 4, 'the backlog at the member whose session stayed');
    expect(payloadsOf(got).sort()).toEqual(sent);
    await back.endAsync();
    await until(async () => !(await queueExists(groupQueue('expb', 'expb/x'))), 'the group queue deleted');
    await pub.endAsync();
  });

  it('No Local on a shared subscription is a protocol error: DISCONNECT 0x82', async () => {
    const m = await rawMember(5);
    m.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: '$share/nl/x', qos: 1, nl: true, rap: false, rh: 0 }],
    });
    const d = await until(
      () => m.packets.find((p): p is mqttPacket.IDisconnectPacket => p.cmd === 'disconnect'),
      'DISCONNECT',
    );
    expect(d.reasonCode).toBe(0x82);
    await m.raw.closed;
  });
});
