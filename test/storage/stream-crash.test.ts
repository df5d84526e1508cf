/**
 * Nothing confirmed is lost from a stream: a child process appends to a stream from two
 * deduplicating producers, printing each confirm, and is killed with SIGKILL at 20 random
 * moments: on the embedded store (its files and index are what the kill interrupts), and on
 * Redis (a real redis-server that outlives the child: what a kill interrupts is the client,
 * and resent appends must not double). After each kill the stream holds every confirmed entry, each
 * producer's sequences once each and in order with none missing, and offsets without gaps;
 * the next life resumes from what the previous one left (resending a few entries, which dedup
 * drops).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Store } from '@junction/core';
import { LmdbStore } from '@junction/storage-lmdb';
import { RedisStore } from '@junction/storage-redis';
import { seededRandom, spawnLogged, startRedis } from '@junction/testkit';
import { CRASH_KEY_PREFIX } from './stream-crash-shape.js';
import { confirmedIn, verifyCrashStream } from './stream-crash-verify.js';

const child = fileURLToPath(new URL('./stream-crash-child.ts', import.meta.url));
const KILLS = 20;
/** The child of the life running, killed if a test fails before its kill point. */
let running: ChildProcess | undefined;

interface CrashStore {
  name: string;
  seed: number;
  start(): Promise<{ args: string[]; store(): Store; cleanup(): Promise<void> }>;
}

const crashStores: CrashStore[] = [
  {
    name: 'embedded store',
    seed: 1501,
    async start() {
      const dir = mkdtempSync(join(tmpdir(), 'junction-stream-crash-'));
      return {
        args: ['lmdb', dir],
        store: () => new LmdbStore({ dir }),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'Redis',
    seed: 1502,
    async start() {
      const server = await startRedis();
      return {
        args: ['redis', server.url],
        store: () => new RedisStore({ url: server.url, keyPrefix: CRASH_KEY_PREFIX }),
        cleanup: () => server.cleanup(),
      };
    },
  },
];

for (const backend of crashStores) {
  describe(`stream crash: ${backend.name}`, () => {
    it(`keeps every confirmed entry, in order, without gaps, across ${KILLS} SIGKILLs`, async () => {
      const SEED = backend.seed;
      const r = seededRandom(SEED);
      const fx = await backend.start();
      const confirmed = new Map<string, number>();
      let last = { entries: 0, segments: 0 };
      try {
        for (let life = 0; life < KILLS; life++) {
          const p = spawnLogged(
            [process.execPath, '--conditions=@junction/source', '--import', 'tsx', child, ...fx.args],
            { env: { ...process.env } },
          );
          running = p.child;
          await p.line('ready', 60_000);
          await new Promise((resolve) => setTimeout(resolve, 50 + Math.floor(r() * 600)));
          p.child.kill('SIGKILL');
          await p.exited;
          const confirms = confirmedIn(p.lines, confirmed);
          const now = await verifyCrashStream(fx.store(), confirmed);
          expect(
            now.entries,
            `life ${life} (seed ${SEED}) appended nothing: the kill came too early`,
          ).toBeGreaterThan(last.entries);
          expect(confirms).toBeGreaterThan(0);
          last = now;
        }
      } finally {
        if (running && running.exitCode === null && running.signalCode === null) running.kill('SIGKILL');
        await fx.cleanup();
      }
      expect(last.segments, 'lives rolled segments').toBeGreaterThan(1);
    }, 300_000);
  });
}
