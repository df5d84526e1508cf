/**
 * Issue 14, "one user cannot hurt the others": each test is an attacker with only the
 * permissions it names, over real sockets, against a broker on the embedded store. Each
 * checks that the attacker gets its error (where there is one), that another client's round
 * trip stays bounded while the attack runs, and that nothing confirmed is lost.
 */
import amqp from 'amqplib';
import mqtt from 'mqtt';
import type Client from 'stompit/lib/Client.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '@junction/server';
import { closeAll, rawClient, stompitClient, tempDirs, until, withOwnKey as own } from '@junction/testkit';
import { LmdbStore } from '@junction/storage-lmdb';

/** Generous: the machine is shared and loaded; a frozen broker takes seconds. */
const ROUND_TRIP_BOUND_MS = 1000;

const dirs = tempDirs();

let b: BrokerHandle;
let dir: string;
const closers: (() => Promise<unknown> | void)[] = [];

async function start(): Promise<BrokerHandle> {
  return startBroker({ ports: { amqp: 0, mqtt: 0, stomp: 0, http: 0 }, storage: new LmdbStore({ dir }) });
}

beforeEach(async () => {
  dir = dirs.make('junction-tenant-');
  b = await start();
  // The attacker: its own names only, plus publish/bind on amq.topic.
  await b.broker.putUser('tenant', { password: 'pw', tags: [] });
  await b.broker.setPermission('/', 'tenant', {
    configure: '^tenant-.*',
    write: '^(tenant-.*|amq\\.topic|amq\\.default)$',
    read: '^(tenant-.*|amq\\.topic)$',
  });
});
/** Closes the test's clients, then the broker. */
async function stopAll(): Promise<void> {
  await closeAll(closers.splice(0).reverse());
  await b.close();
}
/** A clean stop and a start again on the same data directory. */
async function restart(): Promise<void> {
  await stopAll();
  b = await start();
}
afterEach(stopAll);

const amqpUrl = (user: string, pass: string) => b.amqpUrl!.replace('guest:guest', `${user}:${pass}`);

async function amqpAs(user: string, pass: string): Promise<amqp.ChannelModel> {
  const c = await amqp.connect(amqpUrl(user, pass));
  c.on('error', () => {});
  closers.push(() => c.close());
  return c;
}

/**
 * Another client (guest, its own queue): publishes and consumes one message at a time and
 * records each round trip, until `done` settles; then one more.
 */
async function victim(): Promise<{ stop(): Promise<number[]>; ready: Promise<void> }> {
  const conn = await amqpAs('guest', 'guest');
  const ch = await conn.createConfirmChannel();
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  const waiting: (() => void)[] = [];
  await ch.consume(q, () => waiting.shift()?.(), { noAck: true });
  const times: number[] = [];
  let running = true;
  let first!: () => void;
  const ready = new Promise<void>((r) => (first = r));
  const loop = (async () => {
    while (running || times.length < 2) {
      const t0 = Date.now();
      await new Promise<void>((r) => {
        waiting.push(r);
        ch.sendToQueue(q, Buffer.from('ping'));
      });
      times.push(Date.now() - t0);
      first();
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    ready,
    async stop() {
      running = false;
      await loop;
      return times;
    },
  };
}

/** Runs the attack while a victim measures its round trips; returns the worst round trip. */
async function worstRoundTripDuring(attack: () => Promise<void>): Promise<number> {
  const v = await victim();
  await v.ready;
  await attack();
  const times = await v.stop();
  return Math.max(...times);
}

async function stompAs(login: string, passcode: string): Promise<Client> {
  const c = await stompitClient(b.ports.stomp!, { login, passcode });
  closers.push(() => c.destroy(new Error('test over')));
  return c;
}

describe('bounded work per request', () => {
  it("a topic binding with many '#' words does not freeze routing for everyone", async () => {
    const conn = await amqpAs('tenant', 'pw');
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('tenant-wild', { durable: true });
    const hashes = Array.from({ length: 16 }, () => '#').join('.');
    await ch.bindQueue('tenant-wild', 'amq.topic', `${hashes}.end`);
    const key = Array.from({ length: 30 }, (_, i) => `w${i}`).join('.');
    const worst = await worstRoundTripDuring(async () => {
      for (let i = 0; i < 5; i++)
        ch.publish('amq.topic', `${key}.end`, Buffer.from(`m${i}`), { persistent: true });
      ch.publish('amq.topic', key, Buffer.from('no match'), { persistent: true });
      await ch.waitForConfirms();
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    expect((await ch.checkQueue('tenant-wild')).messageCount).toBe(5);
    // The durable binding comes back after a restart and routes in bounded time again.
    await restart();
    const again = await (await amqpAs('tenant', 'pw')).createConfirmChannel();
    const worstAfter = await worstRoundTripDuring(async () => {
      again.publish('amq.topic', `${key}.end`, Buffer.from('after'), { persistent: true });
      await again.waitForConfirms();
    });
    expect(worstAfter).toBeLessThan(ROUND_TRIP_BOUND_MS);
    expect((await again.checkQueue('tenant-wild')).messageCount).toBe(6);
  });

  it('many never-matching STOMP selector subscribers on a deep queue do not freeze the broker', async () => {
    const conn = await amqpAs('tenant', 'pw');
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('tenant-deep', { durable: true });
    for (let i = 0; i < 10_000; i++)
      ch.sendToQueue('tenant-deep', Buffer.from(`m${i}`), { persistent: true, headers: { n: i } });
    await ch.waitForConfirms();
    const stomp = await stompAs('tenant', 'pw');
    const consumers = () => b.broker.vhost('/').queues.get('tenant-deep')!.consumerCount;
    const worst = await worstRoundTripDuring(async () => {
      for (let i = 0; i < 100; i++)
        stomp.subscribe(
          { destination: '/queue/tenant-deep', ack: 'client', selector: 'n = -1', id: `s${i}` },
          () => {},
        );
      await until(() => consumers() === 100, '100 consumers', 20_000);
      // Let the scans run to their end while the victim keeps measuring.
      await new Promise((r) => setTimeout(r, 1500));
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    expect((await ch.checkQueue('tenant-deep')).messageCount).toBe(10_000);
    // Every confirmed message is still there after a restart.
    await restart();
    const after = await (await amqpAs('tenant', 'pw')).createChannel();
    expect((await after.checkQueue('tenant-deep')).messageCount).toBe(10_000);
  });

  it('a device subscribing 2,000 wildcard filters over 5,000 retained messages does not freeze the broker', async () => {
    await b.broker.putUser('device', { password: 'pw', tags: [] });
    await b.broker.setPermission('/', 'device', { configure: '.*', write: '.*', read: '.*' });
    const opts = { reconnectPeriod: 0, username: 'guest', password: 'guest' };
    const pub = await mqtt.connectAsync(b.mqttUrl!, opts);
    closers.push(() => pub.endAsync());
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 5000; i++)
      sends.push(pub.publishAsync(`t/${i}/v`, `r${i}`, { qos: 1, retain: true }));
    await Promise.all(sends);
    const device = await mqtt.connectAsync(b.mqttUrl!, { ...opts, username: 'device', password: 'pw' });
    closers.push(() => device.endAsync());
    let got = 0;
    device.on('message', () => got++);
    const worst = await worstRoundTripDuring(async () => {
      for (let j = 0; j < 20; j++) {
        const filters = Array.from({ length: 100 }, (_, k) => `t/${j * 100 + k}/+`);
        await device.subscribeAsync(filters, { qos: 0 });
      }
      await until(() => got === 2000, '2000 deliveries', 20_000);
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    // The confirmed retained messages survive a restart, and a wildcard finds them all again.
    await restart();
    const again = await mqtt.connectAsync(b.mqttUrl!, { ...opts, username: 'device', password: 'pw' });
    closers.push(() => again.endAsync());
    let retained = 0;
    again.on('message', (_t, _p, packet) => packet.retain && retained++);
    await again.subscribeAsync('t/+/v', { qos: 0 });
    await until(() => retained === 5000, 'the 5,000 retained messages after the restart', 20_000);
  });
});

describe('permissions as RabbitMQ checks them', () => {
  it('basic.ack multiple=true with a tag above the last delivered one closes the channel with 406', async () => {
    const conn = await amqpAs('tenant', 'pw');
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('tenant-acks', { durable: true });
    for (let i = 0; i < 3; i++) ch.sendToQueue('tenant-acks', Buffer.from(`m${i}`), { persistent: true });
    await ch.waitForConfirms();
    const sub = await conn.createChannel();
    const closed = new Promise<Error>((r) => sub.once('error', r));
    let got = 0;
    await sub.consume('tenant-acks', () => got++);
    await until(() => got === 3, 'three deliveries', 20_000);
    const worst = await worstRoundTripDuring(async () => {
      sub.ack({ fields: { deliveryTag: 1000 } } as amqp.Message, true);
      expect((await closed).message).toMatch(/406.*unknown delivery tag 1000/);
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    // Nothing was acked: the three messages went back to the queue, and are there after a restart.
    await until(
      () => b.broker.vhost('/').queues.get('tenant-acks')!.messageCount === 3,
      'three messages back in tenant-acks',
      20_000,
    );
    expect((await ch.checkQueue('tenant-acks')).messageCount).toBe(3);
    await restart();
    const after = await (await amqpAs('tenant', 'pw')).createChannel();
    expect((await after.checkQueue('tenant-acks')).messageCount).toBe(3);
  });

  it('a server-named queue needs configure permission on its amq.gen-* name (403)', async () => {
    const conn = await amqpAs('tenant', 'pw');
    const ch = await conn.createChannel();
    const closed = new Promise<Error>((r) => ch.once('error', r));
    const worst = await worstRoundTripDuring(async () => {
      await expect(ch.assertQueue('', { durable: true })).rejects.toThrow(/403/);
      expect((await closed).message).toMatch(/ACCESS_REFUSED.*amq\.gen-/);
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    // Only the victim's exclusive queue is server-named; the tenant's durable one never existed.
    const serverNamed = (): string[] =>
      [...b.broker.vhost('/').queues.values()]
        .filter((q) => q.name.startsWith('amq.gen-') && q.stored)
        .map((q) => q.name);
    expect(serverNamed()).toEqual([]);
    // Nothing reached the store either: no amq.gen-* queue after a restart.
    await restart();
    expect(serverNamed()).toEqual([]);
    // With configure on amq.gen-*, the same declare works.
    await b.broker.setPermission('/', 'tenant', {
      configure: '^(tenant-.*|amq\\.gen-.*)',
      write: '^(tenant-.*|amq\\.default)$',
      read: '^(tenant-.*)$',
    });
    const ok = await (await amqpAs('tenant', 'pw')).createChannel();
    expect((await ok.assertQueue('', { durable: true })).queue).toMatch(/^amq\.gen-/);
  });

  it('x-dead-letter-exchange needs write permission on the exchange, checked at declare (403)', async () => {
    const admin = await (await amqpAs('guest', 'guest')).createChannel();
    await admin.assertExchange('billing', 'fanout', { durable: true });
    await admin.assertQueue('billing-ledger', { durable: true });
    await admin.bindQueue('billing-ledger', 'billing', '');
    const conn = await amqpAs('tenant', 'pw');
    const ch = await conn.createChannel();
    const closed = new Promise<Error>((r) => ch.once('error', r));
    const worst = await worstRoundTripDuring(async () => {
      await expect(
        ch.assertQueue('tenant-dl', {
          durable: true,
          arguments: { 'x-dead-letter-exchange': 'billing', 'x-message-ttl': 0 },
        }),
      ).rejects.toThrow(/403/);
      expect((await closed).message).toMatch(/ACCESS_REFUSED.*exchange 'billing'/);
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    expect(b.broker.vhost('/').queues.has('tenant-dl')).toBe(false);
    expect((await admin.checkQueue('billing-ledger')).messageCount).toBe(0);
    await restart();
    expect(b.broker.vhost('/').queues.has('tenant-dl')).toBe(false);
  });
  it('a read-only MQTT user cannot clear a retained message, and it survives a restart', async () => {
    // Enough to subscribe (its own subscription queues) and read amq.topic; no write on the exchange.
    await b.broker.putUser('reader', { password: 'r', tags: [] });
    await b.broker.setPermission('/', 'reader', {
      configure: '^mqtt-subscription-',
      write: '^mqtt-subscription-',
      read: '.*',
    });
    const opts = { reconnectPeriod: 0, username: 'guest', password: 'guest' };
    const owner = await mqtt.connectAsync(b.mqttUrl!, opts);
    closers.push(() => owner.endAsync(true));
    await owner.publishAsync('plant/valve', 'open', { qos: 1, retain: true });
    const reader = await mqtt.connectAsync(b.mqttUrl!, { ...opts, username: 'reader', password: 'r' });
    closers.push(() => reader.endAsync(true));
    reader.on('error', () => {});
    const worst = await worstRoundTripDuring(async () => {
      const closed = new Promise<void>((r) => reader.once('close', () => r()));
      reader.publish('plant/valve', '', { qos: 1, retain: true });
      await closed;
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    await restart();
    const check = await mqtt.connectAsync(b.mqttUrl!, opts);
    closers.push(() => check.endAsync(true));
    const got = new Promise<string>((r) => check.once('message', (_t, p) => r(p.toString())));
    await check.subscribeAsync('plant/valve', { qos: 1 });
    expect(await got).toBe('open');
  });
});

describe('names the store keys on', () => {
  it('an over-long name is refused before anything is created, over every protocol, and nothing confirmed is lost across a restart', async () => {
    // Someone else's confirmed persistent messages, in the same store.
    const guest = await (await amqpAs('guest', 'guest')).createConfirmChannel();
    await guest.assertQueue('orders', { durable: true });
    const long = 'n'.repeat(2000);
    // (AMQP's own shortstr keeps its names to 255 bytes: amqplib refuses longer ones itself.)
    for (let i = 0; i < 2000; i++) guest.sendToQueue('orders', Buffer.from(`o${i}`), { persistent: true });
    await b.broker.putUser('device', { password: 'pw', tags: [] });
    await b.broker.setPermission('/', 'device', { configure: '.*', write: '.*', read: '.*' });
    // The tenant may use the management API too (its own names only).
    await b.broker.putUser('tenant', { password: 'pw', tags: ['management'] });
    const worst = await worstRoundTripDuring(async () => {
      // STOMP: a durable subscription id becomes part of a queue name: an ERROR frame.
      const stomp = await stompAs('tenant', 'pw');
      const stompError = new Promise<Error>((r) => stomp.once('error', r));
      stomp.subscribe(
        { destination: '/topic/news', durable: 'true', 'auto-delete': 'false', id: long },
        () => {},
      );
      expect((await stompError).message).toMatch(/long|limit|406|PRECONDITION/i);
      // MQTT: a retained message on an over-long topic, and an over-long persistent client id.
      const device = await mqtt.connectAsync(b.mqttUrl!, {
        reconnectPeriod: 0,
        username: 'device',
        password: 'pw',
      });
      closers.push(() => device.endAsync(true));
      device.on('error', () => {});
      const gone = new Promise<void>((r) => device.once('close', () => r()));
      device.publish(`t/${long}`, 'x', { qos: 1, retain: true });
      await gone;
      // HTTP: a queue and an exchange with over-long names are a 400 before anything exists.
      for (const kind of ['queues', 'exchanges']) {
        const r = await http('PUT', `/api/${kind}/%2F/tenant-${long}`, ['tenant', 'pw'], '{"durable":true}');
        expect(r.status, kind).toBe(400);
      }
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    await guest.waitForConfirms();
    const v = b.broker.vhost('/');
    expect([...v.queues.keys()].filter((n) => n.length > 255)).toEqual([]);
    expect([...v.exchanges.keys()].filter((n) => n.length > 255)).toEqual([]);
    expect(v.retained.matching('#').filter((r) => r.routingKey.length > 255)).toEqual([]);
    expect(b.broker.storeFailure).toBeUndefined();
    // The broker starts again on its data directory with every confirmed message.
    await restart();
    const after = await (await amqpAs('guest', 'guest')).createChannel();
    expect((await after.checkQueue('orders')).messageCount).toBe(2000);
    expect(b.broker.storeFailure).toBeUndefined();
  });
});

const DANGEROUS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];

/** The management API as `user`: the status and the body's text. */
async function http(
  method: string,
  path: string,
  auth: [string, string],
  raw?: string,
): Promise<{ status: number; text: string }> {
  const r = await fetch(`${b.httpUrl!}${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(auth.join(':')).toString('base64')}`,
      ...(raw !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(raw !== undefined ? { body: raw } : {}),
  });
  return { status: r.status, text: await r.text() };
}

/** A STOMP SEND with a receipt: resolves once the broker confirmed it. */
function stompSend(c: Client, headers: Record<string, string>, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const f = c.send({ ...headers, receipt: `r-${Math.random()}` }, { onReceipt: resolve, onError: reject });
    f.end(body);
  });
}

/** Subscribes (auto ack) and resolves once a message arrived. */
function stompReceive(c: Client, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const sub = c.subscribe({ ack: 'auto', ...headers }, (err, m) => {
      if (err) return reject(err);
      m.readString('utf8', () => {
        sub.unsubscribe();
        resolve();
      });
    });
  });
}

/** Another user on every protocol: AMQP, STOMP and MQTT round trips, and HTTP declares and listings. */
async function everyProtocolServes(tagName: string): Promise<void> {
  const ch = await (await amqpAs('guest', 'guest')).createChannel();
  const q = (await ch.assertQueue(`after-${tagName}`, { arguments: { 'x-max-length': 10 } })).queue;
  await ch.bindQueue(q, 'amq.topic', `after.${tagName}`, { 'x-match': 'all' });
  ch.publish('amq.topic', `after.${tagName}`, Buffer.from('ping'), { headers: { h: 1 } });
  await until(() => b.broker.vhost('/').queues.get(q)!.messageCount === 1, 'the ping in the queue', 5000);
  const stomp = await stompAs('guest', 'guest');
  await stompSend(stomp, { destination: `/queue/stomp-${tagName}` }, 'ping');
  await stompReceive(stomp, { destination: `/queue/stomp-${tagName}` });
  const m = await mqtt.connectAsync(b.mqttUrl!, { reconnectPeriod: 0, username: 'guest', password: 'guest' });
  closers.push(() => m.endAsync(true));
  const got = new Promise<string>((r) => m.once('message', (_t, p) => r(p.toString())));
  await m.subscribeAsync(`after/${tagName}`, { qos: 1 });
  await m.publishAsync(`after/${tagName}`, 'ping', { qos: 1 });
  expect(await got).toBe('ping');
  const guest: [string, string] = ['guest', 'guest'];
  expect((await http('PUT', `/api/queues/%2F/http-${tagName}`, guest, '{"durable":true}')).status).toBe(201);
  for (const path of ['/api/queues', '/api/exchanges', '/api/bindings', '/api/definitions', '/api/overview'])
    expect((await http('GET', path, guest)).status, path).toBe(200);
  expect((await fetch(`${b.httpUrl!}/metrics`)).status).toBe(200);
}

describe('names are data on every protocol', () => {
  it('dangerous names as queues, exchanges, arguments, headers, destinations, topics, client ids and columns leave Object.prototype and every other client untouched, across a restart', async () => {
    await b.broker.putUser('mallory', { password: 'm-pass', tags: ['management'] });
    await b.broker.setPermission('/', 'mallory', { configure: '.*', write: '.*', read: '.*' });
    const mallory: [string, string] = ['mallory', 'm-pass'];
    const protoKeys = Object.getOwnPropertyNames(Object.prototype).sort();
    const amqpConn = await amqpAs('mallory', 'm-pass');
    const ch = await amqpConn.createConfirmChannel();
    const stomp = await stompAs('mallory', 'm-pass');
    const failures: string[] = [];
    const worst = await worstRoundTripDuring(async () => {
      for (const n of DANGEROUS) {
        const polluting = { polluted: 'yes' };
        // AMQP: an exchange, a queue and a binding named n, arguments and headers keyed by n.
        await ch.assertExchange(n, 'topic', { durable: true, arguments: own(n, polluting) });
        await ch.assertQueue(n, { durable: true, arguments: own(n, polluting) });
        await ch.bindQueue(n, n, `${n}.#`, own(n, polluting));
        ch.publish(n, `${n}.amqp`, Buffer.from(`amqp-${n}`), {
          persistent: true,
          headers: own(n, polluting, { plain: 1 }),
        });
        await ch.waitForConfirms();
        // STOMP: a destination and headers named n (a persistent SEND, confirmed by its receipt).
        await stompSend(
          stomp,
          { destination: `/exchange/${n}/${n}.stomp`, persistent: 'true', [n]: 'yes', polluted: 'no' },
          `stomp-${n}`,
        );
        await stompSend(stomp, { destination: `/queue/s-${n}` }, `stomp-queue-${n}`);
        await stompReceive(stomp, { destination: `/queue/s-${n}`, id: n, [n]: 'yes' });
        // MQTT: a persistent session whose client id is n, topics and a retained message named n.
        const device = await mqtt.connectAsync(b.mqttUrl!, {
          reconnectPeriod: 0,
          username: 'mallory',
          password: 'm-pass',
          clientId: n,
          clean: false,
        });
        await device.subscribeAsync([`${n}/#`, n], { qos: 1 });
        await device.publishAsync(n, `retained-${n}`, { qos: 1, retain: true });
        await device.publishAsync(`${n}/${n}`, `mqtt-${n}`, { qos: 1 });
        await device.endAsync();
        // HTTP: a queue argument, headers of a publish, a column path and a sort key named n.
        for (const [method, path, raw] of [
          [
            'PUT',
            `/api/queues/%2F/h-${encodeURIComponent(n)}`,
            `{"arguments":{${JSON.stringify(n)}:{"polluted":"yes"}}}`,
          ],
          [
            'POST',
            `/api/exchanges/%2F/${encodeURIComponent(n)}/publish`,
            `{"routing_key":"${n}.http","payload":"http-${n}","properties":{"delivery_mode":2,"headers":{${JSON.stringify(n)}:{"polluted":"yes"}}}}`,
          ],
          ['GET', `/api/queues?columns=name,arguments.${n}.polluted`],
          ['GET', `/api/queues?sort=arguments.${n}.polluted&columns=${n}.polluted`],
          ['GET', `/api/exchanges?sort=${n}&name=${n}&use_regex=true`],
        ] as const) {
          const r = await http(method, path, mallory, raw);
          if (r.status >= 300) failures.push(`${r.status} ${method} ${path}: ${r.text}`);
        }
      }
    });
    expect(failures).toEqual([]);
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoKeys);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    // Each queue named n holds its AMQP, STOMP and HTTP messages, the header named n kept as
    // data (read over HTTP: amqplib and stompit decode headers into plain objects themselves).
    const headersKept = async (): Promise<void> => {
      for (const n of DANGEROUS) {
        const r = await http(
          'POST',
          `/api/queues/%2F/${encodeURIComponent(n)}/get`,
          mallory,
          '{"count":10,"ackmode":"ack_requeue_true","encoding":"auto"}',
        );
        expect(r.status, n).toBe(200);
        expect((JSON.parse(r.text) as unknown[]).length, n).toBe(3);
        expect(r.text.split(`"${n}":{"polluted":"yes"}`).length - 1, n).toBe(2);
        expect(r.text, n).toContain(`"${n}":"yes"`);
      }
    };
    await headersKept();
    await everyProtocolServes('before-restart');

    // The store holds every name as data: the broker starts again with all of it.
    await ch.waitForConfirms();
    await restart();
    expect(b.broker.storeFailure).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoKeys);
    const after = await (await amqpAs('mallory', 'm-pass')).createChannel();
    for (const n of DANGEROUS) {
      expect((await after.checkQueue(n)).messageCount, n).toBe(3);
      const device = mqtt.connect(b.mqttUrl!, {
        reconnectPeriod: 0,
        username: 'mallory',
        password: 'm-pass',
        clientId: n,
        clean: false,
      });
      closers.push(() => device.endAsync(true));
      // The session came back with its subscriptions (no resubscribe), and the retained message.
      const connack = await new Promise<{ sessionPresent: boolean }>((r) => device.once('connect', r));
      expect(connack.sessionPresent, n).toBe(true);
      const got: string[] = [];
      device.on('message', (_t, p) => got.push(p.toString()));
      const other = await mqtt.connectAsync(b.mqttUrl!, {
        reconnectPeriod: 0,
        username: 'guest',
        password: 'guest',
      });
      closers.push(() => other.endAsync(true));
      const retained = new Promise<string>((r) => other.once('message', (_t, p) => r(p.toString())));
      await other.subscribeAsync(n, { qos: 1 });
      expect(await retained).toBe(`retained-${n}`);
      await other.publishAsync(`${n}/${n}`, `again-${n}`, { qos: 1 });
      await until(() => got.includes(`again-${n}`), 'the message published again', 5000);
    }
    // Headers and queue arguments named n came back from the store as written.
    await headersKept();
    const queues = await http('GET', '/api/queues?columns=name,arguments', mallory);
    for (const n of DANGEROUS)
      expect(queues.text, n).toContain(
        `{"name":${JSON.stringify(n)},"arguments":{"${n}":{"polluted":"yes"}}}`,
      );
    await everyProtocolServes('after-restart');
  });
});

describe('nesting is refused at the edge, never a 541 to a consumer', () => {
  it('deep HTTP and STOMP headers reach an amqplib consumer intact or are refused at their publisher, across a restart', async () => {
    await b.broker.putUser('mallory', { password: 'm-pass', tags: ['management'] });
    await b.broker.setPermission('/', 'mallory', { configure: '.*', write: '.*', read: '.*' });
    const mallory: [string, string] = ['mallory', 'm-pass'];
    const setup = await (await amqpAs('guest', 'guest')).createChannel();
    await setup.assertQueue('deep-inbox', { durable: true });
    const nested = (depth: number, leaf: string): string => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
    const publish = (headers: string): Promise<{ status: number; text: string }> =>
      http(
        'POST',
        '/api/exchanges/%2F/amq.default/publish',
        mallory,
        `{"routing_key":"deep-inbox","payload":"http","properties":{"delivery_mode":2,"headers":${headers}}}`,
      );
    // The body and its properties take two of the 32 levels: the header table may nest 30.
    const deepest = 30;
    const stompDeep = nested(1000, '1');
    const worst = await worstRoundTripDuring(async () => {
      // HTTP: one level over the body limit is a 400 that says why; the deepest allowed is routed.
      for (const depth of [deepest + 1, 100_000]) {
        const r = await publish(nested(depth, '1'));
        expect(r.status, `depth ${depth}`).toBe(400);
        expect(r.text).toMatch(/nested deeper than 32 levels/);
      }
      expect(JSON.parse((await publish(nested(deepest, '"leaf"'))).text)).toEqual({ routed: true });
      // Queue arguments: over the limit a 400, nested as deep as allowed kept (and listed).
      const args = (depth: number): string => `{"durable":true,"arguments":${nested(depth, '1')}}`;
      expect((await http('PUT', '/api/queues/%2F/deep-args', mallory, args(deepest + 2))).status).toBe(400);
      expect((await http('PUT', '/api/queues/%2F/deep-args', mallory, args(deepest + 1))).status).toBe(201);
      // STOMP headers are strings: a JSON text 1,000 levels deep is one header value, carried
      // as text; a header line over the parser's limit is an ERROR for that connection only.
      const stomp = await stompAs('mallory', 'm-pass');
      await stompSend(
        stomp,
        { destination: '/queue/deep-inbox', persistent: 'true', deep: stompDeep },
        'stomp',
      );
      const raw = await rawClient(b.ports.stomp!);
      raw.write('CONNECT\naccept-version:1.2\nhost:/\nlogin:mallory\npasscode:m-pass\n\n\0');
      await until(() => raw.received().toString().startsWith('CONNECTED\n'), 'CONNECTED', 5000);
      raw.write(`SEND\ndestination:/queue/deep-inbox\ndeep:${nested(3000, '1')}\n\ntoo long\0`);
      await raw.closed;
      const answer = raw.received().toString();
      expect(answer).toMatch(/^CONNECTED\n/);
      expect(answer).toMatch(/ERROR\n(.*\n)*message:Malformed frame\n(.*\n)*\n.*header longer than/);
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    expect((await setup.checkQueue('deep-inbox')).messageCount).toBe(2);

    // Both messages are stored as sent: after a restart, an amqplib consumer gets them and keeps its channel.
    await restart();
    const conn = await amqpAs('guest', 'guest');
    const ch = await conn.createChannel();
    let channelError: Error | undefined;
    ch.on('error', (e: Error) => (channelError = e));
    const got: amqp.Message[] = [];
    await ch.consume('deep-inbox', (m) => m && got.push(m), { noAck: true });
    await until(() => got.length === 2, 'two messages', 5000);
    const [fromHttp, fromStomp] = got.map((m) => m.properties.headers as Record<string, unknown>);
    let t = fromHttp!;
    let depth = 0;
    while (typeof t['a'] === 'object' && t['a'] !== null) {
      t = t['a'] as Record<string, unknown>;
      depth++;
    }
    expect([depth, t['a']]).toEqual([deepest - 1, 'leaf']);
    expect(fromStomp!['deep']).toBe(stompDeep);
    // Listings hold the deep arguments (an administrator's export too).
    for (const path of ['/api/queues', '/api/queues/%2F/deep-args'])
      expect((await http('GET', path, mallory)).status, path).toBe(200);
    expect((await http('GET', '/api/definitions', ['guest', 'guest'])).status).toBe(200);
    // The channel is still open: another publish comes back on it.
    ch.sendToQueue('deep-inbox', Buffer.from('after'));
    await until(() => got.length === 3, 'three messages', 5000);
    expect(channelError).toBeUndefined();
    expect(b.broker.storeFailure).toBeUndefined();
  });
});
