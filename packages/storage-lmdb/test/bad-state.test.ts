/**
 * A data directory the store cannot trust is an error at start, never a silent empty
 * broker: a corrupt file, a newer format, another live broker holding it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirLocked, FORMAT_VERSION, LmdbStore, StoreStateError } from '../src/index.js';
import { leaveDeadLock } from './fixtures.js';

const dirs: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'junction-badstate-'));
  dirs.push(d);
  return d;
};
/** Writes one key of the store's `meta` database directly, as damage or a newer version would. */
const putMeta = async (dir: string, key: string, value: unknown): Promise<void> => {
  const root = open({ path: join(dir, 'junction.mdb'), maxDbs: 8 });
  await root.openDB({ name: 'meta' }).put(key, value);
  await root.close();
};
/** A fresh store directory, opened and closed once, then its `meta` key set to `value`. */
const storeWithMeta = async (key: string, value: unknown): Promise<string> => {
  const dir = fresh();
  const s = new LmdbStore({ dir });
  await s.open();
  await s.close();
  await putMeta(dir, key, value);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('bad state at open', () => {
  it('refuses a corrupt store file', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'junction.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    const err = await new LmdbStore({ dir }).open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreStateError);
    expect((err as Error).message).toMatch(/corrupt|not LMDB/);
  });

  it('refuses a store written by a newer format', async () => {
    const dir = await storeWithMeta('format', FORMAT_VERSION + 1);
    const err = await new LmdbStore({ dir }).open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreStateError);
    expect((err as Error).message).toContain(`newer Junction (store format ${FORMAT_VERSION + 1}`);
  });

  it('refuses a store whose log checkpoint is damaged, and still lets the directory go', async () => {
    const dir = await storeWithMeta('checkpoint', 'x');
    const err = await new LmdbStore({ dir }).open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreStateError);
    expect((err as Error).message).toMatch(/corrupt: its log checkpoint is "x"/);
    // The refused open released the lock: a repaired directory opens.
    await putMeta(dir, 'checkpoint', [1, 0]);
    const again = new LmdbStore({ dir });
    await again.open();
    await again.close();
  });

  it("refuses a directory another live broker holds, and takes over a dead one's lock", async () => {
    const dir = fresh();
    const a = new LmdbStore({ dir });
    await a.open();
    const err = await new LmdbStore({ dir }).open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirLocked);
    expect((err as Error).message).toContain(`in use by another running broker (pid ${process.pid}`);
    // The refused starter left nothing behind: only the owner's lock socket is there.
    expect(readdirSync(dir).filter((n) => n.startsWith('junction.lock'))).toHaveLength(1);
    await a.close();
    expect(readdirSync(dir).filter((n) => n.startsWith('junction.lock'))).toEqual([]);

    // Another process holds it (a broker in another process: the lock is per kernel, not per process).
    const other = spawn(process.execPath, [
      '--conditions=@junction/source',
      '--import',
      'tsx',
      '-e',
      `import { LmdbStore } from '@junction/storage-lmdb';
       await new LmdbStore({ dir: ${JSON.stringify(dir)} }).open();
       console.log('open');
       setInterval(() => {}, 1000);`,
    ]);
    await new Promise<void>((resolve, reject) => {
      other.stdout.on('data', (d: Buffer) => d.toString().includes('open') && resolve());
      other.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
    });
    await expect(new LmdbStore({ dir }).open()).rejects.toThrow(`pid ${other.pid}`);
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    // Its owner is gone (SIGKILL leaves the socket file behind, nobody listening): the next
    // broker takes over, and knows the previous one crashed.
    expect(readdirSync(dir).filter((n) => n.startsWith('junction.lock'))).toHaveLength(1);
    const b = new LmdbStore({ dir });
    expect((await b.open()).definitions).toBeNull();
    expect((b as unknown as { lock: { takenOver: boolean } }).lock.takenOver).toBe(true);
    await b.close();
  });

  it('three brokers starting at once on one directory: at most one gets it', async () => {
    for (let round = 0; round < 5; round++) {
      const dir = fresh();
      leaveDeadLock(dir);
      const stores = Array.from({ length: 3 }, () => new LmdbStore({ dir }));
      const results = await Promise.allSettled(stores.map((s) => s.open()));
      const opened = results.filter((r) => r.status === 'fulfilled');
      expect(opened.length, `round ${round}`).toBeLessThanOrEqual(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(DataDirLocked);
      for (const s of stores) await s.close();
      // Whatever happened, a later start gets the directory.
      const later = new LmdbStore({ dir });
      await later.open();
      await later.close();
    }
  });
});
