/**
 * The Store contract, one suite for every backend: what is written is what a reopened
 * store gives back, in order, with shared message bodies counted and released.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DefinitionChange, EnqueueRecord, Store, StoredMessage } from '@junction/core';
import { backends, type BackendFixture } from './backends.js';
import { closeAll } from '@junction/testkit';

const message = (id: number, body = `body-${id}`, priority?: number): StoredMessage => ({
  id,
  exchange: 'amq.topic',
  routingKey: `k.${id}`,
  properties: {
    deliveryMode: 2,
    headers: { n: id, nested: { ok: true } },
    ...(priority === undefined ? {} : { priority }),
  },
  body: Buffer.from(body),
});

const entry = (queue: string, msg: StoredMessage, extra: Partial<EnqueueRecord> = {}): EnqueueRecord => ({
  vhost: '/',
  queue,
  messageId: msg.id,
  expiresAt: 0,
  deliveryCount: 0,
  message: msg,
  ...extra,
});

async function collect(store: Store, queue: string, vhost = '/'): Promise<EnqueueRecord[]> {
  const state = await store.open();
  const out: EnqueueRecord[] = [];
  for await (const r of state.messages({ vhost, queue })) out.push(r);
  return out;
}

/** A user's SCRAM-SHA-256 keys (base64), kept beside its hash. */
const SCRAM = { salt: 'c2FsdA==', iterations: 4096, storedKey: 'c3RvcmVk', serverKey: 'c2VydmVy' };

const defs: DefinitionChange[] = [
  { op: 'put', kind: 'vhost', value: { name: '/' } },
  { op: 'put', kind: 'vhost', value: { name: 'iot' } },
  { op: 'put', kind: 'user', value: { name: 'app', passwordHash: 'h1', tags: ['management'] } },
  {
    op: 'put',
    kind: 'permission',
    value: { vhost: 'iot', user: 'app', configure: '.*', write: '.*', read: '^r' },
  },
  {
    op: 'put',
    kind: 'exchange',
    value: {
      vhost: 'iot',
      name: 'events',
      type: 'topic',
      durable: true,
      autoDelete: false,
      internal: false,
      arguments: { 'alternate-exchange': 'ae' },
    },
  },
  {
    op: 'put',
    kind: 'queue',
    value: {
      vhost: 'iot',
      name: 'orders',
      durable: true,
      autoDelete: false,
      arguments: { 'x-max-priority': 5 },
    },
  },
  {
    op: 'put',
    kind: 'binding',
    value: {
      vhost: 'iot',
      source: 'events',
      destination: 'orders',
      destinationType: 'queue',
      routingKey: 'order.#',
      arguments: {},
    },
  },
  {
    op: 'put',
    kind: 'policy',
    value: {
      vhost: 'iot',
      name: 'p',
      pattern: '^o',
      applyTo: 'queues',
      priority: 1,
      definition: { 'max-length': 10 },
    },
  },
];

for (const backend of backends) {
  describe(`Store contract: ${backend.name}`, () => {
    let fx: BackendFixture;
    const stores: Store[] = [];
    const open = async (): Promise<Store> => {
      const s = fx.reopen();
      stores.push(s);
      return s;
    };
    /** Closes the current store and opens the data again, as after a restart. */
    const restart = async (s: Store): Promise<Store> => {
      await s.close();
      return open();
    };
    afterEach(async () => {
      await closeAll(stores.splice(0).map((s) => () => s.close()));
      await fx?.cleanup();
    });

    it('starts empty', async () => {
      fx = await backend.fresh();
      const s = await open();
      const state = await s.open();
      expect(state.definitions).toBeNull();
      expect(state.maxMessageId).toBe(0);
    });

    it('keeps definitions: puts replace by identity, deletes remove', async () => {
      fx = await backend.fresh();
      let s = await open();
      await s.open();
      await s.writeDefinitions(defs);
      await s.writeDefinitions([
        { op: 'put', kind: 'user', value: { name: 'app', passwordHash: 'h2', tags: [], scram: SCRAM } },
        { op: 'delete', kind: 'policy', key: { vhost: 'iot', name: 'p' } },
        {
          op: 'put',
          kind: 'binding',
          value: {
            vhost: 'iot',
            source: 'events',
            destination: 'orders',
            destinationType: 'queue',
            routingKey: 'x',
            arguments: {},
          },
        },
        {
          op: 'delete',
          kind: 'binding',
          key: {
            vhost: 'iot',
            source: 'events',
            destination: 'orders',
            destinationType: 'queue',
            routingKey: 'x',
            arguments: {},
          },
        },
      ]);
      s = await restart(s);
      const d = (await s.open()).definitions!;
      expect(d.vhosts.map((v) => v.name).sort()).toEqual(['/', 'iot']);
      expect(d.users).toEqual([{ name: 'app', passwordHash: 'h2', tags: [], scram: SCRAM }]);
      expect(d.permissions).toEqual([
        { vhost: 'iot', user: 'app', configure: '.*', write: '.*', read: '^r' },
      ]);
      expect(d.exchanges).toEqual([defs[4]!.op === 'put' && defs[4]!.value]);
      expect(d.queues).toEqual([
        {
          vhost: 'iot',
          name: 'orders',
          durable: true,
          autoDelete: false,
          arguments: { 'x-max-priority': 5 },
        },
      ]);
      expect(d.bindings).toEqual([
        {
          vhost: 'iot',
          source: 'events',
          destination: 'orders',
          destinationType: 'queue',
          routingKey: 'order.#',
          arguments: {},
        },
      ]);
      expect(d.policies).toEqual([]);
    });

    it('keeps vhost and user limits with their definitions (a put replaces them, so clearing one sticks)', async () => {
      fx = await backend.fresh();
      let s = await open();
      await s.open();
      await s.writeDefinitions([
        {
          op: 'put',
          kind: 'vhost',
          value: { name: 'iot', limits: { 'max-queues': 10, 'max-connections': 0 } },
        },
        {
          op: 'put',
          kind: 'user',
          value: { name: 'app', passwordHash: 'h', tags: [], limits: { 'max-channels': 3 } },
        },
      ]);
      await s.writeDefinitions([
        { op: 'put', kind: 'vhost', value: { name: 'iot', limits: { 'max-queues': 10 } } },
      ]);
      s = await restart(s);
      const d = (await s.open()).definitions!;
      expect(d.vhosts).toEqual([{ name: 'iot', limits: { 'max-queues': 10 } }]);
      expect(d.users).toEqual([{ name: 'app', passwordHash: 'h', tags: [], limits: { 'max-channels': 3 } }]);
    });

    it('gives back entries per queue in message-id order, bodies and properties intact, shared bodies released last', async () => {
      fx = await backend.fresh();
      let s = await open();
      await s.open();
      const shared = message(3, 'to both queues', 7);
      await s.enqueue([
        entry('a', message(5)),
        entry('a', shared),
        entry('b', shared, { expiresAt: 1_900_000_000_000 }),
        entry('a', message(9, '\u0000binary\u00ff')),
      ]);
      await s.markDelivered([{ vhost: '/', queue: 'a', messageId: 5 }]);
      s = await restart(s);
      expect((await s.open()).maxMessageId).toBeGreaterThanOrEqual(9);
      const a = await collect(s, 'a');
      expect(a.map((r) => [r.messageId, r.deliveryCount, r.message.body.toString()])).toEqual([
        [3, 0, 'to both queues'],
        [5, 1, 'body-5'],
        [9, 0, '\u0000binary\u00ff'],
      ]);
      expect(a[0]!.message).toMatchObject({
        exchange: 'amq.topic',
        routingKey: 'k.3',
        properties: { deliveryMode: 2, priority: 7, headers: { n: 3, nested: { ok: true } } },
      });
      expect(Buffer.isBuffer(a[0]!.message.body)).toBe(true);
      const b = await collect(s, 'b');
      expect(b.map((r) => [r.messageId, r.expiresAt])).toEqual([[3, 1_900_000_000_000]]);

      await s.remove([{ vhost: '/', queue: 'a', messageId: 3 }]);
      s = await restart(s);
      expect((await collect(s, 'b')).map((r) => r.message.body.toString())).toEqual(['to both queues']);
      await s.remove([{ vhost: '/', queue: 'b', messageId: 3 }]);
      await s.dropQueue({ vhost: '/', queue: 'a' });
      s = await restart(s);
      expect(await collect(s, 'a')).toEqual([]);
      expect(await collect(s, 'b')).toEqual([]);
    });

    it("drops a queue's entries when its definition is deleted", async () => {
      fx = await backend.fresh();
      let s = await open();
      await s.open();
      await s.writeDefinitions(defs);
      await s.enqueue([{ ...entry('orders', message(1)), vhost: 'iot' }]);
      await s.writeDefinitions([{ op: 'delete', kind: 'queue', key: { vhost: 'iot', name: 'orders' } }]);
      s = await restart(s);
      expect(await collect(s, 'orders', 'iot')).toEqual([]);
    });

    it('keeps retained messages and client sessions per vhost', async () => {
      fx = await backend.fresh();
      let s = await open();
      await s.open();
      await s.putRetained('/', 'a.b', message(1, 'on'));
      await s.putRetained('/', 'a.c', message(2, 'off'));
      await s.putRetained('iot', 'a.b', message(3, 'other vhost'));
      await s.putRetained('/', 'a.c', null);
      await s.putMqttSession('/', 'dev-1', { subscriptions: { 'a/#': 1 } });
      await s.putMqttSession('/', 'dev-2', { subscriptions: { x: 0 } });
      await s.putMqttSession('/', 'dev-2', null);
      s = await restart(s);
      await s.open();
      const retained = [];
      for await (const r of s.retained('/')) retained.push([r.topic, r.message.body.toString()]);
      expect(retained).toEqual([['a.b', 'on']]);
      const sessions = [];
      for await (const x of s.mqttSessions('/')) sessions.push(x);
      expect(sessions).toEqual([{ clientId: 'dev-1', state: { subscriptions: { 'a/#': 1 } } }]);
    });

    it('keeps a delayed will in a client session: its body bytes, properties and user', async () => {
      fx = await backend.fresh();
      let s = await open();
      await s.open();
      const will = {
        message: {
          exchange: 'amq.topic',
          routingKey: 'wills.dev-3',
          properties: {
            deliveryMode: 2,
            contentType: 'text/plain',
            headers: { site: 'b7', 'x-mqtt-publish-qos': 1 },
          },
          body: Buffer.from([0, 1, 2, 0xff]),
        },
        retain: true,
        publishAt: 1_900_000_000_000,
        user: 'device',
      };
      await s.putMqttSession('/', 'dev-3', { subscriptions: {}, expiresAt: 1_900_000_100_000, will });
      s = await restart(s);
      await s.open();
      const sessions = [];
      for await (const x of s.mqttSessions('/')) sessions.push(x);
      const back = sessions[0]!.state.will as typeof will;
      // The bytes (the memory store gives a Uint8Array back; the broker makes it a Buffer again).
      expect(Buffer.from(back.message.body)).toEqual(will.message.body);
      expect({ ...back, message: { ...back.message, body: null } }).toEqual({
        ...will,
        message: { ...will.message, body: null },
      });
    });

    it('pages entries: readEntries after an id in ascending order with a limit, countEntries per queue', async () => {
      fx = await backend.fresh();
      let s = await open();
      await s.open();
      const shared = message(4, 'shared');
      await s.enqueue([
        ...[1, 2, 3, 5, 8, 13].map((id) => entry('p', message(id))),
        entry('p', shared),
        entry('other', shared),
        entry('other', message(6)),
      ]);
      await s.markDelivered([{ vhost: '/', queue: 'p', messageId: 5 }]);
      s = await restart(s);
      await s.open();
      expect(await s.countEntries({ vhost: '/', queue: 'p' })).toBe(7);
      expect(await s.countEntries({ vhost: '/', queue: 'other' })).toBe(2);
      expect(await s.countEntries({ vhost: '/', queue: 'none' })).toBe(0);
      const ids = async (after: number, limit: number) =>
        (await s.readEntries({ vhost: '/', queue: 'p' }, after, limit)).map((r) => r.messageId);
      expect(await ids(0, 3)).toEqual([1, 2, 3]);
      expect(await ids(3, 3)).toEqual([4, 5, 8]);
      expect(await ids(8, 100)).toEqual([13]);
      expect(await ids(13, 100)).toEqual([]);
      expect(await ids(0, 0)).toEqual([]);
      const [r4, r5] = await s.readEntries({ vhost: '/', queue: 'p' }, 3, 2);
      expect(r4!.message.body.toString()).toBe('shared');
      expect(Buffer.isBuffer(r4!.message.body)).toBe(true);
      expect(r5).toMatchObject({ vhost: '/', queue: 'p', messageId: 5, deliveryCount: 1, expiresAt: 0 });
      expect(r5!.message).toMatchObject({
        id: 5,
        exchange: 'amq.topic',
        routingKey: 'k.5',
        properties: { headers: { n: 5 } },
      });
      // Written and removed entries show up at once (no restart needed).
      await s.remove([{ vhost: '/', queue: 'p', messageId: 2 }]);
      await s.enqueue([entry('p', message(21))]);
      expect(await ids(0, 100)).toEqual([1, 3, 4, 5, 8, 13, 21]);
      expect(await s.countEntries({ vhost: '/', queue: 'p' })).toBe(7);
      await s.dropQueue({ vhost: '/', queue: 'p' });
      expect(await ids(0, 100)).toEqual([]);
      expect(await s.countEntries({ vhost: '/', queue: 'p' })).toBe(0);
      expect((await s.readEntries({ vhost: '/', queue: 'other' }, 0, 10)).map((r) => r.messageId)).toEqual([
        4, 6,
      ]);
    });

    it('marks a FIFO queue delivered through an id: older entries of that queue only, not later ones, gone with the queue', async () => {
      fx = await backend.fresh();
      let s = await open();
      await s.open();
      await s.enqueue(
        [1, 2, 4, 7].map((id) => entry('fifo', message(id))).concat([entry('other', message(3))]),
      );
      // What the core does, with the cheap form where the backend has it.
      const markThrough = async (store: Store, queue: string, id: number) => {
        if (store.markDeliveredThrough) return store.markDeliveredThrough({ vhost: '/', queue }, id);
        const older = (await store.readEntries({ vhost: '/', queue }, 0, 1000)).filter(
          (r) => r.messageId <= id,
        );
        return store.markDelivered(older.map((r) => ({ vhost: '/', queue, messageId: r.messageId })));
      };
      await markThrough(s, 'fifo', 2);
      await markThrough(s, 'fifo', 4);
      await s.remove([{ vhost: '/', queue: 'fifo', messageId: 1 }]);
      await s.enqueue([entry('fifo', message(9))]);
      s = await restart(s);
      const counts = (rs: EnqueueRecord[]) => rs.map((r) => [r.messageId, r.deliveryCount > 0]);
      expect(counts(await collect(s, 'fifo'))).toEqual([
        [2, true],
        [4, true],
        [7, false],
        [9, false],
      ]);
      expect(counts(await collect(s, 'other'))).toEqual([[3, false]]);
      expect(counts(await s.readEntries({ vhost: '/', queue: 'fifo' }, 3, 10))).toEqual([
        [4, true],
        [7, false],
        [9, false],
      ]);
      // A queue deleted and declared again starts unmarked, even after ids restart.
      await s.dropQueue({ vhost: '/', queue: 'fifo' });
      s = await restart(s);
      const state = await s.open();
      const next = state.maxMessageId + 1;
      await s.enqueue([entry('fifo', message(next))]);
      expect(counts(await s.readEntries({ vhost: '/', queue: 'fifo' }, 0, 10))).toEqual([[next, false]]);
    });

    it('group-commits many concurrent writes, each promise settling once it is stored', async () => {
      fx = await backend.fresh();
      let s = await open();
      await s.open();
      const n = 2000;
      await Promise.all(Array.from({ length: n }, (_, i) => s.enqueue([entry('bulk', message(i + 1))])));
      s = await restart(s);
      const all = await collect(s, 'bulk');
      expect(all.length).toBe(n);
      expect(all.every((r, i) => r.messageId === i + 1)).toBe(true);
    });
  });
}
