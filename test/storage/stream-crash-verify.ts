/** What the stream crash and full-disk tests check after the child process is gone. */
import { expect } from 'vitest';
import type { Store } from '@junction/core';
import { CRASH_PRODUCERS, CRASH_REF, CRASH_SETTINGS, parseCrashBody } from './stream-crash-shape.js';

/** Folds the child's `confirmed` lines into the highest confirmed sequence per producer; returns how many. */
export function confirmedIn(
  lines: readonly Record<string, unknown>[],
  confirmed: Map<string, number>,
): number {
  let n = 0;
  for (const l of lines) {
    if (l['msg'] !== 'confirmed') continue;
    n++;
    const name = l['producer'] as string;
    confirmed.set(name, Math.max(confirmed.get(name) ?? 0, l['upTo'] as number));
  }
  return n;
}

/** Opens the store, reads the whole stream back and checks it against the highest confirmed sequence per producer. */
export async function verifyCrashStream(
  store: Store,
  confirmed: Map<string, number>,
): Promise<{ entries: number; segments: number }> {
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
