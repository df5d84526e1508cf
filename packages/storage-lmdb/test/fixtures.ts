/**
 * Embedded stores in temporary data directories, closed and removed after each test.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach } from 'vitest';
import type { EnqueueRecord, Message, RecoveredState } from '@junction/core';
import { LmdbStore } from '../src/index.js';

const dirs: string[] = [];
const stores: LmdbStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'junction-lmdb-test-'));
  dirs.push(d);
  return d;
}

export async function openStore(
  dir: string,
  segmentBytes = 16 * 1024,
): Promise<{ store: LmdbStore; state: RecoveredState }> {
  const store = new LmdbStore({ dir, segmentBytes });
  stores.push(store);
  return { store, state: await store.open() };
}

/** Closes a store before the test ends (as a clean stop does). */
export async function closeStore(store: LmdbStore): Promise<void> {
  stores.splice(stores.indexOf(store), 1);
  await store.close();
}

/** A persistent message's record for queue `queue` in vhost '/', never delivered, no TTL. */
export function record(queue: string, id: number, message: Omit<Message, 'id'>): EnqueueRecord {
  return { vhost: '/', queue, messageId: id, expiresAt: 0, deliveryCount: 0, message: { id, ...message } };
}

/** The ids of the messages a reopened store recovered for `queue` in vhost '/', in order. */
export async function recoveredIds(state: RecoveredState, queue: string): Promise<number[]> {
  const out: number[] = [];
  for await (const r of state.messages({ vhost: '/', queue })) out.push(r.messageId);
  return out;
}

/**
 * What a broker killed with SIGKILL leaves in its data directory: its lock socket, with
 * nobody listening on it. A child process binds it and kills itself.
 */
export function leaveDeadLock(dir: string): void {
  const path = join(dir, `junction.lock.dead${process.hrtime.bigint()}`);
  const r = spawnSync(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  if (r.signal !== 'SIGKILL' || !existsSync(path)) throw new Error(`could not leave a dead lock at ${path}`);
}

/** Copies a data directory file by file; lock sockets are not files and stay behind. */
export function copyDataDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true, filter: (src) => !basename(src).startsWith('junction.lock.') });
}
