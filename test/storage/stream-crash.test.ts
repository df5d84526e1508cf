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
import { seededRandom, spawnLogged } from '@junction/testkit';
import { confirmedIn, verifyCrashStream } from './stream-crash-verify.js';

const child = fileURLToPath(new URL('./stream-crash-child.ts', import.meta.url));
const KILLS = 20;
const SEED = 1501;
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'junction-stream-crash-'));
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

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
      const confirms = confirmedIn(p.lines, confirmed);
      const now = await verifyCrashStream(dir, confirmed);
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
