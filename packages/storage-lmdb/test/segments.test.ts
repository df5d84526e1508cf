/**
 * Bodies live in segment files beside the LMDB index: segments are recycled once no entry
 * points into them, a fanout's body is written once and outlives all but its last entry,
 * and a damaged body costs that message only, never the store.
 */
import { closeSync, openSync, readdirSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import type { RecoveredState } from '@junction/core';
import { LmdbStore, StoreStateError } from '../src/index.js';
import type { RecordWriter } from '../src/records.js';
import { SegmentFiles } from '../src/segments.js';
import {
  closeStore,
  freshDir,
  leaveDeadLock,
  openStore,
  record as message,
  recoveredIds,
} from './fixtures.js';

async function reopen(store: LmdbStore, dir: string): Promise<{ store: LmdbStore; state: RecoveredState }> {
  await closeStore(store);
  return openStore(dir);
}

const record = (queue: string, id: number, size = 1024) =>
  message(queue, id, {
    exchange: 'x',
    routingKey: `k${id}`,
    properties: { deliveryMode: 2, headers: { n: id, tag: Buffer.from([id & 0xff]) } },
    body: Buffer.alloc(size, id & 0xff),
  });

const segmentFiles = (dir: string): string[] =>
  readdirSync(join(dir, 'segments')).filter((f) => f.endsWith('.seg'));

describe('body segments', () => {
  it('deletes segments once no entry points into them, and keeps the rest readable', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    // 200 x ~1 KiB over 16 KiB segments: about 13 files.
    await store.enqueue(Array.from({ length: 200 }, (_, i) => record('q', i + 1)));
    expect(segmentFiles(dir).length).toBeGreaterThan(10);
    await store.remove(Array.from({ length: 190 }, (_, i) => ({ vhost: '/', queue: 'q', messageId: i + 1 })));
    // Segments past the checkpoint are kept for replay until the next one.
    expect(segmentFiles(dir).length).toBeGreaterThan(10);
    await store.checkpoint();
    // What is left (ids 191..200) sits in the last one or two segments, plus the active one.
    expect(segmentFiles(dir).length).toBeLessThanOrEqual(3);
    const again = await reopen(store, dir);
    expect(await recoveredIds(again.state, 'q')).toEqual(Array.from({ length: 10 }, (_, i) => 191 + i));
    const [first] = await again.store.readEntries({ vhost: '/', queue: 'q' }, 0, 1);
    expect(first!.message.body).toEqual(Buffer.alloc(1024, 191));
    expect(first!.message.properties.headers).toEqual({ n: 191, tag: Buffer.from([191]) });
    expect(first!.message.routingKey).toBe('k191');
  });

  it('writes a fanout body once and keeps it until the last queue lets go', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir, 1024 * 1024);
    await store.enqueue([record('a', 1, 4096), record('b', 1, 4096), record('c', 1, 4096)]);
    const bytes = segmentFiles(dir).reduce((n, f) => n + statSync(join(dir, 'segments', f)).size, 0);
    expect(bytes).toBeGreaterThan(4096);
    expect(bytes).toBeLessThan(2 * 4096);
    await store.remove([
      { vhost: '/', queue: 'a', messageId: 1 },
      { vhost: '/', queue: 'b', messageId: 1 },
    ]);
    const again = await reopen(store, dir);
    expect(await recoveredIds(again.state, 'a')).toEqual([]);
    expect(await recoveredIds(again.state, 'c')).toEqual([1]);
  });

  it('drops an entry whose body is damaged, keeps the others, and stays usable', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir, 1024 * 1024);
    await store.enqueue([record('q', 1), record('q', 2), record('q', 3)]);
    await closeStore(store);
    // Overwrite the middle of message 2's body (records are ~1.1 KiB, in order).
    const [file] = segmentFiles(dir);
    const fd = openSync(join(dir, 'segments', file!), 'r+');
    writeSync(fd, Buffer.alloc(64, 0xee), 0, 64, 1700);
    closeSync(fd);
    const { store: s2, state } = await openStore(dir, 1024 * 1024);
    expect(await recoveredIds(state, 'q')).toEqual([1, 3]);
    // The unreadable entry is removed from the index, so it no longer counts.
    await new Promise((r) => setTimeout(r, 50));
    expect(await s2.countEntries({ vhost: '/', queue: 'q' })).toBe(2);
    await s2.enqueue([record('q', 4)]);
    expect((await s2.readEntries({ vhost: '/', queue: 'q' }, 3, 10)).map((r) => r.messageId)).toEqual([4]);
  });

  it('after a crash, drops entries whose bodies never reached the disk and flags the rest redelivered', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir, 1024 * 1024);
    await store.enqueue([record('q', 1), record('q', 2), record('q', 3)]);
    await store.markDelivered([{ vhost: '/', queue: 'q', messageId: 1 }]);
    await closeStore(store);
    // What SIGKILL can leave: the index committed, the last body never written (cut off), and
    // the lock of a broker that is gone.
    const [file] = segmentFiles(dir);
    truncateSync(join(dir, 'segments', file!), statSync(join(dir, 'segments', file!)).size - 100);
    leaveDeadLock(dir);
    const { store: s2, state } = await openStore(dir, 1024 * 1024);
    const got: [number, number][] = [];
    for await (const r of state.messages({ vhost: '/', queue: 'q' }))
      got.push([r.messageId, r.deliveryCount]);
    expect(got).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(await s2.countEntries({ vhost: '/', queue: 'q' })).toBe(2);
    // Messages enqueued after the restart are not flagged.
    await s2.enqueue([record('q', 10)]);
    expect(
      (await s2.readEntries({ vhost: '/', queue: 'q' }, 2, 10)).map((r) => [r.messageId, r.deliveryCount]),
    ).toEqual([[10, 0]]);
    // The flags outlive a clean restart (the crashed broker may have delivered them), new ones do not get them.
    await closeStore(s2);
    const { state: s3 } = await openStore(dir, 1024 * 1024);
    const again: [number, number][] = [];
    for await (const r of s3.messages({ vhost: '/', queue: 'q' })) again.push([r.messageId, r.deliveryCount]);
    expect(again).toEqual([
      [1, 1],
      [2, 1],
      [10, 0],
    ]);
  });

  it('commits the removals batched in the current turn before it closes', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    await store.enqueue([record('q', 1), record('q', 2)]);
    void store.remove([{ vhost: '/', queue: 'q', messageId: 1 }]); // not awaited: the broker does not either
    const again = await reopen(store, dir);
    expect(await recoveredIds(again.state, 'q')).toEqual([2]);
  });

  it('serves bytes whose write is still in flight, and checks every read', async () => {
    // The index can commit before the segment write does: a paging read in between must
    // still find the body.
    const dir = freshDir();
    const segments = new SegmentFiles(dir, 1024);
    segments.open();
    const raw = (bytes: Buffer): RecordWriter => ({
      size: bytes.length,
      write: (buf, at) => void bytes.copy(buf, at),
    });
    const a = segments.append(raw(Buffer.from('first body')));
    const b = segments.append(raw(Buffer.alloc(2000, 7))); // past maxBytes: a second segment
    expect(b.s).toBe(a.s + 1);
    segments.retain(a.s); // as the index entries pointing at them would
    segments.retain(b.s);
    const durable = segments.durable();
    expect(segments.read(a)?.toString()).toBe('first body');
    await durable;
    expect(segments.read(a)?.toString()).toBe('first body');
    expect(segments.read(b)).toEqual(Buffer.alloc(2000, 7));
    expect(segments.read({ ...a, c: a.c ^ 1 })).toBeUndefined();
    expect(segments.read({ ...b, o: b.o + 10 })).toBeUndefined(); // short read
    await segments.close();
  });

  it('refuses a data directory of the earlier format that kept bodies inside LMDB', async () => {
    const dir = freshDir();
    const root = open({ path: join(dir, 'junction.mdb'), maxDbs: 8 });
    await root.openDB({ name: 'defs' }).put(['vhost', '/'], { name: '/' });
    await root.openDB({ name: 'meta' }).put('format', 1);
    await root.close();
    const err = await new LmdbStore({ dir }).open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreStateError);
    expect((err as Error).message).toMatch(/store format 1 of an earlier Junction/);
  });
});
