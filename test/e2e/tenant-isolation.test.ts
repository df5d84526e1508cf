/**
 * Issue 14, "one user cannot hurt the others": each test is an attacker with only the
 * permissions it names, over real sockets, against a broker on the embedded store. Each
 * checks that the attacker gets its error (where there is one), that another client's round
 * trip stays bounded while the attack runs, and that nothing confirmed is lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import stompit from 'stompit';
import type Client from 'stompit/lib/Client.js';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '@junction/server';
import { LmdbStore } from '@junction/storage-lmdb';

/** Generous: the machine is shared and loaded; a frozen broker takes seconds. */
const ROUND_TRIP_BOUND_MS = 1000;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

let b: BrokerHandle;
let dir: string;
const closers: (() => Promise<unknown> | void)[] = [];

async function start(): Promise<BrokerHandle> {
  return startBroker({ ports: { amqp: 0, mqtt: 0, stomp: 0 }, storage: new LmdbStore({ dir }) });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'junction-tenant-'));
  dirs.push(dir);
  b = await start();
  // The attacker: its own names only, plus publish/bind on amq.topic.
  await b.broker.putUser('tenant', { password: 'pw', tags: [] });
  await b.broker.setPermission('/', 'tenant', {
    configure: '^tenant-.*',
    write: '^(tenant-.*|amq\\.topic|amq\\.default)$',
    read: '^(tenant-.*|amq\\.topic)$',
  });
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  await b.close();
});

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

function stompAs(login: string, passcode: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = stompit.connect(
      {
        host: '127.0.0.1',
        port: b.ports.stomp!,
        connectHeaders: { host: '/', login, passcode, 'heart-beat': '0,0' },
      },
      (err, client) => (err ? reject(err) : resolve(client)),
    );
    c.on('error', () => {});
    closers.push(() => c.destroy(new Error('test over')));
  });
}

const until = async (cond: () => boolean, ms = 20_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

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
    await conn.close();
    closers.length = 0;
    await b.close();
    b = await start();
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
      await until(() => consumers() === 100);
      // Let the scans run to their end while the victim keeps measuring.
      await new Promise((r) => setTimeout(r, 1500));
    });
    expect(worst).toBeLessThan(ROUND_TRIP_BOUND_MS);
    expect((await ch.checkQueue('tenant-deep')).messageCount).toBe(10_000);
  });
});
