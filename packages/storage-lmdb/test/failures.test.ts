/**
 * A store write that fails fails only the operation that made it (issue 14): a key LMDB
 * refuses must not take other queues' records of the same batch or checkpoint with it, and
 * the store opens again on its directory.
 */
import { describe, expect, it } from 'vitest';
import type { BindingDefinition, EnqueueRecord } from '@junction/core';
import { closeStore, freshDir, openStore, record, recoveredIds } from './fixtures.js';

const message = { exchange: '', routingKey: 'q', properties: { deliveryMode: 2 }, body: Buffer.from('x') };

describe('failed writes stay with their operation', () => {
  it('refuses an enqueue whose key LMDB cannot hold, keeps the others of the same turn, and reopens', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    await store.writeDefinitions([
      {
        op: 'put',
        kind: 'queue',
        value: { vhost: '/', name: 'orders', durable: true, autoDelete: false, arguments: {} },
      },
    ]);
    const long = 'q'.repeat(3000);
    const writes: Promise<void>[] = [];
    for (let i = 1; i <= 2000; i++) writes.push(store.enqueue([record('orders', i, message)]));
    const bad = store.enqueue([record(long, 5000, message)]);
    for (let i = 2001; i <= 4000; i++) writes.push(store.enqueue([record('orders', i, message)]));
    await expect(bad).rejects.toThrow(/too long/);
    await Promise.all(writes);
    await store.checkpoint();
    expect(store.failure).toBeUndefined();
    await closeStore(store);
    const { state } = await openStore(dir);
    expect((await recoveredIds(state, 'orders')).length).toBe(4000);
    expect(state.definitions!.queues.map((q) => q.name)).toEqual(['orders']);
  });

  it('stores and removes a binding whose arguments are too long for a key', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    const binding: BindingDefinition = {
      vhost: '/',
      source: 'amq.headers',
      destination: 'orders',
      destinationType: 'queue',
      routingKey: '',
      arguments: { big: 'a'.repeat(5000) },
    };
    const other: EnqueueRecord = record('orders', 1, message);
    await Promise.all([
      store.writeDefinitions([{ op: 'put', kind: 'binding', value: binding }]),
      store.enqueue([other]),
    ]);
    await closeStore(store);
    let { store: s2, state } = await openStore(dir);
    expect(state.definitions!.bindings).toEqual([binding]);
    await s2.writeDefinitions([{ op: 'delete', kind: 'binding', key: binding }]);
    await closeStore(s2);
    ({ store: s2, state } = await openStore(dir));
    expect(state.definitions?.bindings ?? []).toEqual([]);
    expect(await recoveredIds(state, 'orders')).toEqual([1]);
  });
});
