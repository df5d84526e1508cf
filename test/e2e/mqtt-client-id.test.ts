/**
 * Issue 14: an MQTT client id longer than the core's name limit, with a persistent session
 * (clean=false), used to reach the store's session save: LMDB refused the key, and the
 * broker's close then hung. The client id is now refused at CONNECT (3.1.1 CONNACK 0x02,
 * identifier rejected), a session save that fails fails only its own connection, and the
 * broker closes. On the embedded store and on memory, with mqtt.js over a real socket; a
 * second client's round trip is measured while the attack runs, and a confirmed persistent
 * message survives a restart.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { NAME_MAX_BYTES, type MqttSessionState, type Store } from '@junction/core';
import { startBroker, type BrokerHandle } from '@junction/server';
import { LmdbStore } from '@junction/storage-lmdb';
import { closeAll, tempDirs } from '@junction/testkit';

const ROUND_TRIP_BOUND_MS = 2000;
const dirs = tempDirs();

let b: BrokerHandle | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  await closeAll(clients.splice(0).map((c) => () => c.endAsync(true)));
  await b?.close();
  b = undefined;
});

const connectOpts = { username: 'guest', password: 'guest', reconnectPeriod: 0, connectTimeout: 5000 };

async function mqttClient(handle: BrokerHandle, opts: mqtt.IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync(handle.mqttUrl!, { ...connectOpts, ...opts });
  clients.push(c);
  return c;
}

/** A CONNECT's answer: the CONNACK return code mqtt.js reports, or 0 when accepted. */
function connackCode(handle: BrokerHandle, opts: mqtt.IClientOptions): Promise<number> {
  return new Promise((resolve) => {
    const c = mqtt.connect(handle.mqttUrl!, { ...connectOpts, ...opts });
    clients.push(c);
    c.once('connect', () => resolve(0));
    c.once('error', (err) => resolve((err as { code?: number }).code ?? -1));
  });
}

/** Ends every client and closes the broker, failing the test when the close takes longer than `ms`. */
async function closeAllWithin(ms: number): Promise<void> {
  for (const c of clients.splice(0)) await c.endAsync(true);
  const closing = b!.close();
  b = undefined;
  await expect(
    Promise.race([
      closing,
      new Promise((_, reject) => setTimeout(() => reject(new Error('close hung')), ms)),
    ]),
  ).resolves.toBeUndefined();
}

async function roundTripMs(handle: BrokerHandle, topic: string): Promise<number> {
  const c = await mqttClient(handle, { clientId: `bystander-${topic.replaceAll('/', '-')}` });
  await c.subscribeAsync(topic, { qos: 1 });
  const t0 = performance.now();
  const got = new Promise<void>((resolve) => c.once('message', () => resolve()));
  await c.publishAsync(topic, 'ping', { qos: 1 });
  await got;
  return performance.now() - t0;
}

const stores: [string, () => Store | string][] = [
  ['memory', () => 'memory'],
  [
    'the embedded store (LMDB)',
    () => {
      const dir = dirs.make('junction-clientid-');
      return new LmdbStore({ dir });
    },
  ],
];

describe.each(stores)('an over-long persistent MQTT client id, on %s', (_name, makeStore) => {
  it('is refused at CONNECT with 0x02, other clients are served, and the broker closes and restarts', async () => {
    const store = makeStore();
    const start = (s: Store | string) => startBroker({ ports: { mqtt: 0 }, storage: s });
    b = await start(store);
    // Someone else's confirmed persistent session and message.
    const owner = await mqttClient(b, { clientId: 'owner', clean: false });
    await owner.subscribeAsync('orders', { qos: 1 });
    await owner.endAsync();
    const publisher = await mqttClient(b, { clientId: 'publisher' });
    await publisher.publishAsync('orders', 'o1', { qos: 1 });

    const long = 'c'.repeat(NAME_MAX_BYTES + 1);
    expect(await connackCode(b, { clientId: long, clean: false })).toBe(2);
    expect(await connackCode(b, { clientId: 'é'.repeat(200), clean: false })).toBe(2); // 400 bytes
    expect(await roundTripMs(b, 'bystander/1')).toBeLessThan(ROUND_TRIP_BOUND_MS);
    // A clean session keeps nothing in the store; the same limit applies (one rule for ids).
    expect(await connackCode(b, { clientId: long, clean: true })).toBe(2);
    // At the limit it is accepted.
    const atLimit = await mqttClient(b, { clientId: 'c'.repeat(NAME_MAX_BYTES), clean: false });
    await atLimit.subscribeAsync('x/y', { qos: 1 });
    await atLimit.endAsync();

    // The broker's close finishes (it used to hang after the failed session save).
    await closeAllWithin(10_000);
    if (typeof store === 'string') return; // memory keeps nothing across a restart
    b = await start(new LmdbStore({ dir: dirs.latest() }));
    const got: string[] = [];
    const resumed = mqtt.connect(b.mqttUrl!, { ...connectOpts, clientId: 'owner', clean: false });
    clients.push(resumed);
    resumed.on('message', (_t, payload) => got.push(payload.toString()));
    const deadline = Date.now() + 10_000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(['o1']);
  });
});

/**
 * An embedded store whose session save for one client id fails the way an over-long key
 * did (LMDB refuses the key): the write reaches LMDB with a key it cannot hold.
 */
class RefusingSessionStore extends LmdbStore {
  override putMqttSession(vhost: string, clientId: string, state: MqttSessionState | null): Promise<void> {
    return super.putMqttSession(vhost, clientId === 'doomed' ? 'd'.repeat(3000) : clientId, state);
  }
}

describe('a session save that fails in the store', () => {
  it('fails only that connection; others are served, the session is not kept, and the broker closes', async () => {
    const dir = dirs.make('junction-clientid-');
    b = await startBroker({ ports: { mqtt: 0 }, storage: new RefusingSessionStore({ dir }) });
    const bystander = await mqttClient(b, { clientId: 'bystander', clean: false });
    await bystander.subscribeAsync('b/#', { qos: 1 });

    const doomed = await mqttClient(b, { clientId: 'doomed', clean: false });
    doomed.on('error', () => undefined);
    const closed = new Promise<void>((r) => doomed.once('close', () => r()));
    doomed.subscribe('d/#', { qos: 1 });
    await closed;
    expect(b.broker.vhost('/').clientSessions.get('doomed')).toBeUndefined();
    expect(await roundTripMs(b, 'bystander/2')).toBeLessThan(ROUND_TRIP_BOUND_MS);
    expect(b.broker.storeFailure).toBeUndefined();

    await closeAllWithin(10_000);
    b = await startBroker({ ports: { mqtt: 0 }, storage: new LmdbStore({ dir }) });
    // The session kept its subscription (and, since MQTT 5's session expiry, names its queues).
    expect(b.broker.vhost('/').clientSessions.get('bystander')).toMatchObject({
      subscriptions: { 'b/#': 1 },
    });
    expect(b.broker.vhost('/').clientSessions.get('doomed')).toBeUndefined();
  });
});

describe.each(stores)('a persistent session keyed by dangerous filters, on %s', (_name, makeStore) => {
  it('keeps __proto__, constructor, toString and hasOwnProperty as subscriptions, across a restart', async () => {
    const store = makeStore();
    b = await startBroker({ ports: { mqtt: 0 }, storage: store });
    const filters = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    const device = await mqttClient(b, { clientId: 'device', clean: false });
    for (const f of filters) await device.subscribeAsync(f, { qos: 1 });
    await device.endAsync();
    const publisher = await mqttClient(b, { clientId: 'publisher' });
    for (const f of filters) await publisher.publishAsync(f, `to ${f}`, { qos: 1 });
    if (typeof store !== 'string') {
      await closeAll(clients.splice(0).map((c) => () => c.endAsync(true)));
      await b.close();
      b = await startBroker({ ports: { mqtt: 0 }, storage: new LmdbStore({ dir: dirs.latest() }) });
    }
    const got: string[] = [];
    const resumed = mqtt.connect(b.mqttUrl!, { ...connectOpts, clientId: 'device', clean: false });
    clients.push(resumed);
    resumed.on('message', (_t, payload) => got.push(payload.toString()));
    const deadline = Date.now() + 10_000;
    while (got.length < filters.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(got.sort()).toEqual(filters.map((f) => `to ${f}`).sort());
    expect(Object.keys(b.broker.vhost('/').clientSessions.get('device')!.subscriptions).sort()).toEqual(
      [...filters].sort(),
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
