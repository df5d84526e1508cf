/**
 * The embedded store's stream files after damage a crash can leave (the cross-store contract
 * is test/storage/stream-contract.test.ts; the kill test stream-crash.test.ts): a torn or
 * foreign tail past the last durable frame is cut, so offsets stay dense and appends go on
 * after the last good entry; a rewrite that never got its index row is deleted.
 */
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StreamAppend } from '@junction/core';
import { closeStore, freshDir, openStore } from './fixtures.js';

const ref = { vhost: '/', queue: 's' };
const settings = { maxSegmentBytes: 4096 };
const entry = (i: number): StreamAppend => ({
  timestamp: 1000 + i,
  message: {
    exchange: '',
    routingKey: `k${i % 2}`,
    properties: { headers: { i } },
    body: Buffer.alloc(300, i),
  },
});

/** The stream's directory (the only one under streams/) and its segment files, oldest first. */
function segmentFiles(dir: string): { streamDir: string; files: string[] } {
  const [id] = readdirSync(join(dir, 'streams'));
  const streamDir = join(dir, 'streams', id!);
  return { streamDir, files: readdirSync(streamDir).sort() };
}

/** A stream of 30 entries in a fresh directory, stopped cleanly; returns the directory and the entries' bytes. */
async function thirtyEntries(): Promise<{ dir: string; bytes: number }> {
  const dir = freshDir();
  const { store } = await openStore(dir);
  const log = await store.openStream(ref, settings);
  for (let i = 0; i < 30; i++) await log.append([entry(i)]);
  const bytes = log.stats().bytes;
  await closeStore(store);
  return { dir, bytes };
}

describe('embedded stream files', () => {
  it('cuts a torn tail and a frame out of sequence; appends go on densely', async () => {
    const { dir, bytes } = await thirtyEntries();
    const frameBytes = bytes / 30;
    const { streamDir, files } = segmentFiles(dir);
    const active = join(streamDir, files[files.length - 1]!);
    const size = statSync(active).size;
    // A whole frame copied again (valid CRC, wrong offset), then half a frame.
    const copy = readFileSync(active).subarray(0, frameBytes);
    appendFileSync(active, Buffer.concat([copy, copy.subarray(0, frameBytes / 2)]));
    const { store } = await openStore(dir);
    const log = await store.openStream(ref, settings);
    expect(statSync(active).size).toBe(size);
    expect(log.nextOffset).toBe(30);
    expect(await log.append([entry(30)])).toEqual({ firstOffset: 30, appended: 1 });
    const all = await log.read(0, 100);
    expect(all.map((e) => e.offset)).toEqual(Array.from({ length: 31 }, (_, i) => i));
    expect(all.map((e) => e.message.properties.headers?.['i'])).toEqual(
      Array.from({ length: 31 }, (_, i) => i),
    );
  });

  it('deletes a compaction rewrite its index row never named, and a dropped stream whole', async () => {
    const { dir } = await thirtyEntries();
    const { streamDir, files } = segmentFiles(dir);
    const orphan = join(streamDir, files[0]!.replace(/-0\.seg$/, '-1.seg'));
    writeFileSync(orphan, 'half a rewrite');
    const { store } = await openStore(dir);
    const log = await store.openStream(ref, settings);
    expect(segmentFiles(dir).files).toEqual(files);
    expect((await log.read(0, 100)).length).toBe(30);
    await store.dropStream(ref);
    expect(readdirSync(join(dir, 'streams'))).toEqual([]);
  });

  it('keeps a bounded number of segment files open however many segments a stream has', async () => {
    const dir = freshDir();
    const { store } = await openStore(dir);
    const log = await store.openStream(ref, { maxSegmentBytes: 200 });
    const openFiles = (): number => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (let i = 0; i < 150; i++) await log.append([entry(i)]);
    expect((await log.read(0, 200)).length).toBe(150);
    expect(log.stats().segments).toBe(150);
    expect(openFiles() - before).toBeLessThanOrEqual(40);
  });
});
