/**
 * Store format 1 (every queue's keys under the plain prefix, bodies shared as `m:<id>`) is
 * converted to format 2 (every key of a queue under its hash tag) by the first open(): every
 * message, definition, stream, retained message and session survives, and a kill -9 at any
 * step of the conversion is finished by the next open, nothing lost or doubled.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import {
  definitionIdentity,
  type DefinitionChange,
  type Definitions,
  type EnqueueRecord,
  type StoredMessage,
} from '@junction/core';
import { spawnLogged } from '@junction/testkit';
import { sharedRedis } from './shared-redis.js';
import { RedisStore } from '../src/index.js';
import { pack } from '@junction/core';
import type { QueueKeys } from '../src/keys.js';
import { RedisStreamLog, StreamKeys } from '../src/redis-stream-log.js';

const child = fileURLToPath(new URL('./migration-child.ts', import.meta.url));

const shared = sharedRedis();

const QUEUES = [
  { vhost: '/', queue: 'orders', count: 1_200 },
  { vhost: '/', queue: 'a}b{c', count: 30 },
  { vhost: 'shop/eu', queue: 'fan', count: 30 },
];
const STREAM = { vhost: '/', queue: 'events' };

const message = (id: number): StoredMessage => ({
  id,
  exchange: 'ex',
  routingKey: `k.${id}`,
  properties: { deliveryMode: 2, headers: { n: id, big: 2n ** 60n } },
  body: Buffer.from(`body-${id}`),
});

const definitions: DefinitionChange[] = [
  { op: 'put', kind: 'vhost', value: { name: 'shop/eu' } },
  ...QUEUES.map((q): DefinitionChange => ({
    op: 'put',
    kind: 'queue',
    value: { vhost: q.vhost, name: q.queue, durable: true, autoDelete: false, arguments: {} },
  })),
  {
    op: 'put',
    kind: 'queue',
    value: {
      vhost: '/',
      name: 'events',
      durable: true,
      autoDelete: false,
      arguments: { 'x-queue-type': 'stream' },
    },
  },
];

/** The records format 1 held: the fan queue shares its bodies with the first ids of 'orders'. */
function records(): Map<string, EnqueueRecord[]> {
  const out = new Map<string, EnqueueRecord[]>();
  for (const q of QUEUES)
    out.set(
      q.queue,
      Array.from({ length: q.count }, (_, i) => ({
        vhost: q.vhost,
        queue: q.queue,
        messageId: q.queue === 'a}b{c' ? 5_000 + i : i + 1,
        expiresAt: i % 3 === 0 ? 9_999_999_999_999 : 0,
        deliveryCount: i % 4,
        message: message(q.queue === 'a}b{c' ? 5_000 + i : i + 1),
      })),
    );
  return out;
}

/**
 * Writes format-1 data as Junction up to store format 1 did: the same keys and values (qz:/qh:
 * per JSON [vhost, queue] tag, bodies m:<id> with a refcount, streams under st{tag}).
 */
async function writeFormat1(prefix: string): Promise<void> {
  const p = shared.raw.pipeline();
  p.hset(`${prefix}meta`, 'format', '1', 'defs', '1');
  for (const c of definitions)
    if (c.op === 'put')
      p.hset(
        `${prefix}defs`,
        `${c.kind}\u0000${definitionIdentity(c.kind, c.value as unknown as Record<string, unknown>)}`,
        pack(c.value),
      );
  const refs = new Map<number, number>();
  for (const list of records().values())
    for (const r of list) {
      const tag = JSON.stringify([r.vhost, r.queue]);
      p.zadd(`${prefix}qz:${tag}`, r.messageId, String(r.messageId));
      p.hset(
        `${prefix}qh:${tag}`,
        `e:${r.messageId}`,
        String(r.expiresAt),
        `d:${r.messageId}`,
        String(r.deliveryCount),
      );
      const m = r.message;
      p.hset(
        `${prefix}m:${r.messageId}`,
        'v',
        pack({ x: m.exchange, k: m.routingKey, p: m.properties, b: m.body }),
      );
      refs.set(r.messageId, (refs.get(r.messageId) ?? 0) + 1);
    }
  for (const [id, n] of refs) p.hset(`${prefix}m:${id}`, 'r', String(n));
  p.set(`${prefix}maxid`, '5029');
  p.hset(`${prefix}ret:/`, 'a/b', pack(message(7)));
  p.hset(`${prefix}sess:/`, 'device-1', pack({ subscriptions: [{ filter: 'a/#', qos: 1 }] }));
  await p.exec();
  // The stream through the stream code itself, at the format-1 key names.
  const tag = JSON.stringify([STREAM.vhost, STREAM.queue]);
  const oldKeys = new StreamKeys({ stream: `${prefix}st{${tag}}`, epoch: `${prefix}unused` } as QueueKeys);
  const defineOn = new RedisStore({ url: shared.server.url, keyPrefix: `${prefix}scratch:` });
  await defineOn.open(); // registers the stream scripts on a connection we can borrow
  const redis = (defineOn as unknown as { redis: Redis }).redis;
  const log = await RedisStreamLog.open(
    { maxSegmentBytes: 400 },
    redis,
    oldKeys,
    { ref: STREAM, epoch: () => undefined, holdMs: 1_000 },
    () => {},
  );
  for (let i = 0; i < 40; i++)
    await log.append([{ timestamp: 1_000 + i, message: message(i + 1) }], {
      name: 'p',
      firstSequence: i + 1,
    });
  await log.storeConsumerOffset('reader', 17);
  await log.close();
  await defineOn.close();
  await shared.raw.del(...(await shared.raw.keys(`${prefix}scratch:*`)));
}

/** Opens the store and checks that everything format 1 held is there, once, in format 2. */
async function verify(prefix: string): Promise<void> {
  const store = new RedisStore({ url: shared.server.url, keyPrefix: prefix });
  try {
    const state = await store.open();
    expect(state.maxMessageId).toBe(5029);
    const defs = state.definitions as Definitions;
    expect(defs.queues.map((q) => q.name).sort()).toEqual(['a}b{c', 'events', 'fan', 'orders']);
    expect(defs.vhosts.map((v) => v.name)).toEqual(['shop/eu']);
    for (const [queue, expected] of records()) {
      const q = QUEUES.find((x) => x.queue === queue)!;
      const got: EnqueueRecord[] = [];
      for await (const r of state.messages({ vhost: q.vhost, queue })) got.push(r);
      expect(got).toEqual(expected);
    }
    const log = await store.openStream(STREAM, { maxSegmentBytes: 400 });
    expect(log.nextOffset).toBe(40);
    expect(log.consumerOffset('reader')).toBe(17);
    expect(log.lastProducerSequence('p')).toBe(40);
    expect((await log.read(0, 100)).map((e) => e.message.body.toString())).toEqual(
      Array.from({ length: 40 }, (_, i) => `body-${i + 1}`),
    );
    const retained = [];
    for await (const r of store.retained('/')) retained.push(r);
    expect(retained.map((r) => [r.topic, r.message.body.toString()])).toEqual([['a/b', 'body-7']]);
    const sessions = [];
    for await (const s of store.mqttSessions('/')) sessions.push(s.clientId);
    expect(sessions).toEqual(['device-1']);
  } finally {
    await store.close();
  }
  // Nothing of format 1 is left, and the marker says so.
  expect(await shared.raw.hgetall(`${prefix}meta`)).toEqual({ format: '2', defs: '1' });
  for (const pattern of ['qz:*', 'qh:*', 'm:*', 'st{*', 'migrating'])
    expect(await shared.raw.keys(`${prefix}${pattern}`), pattern).toEqual([]);
}

async function migrateInChild(prefix: string, killAt: number): Promise<{ signal: NodeJS.Signals | null }> {
  const p = spawnLogged(
    [
      process.execPath,
      '--conditions=@junction/source',
      '--import',
      'tsx',
      child,
      shared.server.url,
      prefix,
      String(killAt),
    ],
    { env: { ...process.env } },
  );
  await p.exited;
  if (p.child.signalCode === null && p.lines.every((l) => l['msg'] !== 'opened'))
    throw new Error(`migration child failed: ${p.stderr()}`);
  return { signal: p.child.signalCode };
}

describe('Redis store format migration (1 -> 2)', () => {
  it('converts format-1 data on open: every message, definition, stream, retained message and session survives', async () => {
    await writeFormat1('m0:');
    await verify('m0:');
    // A second open finds format 2 and converts nothing.
    const steps: string[] = [];
    const again = new RedisStore({
      url: shared.server.url,
      keyPrefix: 'm0:',
      onMigrationStep: (s) => steps.push(s.step),
    });
    await again.open();
    await again.close();
    expect(steps).toEqual([]);
  }, 60_000);

  // Steps: 1 start, 2-4 one per queue, 5 the stream, 6 switched, 7... cleanup batches, last done.
  for (const [killAt, where] of [
    [3, 'between two queues'],
    [6, 'right after the switch'],
    [7, 'in the cleanup'],
  ] as const)
    it(`finishes a conversion killed -9 ${where} on the next open`, async () => {
      const prefix = `k${killAt}:`;
      await writeFormat1(prefix);
      const { signal } = await migrateInChild(prefix, killAt);
      expect(signal).toBe('SIGKILL');
      const format = await shared.raw.hget(`${prefix}meta`, 'format');
      expect(format).toBe(killAt >= 6 ? '2' : '1');
      await verify(prefix);
    }, 60_000);

  it("waits for another run's lock (here one that expires) and then converts", async () => {
    await writeFormat1('lost:');
    // Another run's lock: this open waits for it (it is never released here, so it expires).
    await shared.raw.set('lost:migrating', 'someone-else', 'PX', 1_500);
    const t0 = Date.now();
    await verify('lost:');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
  }, 60_000);
});
