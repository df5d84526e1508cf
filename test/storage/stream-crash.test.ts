/**
 * Nothing confirmed is lost from a stream: a child process appends to a stream on the
 * embedded store from two deduplicating producers, printing each confirm, and is killed with
 * SIGKILL at 20 random moments. After each kill the stream holds every confirmed entry, each
 * producer's sequences once each and in order with none missing, and offsets without gaps;
 * the next life resumes from what the previous one left (resending a few entries, which dedup
 * drops).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbStore } from '@junction/storage-lmdb';
import { seededRandom, spawnLogged } from '@junction/testkit';
import { CRASH_PRODUCERS, CRASH_REF, CRASH_SETTINGS, parseCrashBody } from './stream-crash-shape.js';

const child = fileURLToPath(new URL('./stream-crash-child.ts', import.meta.url));
const KILLS = 20;
const SEED = 1501;
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'junction-stream-crash-'));
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Reads the whole stream back and checks it against the highest confirmed sequence per producer. */
async function verify(confirmed: Map<string, number>): Promise<{ entries: number; segments: number }> {
  const store = new LmdbStore({ dir });
  await store.open();
  const log = await store.openStream(CRASH_REF, CRASH_SETTINGS);
  try {
    const offsets: number[] = [];
    const seqs = new Map<string, number[]>(CRASH_PRODUCERS.map((p) => [p, []]));
    for (let at = 0; at < log.nextOffset;) {
      const got = await log.read(at, 500);
      if (got.length === 0) break;
      for (const e of got) {
        offsets.push(e.offset);
        const { producer, seq } = parseCrashBody(e.message.body);
        seqs.get(producer)!.push(seq);
      }
      at = got[got.length - 1]!.offset + 1;
    }
    expect(offsets.length, 'offsets from 0 to nextOffset, no gaps').toBe(log.nextOffset);
    expect(
      offsets.every((o, i) => o === i),
      'offsets dense from 0',
    ).toBe(true);
    for (const p of CRASH_PRODUCERS) {
      const s = seqs.get(p)!;
      expect(
        s.every((q, i) => q === i + 1),
        `${p}: sequences 1..n once each, in order`,
      ).toBe(true);
      expect(s.length, `${p}: every confirmed entry is there`).toBeGreaterThanOrEqual(confirmed.get(p) ?? 0);
      expect(log.lastProducerSequence(p) ?? 0).toBe(s.length);
    }
    return { entries: offsets.length, segments: log.stats().segments };
  } finally {
    await log.close();
    await store.close();
  }
}

describe('stream crash: embedded store', () => {
  it(`keeps every confirmed entry, in order, without gaps, across ${KILLS} SIGKILLs`, async () => {
    const r = seededRandom(SEED);
    const confirmed = new Map<string, number>();
    let last = { entries: 0, segments: 0 };
    for (let life = 0; life < KILLS; life++) {
      const p = spawnLogged(
        [process.execPath, '--conditions=@junction/source', '--import', 'tsx', child, 'lmdb', dir],
        { env: { ...process.env } },
      );
      children.push(p.child);
      await p.line('ready', 60_000);
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.floor(r() * 600)));
      p.child.kill('SIGKILL');
      await p.exited;
      let confirms = 0;
      for (const l of p.lines) {
        if (l['msg'] !== 'confirmed') continue;
        confirms++;
        const name = l['producer'] as string;
        confirmed.set(name, Math.max(confirmed.get(name) ?? 0, l['upTo'] as number));
      }
      const now = await verify(confirmed);
      expect(
        now.entries,
        `life ${life} (seed ${SEED}) appended nothing: the kill came too early`,
      ).toBeGreaterThan(last.entries);
      expect(confirms).toBeGreaterThan(0);
      last = now;
    }
    expect(last.segments, 'lives rolled segments').toBeGreaterThan(1);
  }, 300_000);
});
