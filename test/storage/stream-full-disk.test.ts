/**
 * A full disk under a stream, for real: the embedded store's data directory is on a small
 * tmpfs (mounted by the test, as full-disk.test.ts does), nearly filled by a filler file. A
 * child appends from two deduplicating producers until an append fails, frees the filler and
 * goes on with the same sequences. Afterwards the stream holds every confirmed entry once, in
 * order, with dense offsets: a failed append left nothing behind that a later one's offsets
 * could collide with.
 */
import { cpSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbStore } from '@junction/storage-lmdb';
import { spawnLogged } from '@junction/testkit';
import { smallDisk } from './small-disk.js';
import { confirmedIn, verifyCrashStream } from './stream-crash-verify.js';

const child = fileURLToPath(new URL('./stream-crash-child.ts', import.meta.url));
const disk = smallDisk('8m', 'stream-full-disk');
const copy = mkdtempSync(join(tmpdir(), 'junction-stream-full-copy-'));
afterAll(() => rmSync(copy, { recursive: true, force: true }));

describe('stream on a full disk: embedded store', () => {
  it('fails the appends that do not fit, keeps every confirmed one, and goes on densely once there is room', async () => {
    const dir = join(disk.path(), 'data');
    mkdirSync(dir);
    // Leave ~1.5 MiB free beside the filler: a few seconds of appends.
    const free = (): number => {
      const s = statfsSync(disk.path());
      return s.bavail * s.bsize;
    };
    const filler = join(disk.path(), 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 1.5 * 2 ** 20)));
    const p = spawnLogged(
      [process.execPath, '--conditions=@junction/source', '--import', 'tsx', child, 'lmdb', dir, filler],
      { env: { ...process.env } },
    );
    const code = await p.exited;
    expect(code, p.stderr()).toBe(0);
    const full = p.lines.find((l) => l['msg'] === 'disk full');
    expect(full?.['error']).toMatch(/ENOSPC|no space/i);
    const confirmed = new Map<string, number>();
    expect(confirmedIn(p.lines, confirmed)).toBeGreaterThan(500);
    // Read where there is room (opening writes the store's checkpoint); the dead broker's lock socket stays.
    cpSync(dir, join(copy, 'data'), { recursive: true, filter: (src) => !lstatSync(src).isSocket() });
    const { entries } = await verifyCrashStream(new LmdbStore({ dir: join(copy, 'data') }), confirmed);
    expect(entries).toBeGreaterThan(0);
  }, 120_000);
});
