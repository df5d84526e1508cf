/**
 * The stream log contract (Store.openStream), one suite for every backend: dense offsets,
 * timestamp lookup, segment roll, retention by whole segments, compaction, producer dedup,
 * and consumer offsets, producer sequences and retention surviving a reopen.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Store, StreamAppend, StreamLog, StreamSettings } from '@junction/core';
import { streamBackends, type BackendFixture } from './backends.js';

const ref = { vhost: 'iot', queue: 'readings' };

const entry = (i: number, timestamp: number, key = `k.${i}`, size = 100): StreamAppend => ({
  timestamp,
  message: {
    exchange: 'amq.topic',
    routingKey: key,
    properties: { deliveryMode: 2, contentType: 'text/plain', headers: { n: i, nested: { ok: true } } },
    body: Buffer.alloc(size, i % 251),
  },
});

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

async function readAll(log: StreamLog, from = 0): Promise<number[]> {
  const out: number[] = [];
  for (let at = from; ;) {
    const got = await log.read(at, 7);
    if (got.length === 0) return out;
    for (const e of got) out.push(e.offset);
    at = got[got.length - 1]!.offset + 1;
  }
}

for (const backend of streamBackends) {
  describe(`Stream log contract: ${backend.name}`, () => {
    let fx: BackendFixture;
    const stores: Store[] = [];
    const logs: StreamLog[] = [];
    const open = async (settings: StreamSettings): Promise<{ store: Store; log: StreamLog }> => {
      const store = fx.reopen();
      stores.push(store);
      await store.open();
      const log = await store.openStream(ref, settings);
      logs.push(log);
      return { store, log };
    };
    /** Closes the log and the store, then opens both again, as a restarted broker would. */
    const restart = async (
      s: { store: Store; log: StreamLog },
      settings: StreamSettings,
    ): Promise<{ store: Store; log: StreamLog }> => {
      await s.log.close();
      await s.store.close();
      return open(settings);
    };
    afterEach(async () => {
      for (const l of logs.splice(0)) await l.close();
      for (const s of stores.splice(0)) await s.close();
      await fx.cleanup();
    });

    it('appends with dense offsets from 0 and reads them back intact, clamped and bounded', async () => {
      fx = await backend.fresh();
      const { log } = await open({ maxSegmentBytes: 1_000_000 });
      expect([log.firstOffset, log.nextOffset]).toEqual([0, 0]);
      expect(await log.read(0, 10)).toEqual([]);
      expect(await log.append([entry(0, 1000), entry(1, 1001)])).toEqual({ firstOffset: 0, appended: 2 });
      expect(await log.append([entry(2, 1002)])).toEqual({ firstOffset: 2, appended: 1 });
      expect(log.nextOffset).toBe(3);
      const all = await log.read(0, 10);
      expect(all.map((e) => e.offset)).toEqual([0, 1, 2]);
      expect(all[1]).toEqual({ offset: 1, timestamp: 1001, message: entry(1, 1001).message });
      expect((await log.read(1, 1)).map((e) => e.offset)).toEqual([1]);
      expect(await log.read(3, 10)).toEqual([]);
      expect(log.stats()).toMatchObject({ messages: 3, segments: 1 });
    });

    it('assigns offsets in call order to appends made at once (one group commit)', async () => {
      fx = await backend.fresh();
      const { log } = await open({ maxSegmentBytes: 1_000 });
      const results = await Promise.all(
        range(0, 50).map((i) => log.append([entry(2 * i, i), entry(2 * i + 1, i)])),
      );
      expect(results.map((r) => r.firstOffset)).toEqual(range(0, 50).map((i) => 2 * i));
      const read = await log.read(0, 1000);
      expect(read.map((e) => e.offset)).toEqual(range(0, 100));
      expect(read.map((e) => e.message.properties.headers?.['n'])).toEqual(range(0, 100));
      // More than one write carries (they are bounded): still in call order, none lost.
      const many = await Promise.all(range(100, 4300).map((i) => log.append([entry(i, 100, 'k', 10)])));
      expect(many.map((r) => r.firstOffset)).toEqual(range(100, 4300));
      expect(log.stats().messages).toBe(4300);
      expect((await log.read(4290, 100)).map((e) => e.message.properties.headers?.['n'])).toEqual(
        range(4290, 4300),
      );
    });

    it('finds the first offset at or after a timestamp, across segments; timestamps never go down', async () => {
      fx = await backend.fresh();
      const { log } = await open({ maxSegmentBytes: 450 });
      // 100-byte bodies, so a few entries per segment; the clock steps back at entry 6.
      const ts = [1000, 1000, 2000, 2000, 2000, 3000, 2500, 4000, 5000, 5000, 6000, 7000];
      for (let i = 0; i < ts.length; i++) await log.append([entry(i, ts[i]!)]);
      expect(log.stats().segments).toBeGreaterThan(2);
      const read = await log.read(0, 100);
      expect(read.map((e) => e.timestamp)).toEqual([
        1000, 1000, 2000, 2000, 2000, 3000, 3000, 4000, 5000, 5000, 6000, 7000,
      ]);
      expect(await log.offsetForTimestamp(0)).toBe(0);
      expect(await log.offsetForTimestamp(1000)).toBe(0);
      expect(await log.offsetForTimestamp(1001)).toBe(2);
      expect(await log.offsetForTimestamp(3000)).toBe(5);
      expect(await log.offsetForTimestamp(3500)).toBe(7);
      expect(await log.offsetForTimestamp(5000)).toBe(8);
      expect(await log.offsetForTimestamp(7000)).toBe(11);
      expect(await log.offsetForTimestamp(7001)).toBe(12);
    });

    it('rolls segments at maxSegmentBytes and reads straight across them', async () => {
      fx = await backend.fresh();
      const { log } = await open({ maxSegmentBytes: 1_000 });
      for (let i = 0; i < 40; i++) await log.append([entry(i, 1000 + i)]);
      const st = log.stats();
      expect(st.messages).toBe(40);
      // Each segment stays within maxSegmentBytes: at least bytes/1000 segments, not one per entry.
      expect(st.segments).toBeGreaterThanOrEqual(Math.ceil(st.bytes / 1_000));
      expect(st.segments).toBeLessThan(40);
      expect(await readAll(log)).toEqual(range(0, 40));
      expect((await log.read(17, 9)).map((e) => e.offset)).toEqual(range(17, 26));
    });

    it('retention by bytes deletes whole oldest segments; a reader below firstOffset is clamped to it', async () => {
      fx = await backend.fresh();
      const settings = { maxSegmentBytes: 1_000, maxBytes: 3_000 };
      const { log } = await open(settings);
      for (let i = 0; i < 60; i++) await log.append([entry(i, 1000 + i)]);
      const before = log.stats();
      const first = await log.enforceRetention(10_000);
      const after = log.stats();
      expect(first).toBe(log.firstOffset);
      expect(first).toBeGreaterThan(0);
      expect(after.bytes).toBeLessThanOrEqual(3_000);
      expect(after.segments).toBeLessThan(before.segments);
      // Whole segments: what is left is every entry from firstOffset on, none missing.
      expect(after.messages).toBe(60 - first);
      expect(await readAll(log, 0)).toEqual(range(first, 60));
      expect((await log.read(0, 1))[0]?.offset).toBe(first);
      expect(await log.offsetForTimestamp(0)).toBe(first);
      // Appends go on densely after retention.
      expect(await log.append([entry(60, 2000)])).toEqual({ firstOffset: 60, appended: 1 });
    });

    it('updateSettings applies new limits and segment size to an open log (a policy changed)', async () => {
      fx = await backend.fresh();
      // One big segment and no limit: nothing can go.
      const { log } = await open({ maxSegmentBytes: 1_000_000 });
      for (let i = 0; i < 30; i++) await log.append([entry(i, 1000 + i)]);
      expect(await log.enforceRetention(10_000)).toBe(0);
      expect(() => log.updateSettings({ maxSegmentBytes: 0 })).toThrow(RangeError);
      log.updateSettings({ maxSegmentBytes: 1_000, maxBytes: 3_000 });
      // The next appends roll at the new size, closing the big segment; retention then drops it.
      for (let i = 30; i < 60; i++) await log.append([entry(i, 1000 + i)]);
      expect(log.stats().segments).toBeGreaterThan(3);
      const first = await log.enforceRetention(10_000);
      expect(first).toBeGreaterThanOrEqual(30);
      expect(log.stats().bytes).toBeLessThanOrEqual(3_000);
      expect(await readAll(log, 0)).toEqual(range(first, 60));
      // Back to no limit: what is left stays.
      log.updateSettings({ maxSegmentBytes: 1_000 });
      for (let i = 60; i < 90; i++) await log.append([entry(i, 1000 + i)]);
      expect(await log.enforceRetention(10_000)).toBe(first);
    });

    it('retention by age deletes the segments whose newest entry is older than maxAgeMs, never the active one', async () => {
      fx = await backend.fresh();
      const { log } = await open({ maxSegmentBytes: 1_000, maxAgeMs: 10_000 });
      for (let i = 0; i < 20; i++) await log.append([entry(i, 1_000)]); // old
      for (let i = 20; i < 40; i++) await log.append([entry(i, 50_000)]); // recent
      const first = await log.enforceRetention(55_000);
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(20);
      const left = await log.read(0, 100);
      expect(left[0]!.offset).toBe(first);
      expect(left.filter((e) => e.timestamp === 1_000).length).toBeLessThan(20);
      expect(left.filter((e) => e.timestamp === 50_000).map((e) => e.offset)).toEqual(range(20, 40));
      // Everything is old now, but the active segment stays, so the stream keeps its place.
      const last = await log.enforceRetention(1_000_000);
      expect(log.stats().segments).toBe(1);
      expect(last).toBeGreaterThan(first);
      expect(log.nextOffset).toBe(40);
      expect((await log.read(0, 100)).map((e) => e.offset)).toEqual(range(last, 40));
    });

    it('compaction keeps the latest entry per routing key in closed segments, never touching the active one', async () => {
      fx = await backend.fresh();
      const { log } = await open({ maxSegmentBytes: 1_000, compact: true });
      const keys = ['a', 'b', 'c'];
      for (let i = 0; i < 45; i++) await log.append([entry(i, 1000 + i, keys[i % 3])]);
      // An entry larger than a segment gets one of its own, so the active segment starts at 46.
      await log.append([entry(45, 2000, 'z', 2_000)]);
      await log.append([entry(46, 2001, 'a'), entry(47, 2002, 'b')]);
      const before = log.stats();
      await log.enforceRetention(3000);
      const read = await log.read(0, 100);
      expect(read.map((e) => e.offset)).toEqual([42, 43, 44, 45, 46, 47]);
      expect(read.map((e) => e.message.routingKey)).toEqual(['a', 'b', 'c', 'z', 'a', 'b']);
      expect(log.stats().messages).toBe(6);
      expect(log.stats().bytes).toBeLessThan(before.bytes);
      expect(log.nextOffset).toBe(48);
      // A reader in a compacted-away range goes on at the next kept entry.
      expect((await log.read(10, 2)).map((e) => e.offset)).toEqual([42, 43]);
      // Compacting again changes nothing; appends go on at nextOffset.
      await log.enforceRetention(4000);
      expect((await log.read(0, 100)).map((e) => e.offset)).toEqual([42, 43, 44, 45, 46, 47]);
      expect(await log.append([entry(48, 2003, 'c')])).toEqual({ firstOffset: 48, appended: 1 });
    });

    it('deduplicates a producer by sequence: a resend stores only what is new', async () => {
      fx = await backend.fresh();
      const { log } = await open({ maxSegmentBytes: 1_000_000 });
      expect(log.lastProducerSequence('sensor-1')).toBeUndefined();
      const e = range(0, 8).map((i) => entry(i, 1000));
      expect(await log.append(e.slice(0, 5), { name: 'sensor-1', firstSequence: 1 })).toEqual({
        firstOffset: 0,
        appended: 5,
      });
      // Sequences 3..7 again after a "reconnect": 3, 4, 5 are skipped.
      expect(await log.append(e.slice(2, 7), { name: 'sensor-1', firstSequence: 3 })).toEqual({
        firstOffset: 5,
        appended: 2,
      });
      expect(await log.append(e.slice(0, 2), { name: 'sensor-1', firstSequence: 1 })).toEqual({
        firstOffset: 7,
        appended: 0,
      });
      expect(await log.append(e.slice(0, 1), { name: 'sensor-2', firstSequence: 1 })).toEqual({
        firstOffset: 7,
        appended: 1,
      });
      expect(log.lastProducerSequence('sensor-1')).toBe(7);
      expect(log.lastProducerSequence('sensor-2')).toBe(1);
      const read = await log.read(0, 100);
      expect(read.map((x) => x.message.properties.headers?.['n'])).toEqual([0, 1, 2, 3, 4, 5, 6, 0]);
    });

    it('keeps entries, consumer offsets, producer sequences and retention across a reopen', async () => {
      fx = await backend.fresh();
      const settings = { maxSegmentBytes: 1_000, maxBytes: 3_000 };
      let s = await open(settings);
      for (let i = 0; i < 30; i++)
        await s.log.append([entry(i, 1000 + i)], { name: 'p', firstSequence: i + 1 });
      await s.log.storeConsumerOffset('dashboard', 12);
      await s.log.storeConsumerOffset('dashboard', 17);
      await s.log.storeConsumerOffset('analytics', 3);
      const first = await s.log.enforceRetention(5000);
      const stats = s.log.stats();
      s = await restart(s, settings);
      expect([s.log.firstOffset, s.log.nextOffset]).toEqual([first, 30]);
      expect(s.log.stats()).toEqual(stats);
      expect(s.log.consumerOffset('dashboard')).toBe(17);
      expect(s.log.consumerOffset('analytics')).toBe(3);
      expect(s.log.consumerOffset('nobody')).toBeUndefined();
      expect(s.log.lastProducerSequence('p')).toBe(30);
      expect(await readAll(s.log)).toEqual(range(first, 30));
      expect(await s.log.offsetForTimestamp(1020)).toBe(20);
      // Appending after the reopen continues the offsets and the producer's dedup.
      expect(await s.log.append([entry(29, 1), entry(30, 2000)], { name: 'p', firstSequence: 30 })).toEqual({
        firstOffset: 30,
        appended: 1,
      });
      s = await restart(s, settings);
      expect(s.log.nextOffset).toBe(31);
      expect((await s.log.read(30, 5)).map((e) => e.message.properties.headers?.['n'])).toEqual([30]);
    });

    it('one log per open stream; dropStream deletes it, streams of other queues untouched', async () => {
      fx = await backend.fresh();
      const s = await open({ maxSegmentBytes: 1_000 });
      expect(await s.store.openStream(ref, { maxSegmentBytes: 1_000 })).toBe(s.log);
      const other = await s.store.openStream({ vhost: 'iot', queue: 'other' }, { maxSegmentBytes: 1_000 });
      logs.push(other);
      for (let i = 0; i < 20; i++) await s.log.append([entry(i, 1000)]);
      await other.append([entry(0, 1000)]);
      await s.log.storeConsumerOffset('c', 5);
      await s.store.dropStream(ref);
      const again = await s.store.openStream(ref, { maxSegmentBytes: 1_000 });
      logs.push(again);
      expect([again.firstOffset, again.nextOffset]).toEqual([0, 0]);
      expect(again.consumerOffset('c')).toBeUndefined();
      expect(await again.read(0, 10)).toEqual([]);
      expect((await other.read(0, 10)).map((e) => e.offset)).toEqual([0]);
    });
  });
}
