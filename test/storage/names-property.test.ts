/**
 * Names are data in every store (issue 14), as a property: random names within the core's
 * limit (any Unicode, the names that reach Object.prototype, names at the byte limit) used
 * as every name a store keys on or holds as a key (vhost, user, exchange, queue, binding key,
 * policy, argument and header keys, retained topic, MQTT client id and subscription) come
 * back exactly from a reopened store, as own properties, and Object.prototype is untouched.
 * (msgpackr, LMDB's encoder, read an own `__proto__` back as `__proto_`.)
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NAME_MAX_BYTES,
  type DefinitionChange,
  type Definitions,
  type EnqueueRecord,
  type FieldTable,
  type Store,
  type StoredMessage,
} from '@junction/core';
import { withOwnKey } from '@junction/testkit';
import { backends, type BackendFixture } from './backends.js';

const DANGEROUS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

/** A table with `key` as an own key, `__proto__` included. */
const own = (key: string, value: unknown): FieldTable => withOwnKey(key, value) as FieldTable;

const fits = (n: string): boolean => Buffer.byteLength(n, 'utf8') <= NAME_MAX_BYTES;

/** Dangerous names, short Unicode ones, and long ones close to the byte limit. */
const name = fc.oneof(
  fc.constantFrom(...DANGEROUS),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'grapheme', minLength: 60, maxLength: 90 }).filter(fits),
  fc.string({ unit: 'grapheme-ascii', minLength: NAME_MAX_BYTES - 2, maxLength: NAME_MAX_BYTES }),
);

function changes(names: readonly string[]): DefinitionChange[] {
  return names.flatMap((n): DefinitionChange[] => [
    { op: 'put', kind: 'vhost', value: { name: n } },
    { op: 'put', kind: 'user', value: { name: n, passwordHash: 'h', tags: [] } },
    {
      op: 'put',
      kind: 'exchange',
      value: {
        vhost: '/',
        name: n,
        type: 'topic',
        durable: true,
        autoDelete: false,
        internal: false,
        arguments: own(n, own(n, 1)),
      },
    },
    {
      op: 'put',
      kind: 'queue',
      value: { vhost: '/', name: n, durable: true, autoDelete: false, arguments: own(n, n) },
    },
    {
      op: 'put',
      kind: 'binding',
      value: {
        vhost: '/',
        source: n,
        destination: n,
        destinationType: 'queue',
        routingKey: n,
        arguments: own(n, n),
      },
    },
    {
      op: 'put',
      kind: 'policy',
      value: { vhost: '/', name: n, pattern: '^x$', applyTo: 'queues', priority: 0, definition: own(n, 1) },
    },
  ]);
}

const message = (id: number, n: string): StoredMessage => ({
  id,
  exchange: n,
  routingKey: n,
  properties: { deliveryMode: 2, headers: own(n, own(n, 'v')) },
  body: Buffer.from(n),
});

/** The value of own key `key`, or a marker that says it was missing (or inherited). */
const ownValue = (o: object, key: string): unknown =>
  Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : 'MISSING';

for (const backend of backends) {
  describe(`names as data: ${backend.name}`, () => {
    let fx: BackendFixture;
    let store: Store;
    beforeAll(async () => {
      fx = await backend.fresh();
      store = fx.reopen();
      await store.open();
    });
    afterAll(async () => {
      await store.close();
      await fx.cleanup();
    });

    it('every name comes back exactly, as an own key, after a reopen', async () => {
      const protoKeys = Object.getOwnPropertyNames(Object.prototype).sort();
      let nextId = 1;
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(name, { minLength: 1, maxLength: 6 }), async (names) => {
          await store.writeDefinitions(changes(names));
          const records: EnqueueRecord[] = names.map((n) => ({
            vhost: '/',
            queue: n,
            messageId: nextId,
            expiresAt: 0,
            deliveryCount: 0,
            message: message(nextId++, n),
          }));
          await store.enqueue(records);
          for (const n of names) {
            await store.putRetained('/', n, message(nextId++, n));
            await store.putMqttSession('/', n, { subscriptions: withOwnKey(n, 1) as Record<string, number> });
          }
          await store.close();
          store = fx.reopen();
          const state = await store.open();
          const d = state.definitions as Definitions;
          const retained = new Map<string, StoredMessage>();
          for await (const r of store.retained('/')) retained.set(r.topic, r.message);
          const sessions = new Map<string, object>();
          for await (const s of store.mqttSessions('/')) sessions.set(s.clientId, s.state.subscriptions);
          for (const n of names) {
            expect(d.vhosts.some((v) => v.name === n)).toBe(true);
            expect(d.users.some((u) => u.name === n)).toBe(true);
            const x = d.exchanges.find((e) => e.name === n)!;
            expect(ownValue(ownValue(x.arguments, n) as object, n)).toBe(1);
            expect(ownValue(d.queues.find((q) => q.name === n)!.arguments, n)).toBe(n);
            const b = d.bindings.find((k) => k.source === n && k.routingKey === n)!;
            expect([b.destination, ownValue(b.arguments, n)]).toEqual([n, n]);
            expect(ownValue(d.policies.find((p) => p.name === n)!.definition, n)).toBe(1);
            const queued: EnqueueRecord[] = [];
            for await (const r of state.messages({ vhost: '/', queue: n })) queued.push(r);
            const headers = queued.at(-1)!.message.properties.headers!;
            expect(ownValue(ownValue(headers, n) as object, n)).toBe('v');
            expect(retained.get(n)?.routingKey).toBe(n);
            expect(ownValue(retained.get(n)!.properties.headers!, n)).toBeTypeOf('object');
            expect(ownValue(sessions.get(n)!, n)).toBe(1);
          }
          expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoKeys);
          expect(({} as Record<string, unknown>)['v']).toBeUndefined();
        }),
        { numRuns: 15 },
      );
    }, 120_000);
  });
}
