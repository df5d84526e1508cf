/**
 * The segment files are the store's log: entries reach the LMDB index only at checkpoints,
 * and what was logged after the last one is replayed at open. A "crash" here is a copy of
 * the data directory taken while the store runs (what SIGKILL leaves: every write that was
 * issued, no close), opened with the lock of a process that is gone.
 */
import { readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import type { RecoveredState } from '@junction/core';
import {
  closeStore,
  copyDataDir,
  freshDir,
  leaveDeadLock,
  openStore as openWithSegments,
  record as message,
} from './fixtures.js';

const openStore = (dir: string) => openWithSegments(dir, 1024 * 1024);

/** The data directory as a SIGKILL would leave it, in a new directory. */
function crashCopy(dir: string): string {
  const copy = freshDir();
  copyDataDir(dir, copy);
  leaveDeadLock(copy);
  return copy;
}

const record = (queue: string, id: number) =>
  message(queue, id, {
    exchange: '',
    routingKey: queue,
    properties: { deliveryMode: 2 },
    body: Buffer.from(`body ${id}`),
  });

const ack = (queue: string, messageId: number) => ({ vhost: '/', queue, messageId });

async function contents(state: RecoveredState, queue: string): Promise<[number, number, string][]> {
  const out: [number, number, string][] = [];
  for await (const r of state.messages({ vhost: '/', queue }))
    out.push([r.messageId, r.deliveryCount, r.message.body.toString()]);
  return out;
}

describe('the log', () => {
  it('replays what came after the checkpoint: unacked entries come back flagged, acked ones stay gone', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    await store.enqueue([record('q', 1), record('q', 2), record('q', 3)]);
    await store.checkpoint(); // 1-3 in the index
    await store.enqueue([record('q', 4)]);
    await store.enqueue([record('q', 5)]);
    await store.enqueue([record('q', 6)]);
    await store.remove([ack('q', 2), ack('q', 5)]); // one from the index, one only logged
    const { store: recovered, state } = await openStore(crashCopy(dir));
    expect(await contents(state, 'q')).toEqual([
      [1, 1, 'body 1'],
      [3, 1, 'body 3'],
      [4, 1, 'body 4'],
      [6, 1, 'body 6'],
    ]);
    expect(await recovered.countEntries({ vhost: '/', queue: 'q' })).toBe(4);
    // The running store is unaffected, and reads its unindexed entries too.
    expect((await store.readEntries({ vhost: '/', queue: 'q' }, 0, 10)).map((r) => r.messageId)).toEqual([
      1, 3, 4, 6,
    ]);
  });

  it('replays a fanout record into each queue it went to', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    await store.enqueue([record('a', 1), record('b', 1), record('c', 1)]);
    await store.remove([ack('a', 1)]);
    const { state } = await openStore(crashCopy(dir));
    expect(await contents(state, 'a')).toEqual([]);
    expect(await contents(state, 'b')).toEqual([[1, 1, 'body 1']]);
    expect(await contents(state, 'c')).toEqual([[1, 1, 'body 1']]);
  });

  it('does not bring back the logged entries of a queue dropped since', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    await store.enqueue([record('q', 1)]);
    await store.enqueue([record('q', 2)]);
    await store.dropQueue({ vhost: '/', queue: 'q' });
    await store.enqueue([record('q', 3)]); // declared again
    const { state } = await openStore(crashCopy(dir));
    expect(await contents(state, 'q')).toEqual([[3, 1, 'body 3']]);
  });

  it('stops replaying a segment at a torn record and keeps what precedes it', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    for (let id = 1; id <= 3; id++) await store.enqueue([record('q', id)]);
    const copy = crashCopy(dir);
    const segments = readdirSync(join(copy, 'segments')).sort();
    const last = join(copy, 'segments', segments[segments.length - 1]!);
    truncateSync(last, statSync(last).size - 3); // the last record's write cut short
    const { store: recovered, state } = await openStore(copy);
    expect(await contents(state, 'q')).toEqual([
      [1, 1, 'body 1'],
      [2, 1, 'body 2'],
    ]);
    // The recovered store appends after the damage, in a new segment, and replays cleanly.
    await recovered.enqueue([record('q', 7)]);
    const { state: again } = await openStore(crashCopy(copy));
    expect((await contents(again, 'q')).map(([id]) => id)).toEqual([1, 2, 7]);
  });

  it('reads and counts the entries a checkpoint in progress is still committing to the index', async () => {
    const { store } = await openStore(freshDir());
    const q = { vhost: '/', queue: 'q' };
    await store.enqueue([record('q', 1), record('q', 2), record('q', 3)]);
    // As if the checkpoint timer fired just now: it takes 1-3 out of the log's held entries,
    // and its LMDB commit has not run when the reads below look at the index.
    const running = store.checkpoint();
    const read = store.readEntries(q, 0, 10);
    const counted = store.countEntries(q);
    expect((await read).map((r) => r.messageId)).toEqual([1, 2, 3]);
    expect(await counted).toBe(3);
    await running;
    // An entry logged while a checkpoint runs is read too (the read takes the next checkpoint).
    await store.enqueue([record('q', 4)]);
    const again = store.checkpoint();
    await store.enqueue([record('q', 5)]);
    expect((await store.readEntries(q, 2, 10)).map((r) => r.messageId)).toEqual([3, 4, 5]);
    await again;
  });

  it('indexes everything at a clean close: the checkpoint is the end of the log', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    await store.enqueue([record('q', 1), record('q', 2)]);
    await closeStore(store);
    const env = open({ path: join(dir, 'junction.mdb'), maxDbs: 8 });
    const [s, o] = env.openDB({ name: 'meta' }).get('checkpoint') as [number, number];
    await env.close();
    expect(o).toBeGreaterThan(0);
    expect(o).toBe(statSync(join(dir, 'segments', `${String(s).padStart(8, '0')}.seg`)).size);
    const { state } = await openStore(dir);
    expect(await contents(state, 'q')).toEqual([
      [1, 0, 'body 1'],
      [2, 0, 'body 2'],
    ]);
  });
});
