/**
 * MQTT 5 Clean Start and Session Expiry Interval with mqtt.js: a session with expiry 0 ends
 * with its connection, one with N seconds keeps its queue (and the QoS 1 messages that arrive
 * meanwhile) for N seconds after the disconnect and is then removed, 0xFFFFFFFF keeps it, and
 * Session Present says which. Across a restart of the embedded store: test/e2e/restart.test.ts.
 * Will Delay Interval: the will waits, and a client back in its session within it has none sent.
 * `--mqtt-max-session-expiry` lowers longer intervals (CONNACK says so) and ends 3.1.1
 * persistent sessions too; Request Response Information gets Response Information.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IConnackPacket } from 'mqtt-packet';
import { startMqttServer, until, type WsTestServer } from '@junction/testkit';
import { collect, connectedRaw5, disconnectedWith, type Received } from './helpers.js';

let server: WsTestServer;
beforeAll(async () => {
  // No cap on Session Expiry Interval here (0xFFFFFFFF is never); the cap: its own server below.
  server = await startMqttServer({ maxSessionExpiry: 0xffffffff });
});
afterAll(async () => {
  await server.close();
});

/** Connects with collection on; resolves with the client, its CONNACK and what it receives. */
async function session(
  clientId: string,
  clean: boolean,
  sessionExpiryInterval?: number,
  on: WsTestServer = server,
  extra: IClientOptions = {},
): Promise<[MqttClient, IConnackPacket, Received[]]> {
  const opts: IClientOptions = {
    username: 'guest',
    password: 'guest',
    protocolVersion: 5,
    reconnectPeriod: 0,
    clientId,
    clean,
    ...extra,
    properties: {
      ...extra.properties,
      ...(sessionExpiryInterval === undefined ? {} : { sessionExpiryInterval }),
    },
  };
  const c = mqtt.connect(on.url, opts);
  const got = collect(c);
  const ack = await new Promise<IConnackPacket>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  return [c, ack, got];
}

const queuesOf = (clientId: string): string[] =>
  [...server.broker.vhost('/').queues.keys()].filter((q) => q.startsWith(`mqtt-subscription-${clientId}-`));
const stateOf = (clientId: string) => server.broker.vhost('/').clientSessions.get(clientId);

async function publish(topic: string, payload: string): Promise<void> {
  const p = await mqtt.connectAsync(server.url, { username: 'guest', password: 'guest', reconnectPeriod: 0 });
  await p.publishAsync(topic, payload, { qos: 1 });
  await p.endAsync();
}

describe('MQTT 5 sessions', () => {
  it('Session Expiry Interval 0 (the default): the session ends with the connection', async () => {
    const [c, ack] = await session('exp-0', false);
    expect(ack.sessionPresent).toBe(false);
    await c.subscribeAsync('exp0/t', { qos: 1 });
    // A session that ends with its connection subscribes without a queue (a direct subscription).
    const conn = [...server.adapter.connections()].find((s) => s.clientId === 'exp-0');
    expect(conn?.subscriptions).toMatchObject([{ filter: 'exp0/t', qos: 1, kind: 'direct' }]);
    expect(queuesOf('exp-0')).toHaveLength(0);
    await c.endAsync();
    expect(stateOf('exp-0')).toBeUndefined();
    const [again, ack2] = await session('exp-0', false);
    expect(ack2.sessionPresent).toBe(false);
    await again.endAsync();
  });

  it('N seconds: the session and its queue outlive the disconnect by N s, then are removed', async () => {
    const [c] = await session('exp-1', true, 1);
    await c.subscribeAsync('exp1/t', { qos: 1 });
    await c.endAsync();
    expect(stateOf('exp-1')?.expiresAt).toBeGreaterThan(Date.now());
    await publish('exp1/t', 'while away');
    const [back, ack, got] = await session('exp-1', false, 1);
    expect(ack.sessionPresent).toBe(true);
    await until(() => got.length === 1, 'the backlog');
    expect(got[0]).toMatchObject({ topic: 'exp1/t', payload: 'while away', qos: 1 });
    // Connected: no expiry runs.
    expect(stateOf('exp-1')?.expiresAt).toBeUndefined();
    await back.endAsync();
    const ended = Date.now();
    await until(() => stateOf('exp-1') === undefined && queuesOf('exp-1').length === 0, 'expiry', 4000);
    expect(Date.now() - ended).toBeGreaterThanOrEqual(900);
    const [fresh, ack2] = await session('exp-1', false, 1);
    expect(ack2.sessionPresent).toBe(false);
    await fresh.endAsync();
  });

  it('0xFFFFFFFF: the session never expires', async () => {
    const [c] = await session('exp-never', true, 0xffffffff);
    await c.subscribeAsync('never/t', { qos: 1 });
    await c.endAsync();
    const state = stateOf('exp-never');
    expect(state?.expiresAt).toBeUndefined();
    expect(state?.expiryMs).toBeUndefined();
    const [back, ack] = await session('exp-never', false, 0xffffffff);
    expect(ack.sessionPresent).toBe(true);
    await back.endAsync();
  });

  it('Clean Start 1 discards a stored session and its backlog', async () => {
    const [c] = await session('exp-clean', true, 60);
    await c.subscribeAsync('clean/t', { qos: 1 });
    await c.endAsync();
    await publish('clean/t', 'stale');
    const [back, ack, got] = await session('exp-clean', true, 60);
    expect(ack.sessionPresent).toBe(false);
    await back.subscribeAsync('clean/t', { qos: 1 });
    await publish('clean/t', 'fresh');
    await until(() => got.length === 1, 'the fresh message');
    expect(got.map((m) => m.payload)).toEqual(['fresh']);
    await back.endAsync();
  });

  it('Clean Start 0 with expiry 0 resumes a stored session, which then ends with the connection', async () => {
    const [c] = await session('exp-resume', true, 60);
    await c.subscribeAsync('resume/t', { qos: 1 });
    await c.endAsync();
    await publish('resume/t', 'kept');
    const [back, ack, got] = await session('exp-resume', false, 0);
    expect(ack.sessionPresent).toBe(true);
    await until(() => got.length === 1, 'the backlog');
    await back.endAsync();
    await until(() => stateOf('exp-resume') === undefined && queuesOf('exp-resume').length === 0, 'ended');
  });

  it("a Message Expiry Interval past setTimeout's longest (25 days or more) arms no 1 ms timer", async () => {
    const overflows: string[] = [];
    const onWarning = (w: Error): void =>
      void (w.name === 'TimeoutOverflowWarning' && overflows.push(w.message));
    process.on('warning', onWarning);
    const month = 30 * 24 * 3600;
    const [c] = await session('exp-ttl', true, 60);
    await c.subscribeAsync('ttl/t', { qos: 1 });
    await c.endAsync();
    const p = await mqtt.connectAsync(server.url, {
      username: 'guest',
      password: 'guest',
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    await p.publishAsync('ttl/t', 'a month', { qos: 1, properties: { messageExpiryInterval: month } });
    await p.endAsync();
    const [back, , got] = await session('exp-ttl', false, 0);
    await until(() => got.length === 1, 'the backlog');
    await back.endAsync();
    process.off('warning', onWarning);
    expect(got.map((m) => m.payload)).toEqual(['a month']);
    expect(overflows).toEqual([]);
  });

  it('a DISCONNECT may shorten the expiry, but not set one after 0 in CONNECT (0x82)', async () => {
    const [c] = await session('exp-short', true, 3600);
    await c.subscribeAsync('short/t', { qos: 1 });
    await c.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
    await until(() => stateOf('exp-short') === undefined && queuesOf('exp-short').length === 0, 'ended');

    const raw = await connectedRaw5(server.port);
    raw.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 10 } });
    expect(await disconnectedWith(raw)).toBe(0x82);
  });
});

describe('MQTT 5 Will Delay Interval', () => {
  /** A client with a delayed will; its socket is then cut (an abnormal end). */
  async function dropped(clientId: string, delay: number, sessionExpiryInterval: number): Promise<number> {
    const c = await mqtt.connectAsync(server.url, {
      username: 'guest',
      password: 'guest',
      protocolVersion: 5,
      reconnectPeriod: 0,
      clientId,
      properties: { sessionExpiryInterval },
      will: {
        topic: `wd/${clientId}`,
        payload: Buffer.from(clientId),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: delay },
      },
    });
    c.stream.destroy();
    await until(() => ![...server.adapter.connections()].some((x) => x.clientId === clientId), 'gone');
    return Date.now();
  }

  /** A subscriber to `filter` that keeps what it gets, as wills arrive. */
  async function watch(filter: string) {
    const watcher = await mqtt.connectAsync(server.url, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    const got = collect(watcher);
    await watcher.subscribeAsync(filter, { qos: 1 });
    return { watcher, got };
  }

  it('publishes the will once the delay has passed, or at once when the session ends first', async () => {
    const { watcher, got } = await watch('wd/+');
    const gone = await dropped('wd-delayed', 1, 60);
    await until(() => got.length === 1, 'the delayed will', 4000);
    expect(Date.now() - gone).toBeGreaterThanOrEqual(900);
    // Session Expiry 0: the session ends with the connection, and the will goes with it.
    const ended = await dropped('wd-ended', 30, 0);
    await until(() => got.length === 2, 'the will of the ended session');
    expect(Date.now() - ended).toBeLessThan(1000);
    expect(got.map((m) => m.topic)).toEqual(['wd/wd-delayed', 'wd/wd-ended']);
    await watcher.endAsync();
  });

  it("keeps a will whose delay is past setTimeout's longest (25 days or more) waiting", async () => {
    const { watcher, got } = await watch('wd/#');
    await dropped('wd-month', 30 * 24 * 3600, 0xffffffff);
    await watcher.publishAsync('wd/marker', 'marker', { qos: 1 });
    await until(() => got.length === 1, 'the marker');
    expect(got.map((m) => m.topic)).toEqual(['wd/marker']);
    await watcher.endAsync();
  });

  it('sends no will when the client is back in its session within the delay', async () => {
    const { watcher, got } = await watch('wd/#');
    const gone = await dropped('wd-back', 1, 60);
    const [back] = await session('wd-back', false, 60);
    // Past the delay: a marker arrives, the will did not.
    await until(() => Date.now() - gone > 1300, 'the delay passed');
    await watcher.publishAsync('wd/marker', 'marker', { qos: 1 });
    await until(() => got.length === 1, 'the marker');
    expect(got.map((m) => m.topic)).toEqual(['wd/marker']);
    await Promise.all([back.endAsync(), watcher.endAsync()]);
  });
});

describe('Session Expiry Interval cap (maxSessionExpiry)', () => {
  let capped: WsTestServer;
  beforeAll(async () => {
    capped = await startMqttServer({ maxSessionExpiry: 1 });
    return () => capped.close();
  });
  const cappedState = (clientId: string) => capped.broker.vhost('/').clientSessions.get(clientId);

  it('lowers a longer interval, 0xFFFFFFFF included, and says so in CONNACK; the session ends then', async () => {
    for (const [clientId, asked] of [
      ['cap-never', 0xffffffff],
      ['cap-300', 300],
    ] as const) {
      const [c, ack] = await session(clientId, true, asked, capped);
      expect(ack.properties?.sessionExpiryInterval).toBe(1);
      await c.subscribeAsync(`cap/${asked}`, { qos: 1 });
      await c.endAsync();
      expect(cappedState(clientId)?.expiresAt).toBeLessThanOrEqual(Date.now() + 1000);
      await until(() => cappedState(clientId) === undefined, `${clientId} expired`, 5000);
    }
  });

  it('keeps an interval within the cap and leaves it out of CONNACK', async () => {
    for (const asked of [undefined, 0, 1]) {
      const [c, ack] = await session(`cap-within-${asked}`, true, asked, capped);
      expect(ack.properties?.sessionExpiryInterval).toBeUndefined();
      await c.endAsync();
    }
  });

  it('caps a DISCONNECT that sets a longer interval', async () => {
    const [c] = await session('cap-disconnect', true, 1, capped);
    await c.subscribeAsync('cap/disconnect', { qos: 1 });
    await c.endAsync(false, { properties: { sessionExpiryInterval: 0xffffffff } });
    expect(cappedState('cap-disconnect')?.expiresAt).toBeLessThanOrEqual(Date.now() + 1000);
    await until(() => cappedState('cap-disconnect') === undefined, 'the session expired', 5000);
  });

  it('ends an MQTT 3.1.1 persistent session that long after its connection', async () => {
    const c = await mqtt.connectAsync(capped.url, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
      clientId: 'cap-311',
      clean: false,
    });
    await c.subscribeAsync('cap/311', { qos: 1 });
    await c.endAsync();
    expect(cappedState('cap-311')).toBeDefined();
    await until(() => cappedState('cap-311') === undefined, 'the 3.1.1 session expired', 5000);
  });

  it('caps at 7 days by default', async () => {
    const plain = await startMqttServer();
    try {
      const [c, ack] = await session('cap-default', true, 0xffffffff, plain);
      expect(ack.properties?.sessionExpiryInterval).toBe(604_800);
      await c.endAsync();
    } finally {
      await plain.close();
    }
  });
});

describe('Request Response Information', () => {
  it('asked for: CONNACK has Response Information reply/<client id>/; not asked: none', async () => {
    const [asks, ack] = await session('rri-1', true, undefined, server, {
      properties: { requestResponseInformation: true },
    });
    expect(ack.properties?.responseInformation).toBe('reply/rri-1/');
    await asks.endAsync();
    for (const requestResponseInformation of [false, undefined]) {
      const [c, ack2] = await session('rri-0', true, undefined, server, {
        properties: requestResponseInformation === undefined ? {} : { requestResponseInformation },
      });
      expect(ack2.properties?.responseInformation).toBeUndefined();
      await c.endAsync();
    }
  });

  it('a reply to the Response Information prefix reaches the requester', async () => {
    const [requester, ack, got] = await session('rri-req', true, undefined, server, {
      properties: { requestResponseInformation: true },
    });
    const replyTopic = `${ack.properties!.responseInformation!}answers`;
    await requester.subscribeAsync(replyTopic, { qos: 1 });
    const responder = await mqtt.connectAsync(server.url, {
      username: 'guest',
      password: 'guest',
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    responder.on('message', (_t, payload, packet) => {
      const to = packet.properties?.responseTopic;
      if (to) void responder.publishAsync(to, `re: ${payload.toString()}`, { qos: 1 });
    });
    await responder.subscribeAsync('rri/service', { qos: 1 });
    await requester.publishAsync('rri/service', 'ping', {
      qos: 1,
      properties: { responseTopic: replyTopic },
    });
    await until(() => got.length >= 1, 'the reply');
    expect(got.map((m) => [m.topic, m.payload])).toEqual([['reply/rri-req/answers', 're: ping']]);
    await Promise.all([requester.endAsync(), responder.endAsync()]);
  });
});
