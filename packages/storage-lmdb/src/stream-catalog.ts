/**
 * Which streams the embedded store holds and where: LMDB `streams` maps [vhost, queue] to a
 * stream id, never reused, and the stream's segment files are in streams/<id>/ (an id, not the
 * names: queue names are client-chosen and any byte may be in them). Open logs are kept here,
 * one per stream, and closed with the store.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import type { QueueRef, StreamLog, StreamSettings } from '@junction/core';
import { fsyncDirectory } from './frames.js';
import { LmdbStreamLog, type StreamKey } from './stream-files.js';

const queueKey = (q: QueueRef): string => `${q.vhost}\u0000${q.queue}`;

export class StreamCatalog {
  private readonly ids: Database<number, StreamKey>;
  private readonly data: Database<unknown, StreamKey>;
  private readonly meta: Database<unknown, string>;
  private readonly open = new Map<string, Promise<LmdbStreamLog>>();
  private readonly dir: string;

  constructor(
    root: RootDatabase,
    meta: Database<unknown, string>,
    dataDir: string,
    private readonly onFailure: (err: unknown) => void,
  ) {
    this.ids = root.openDB({ name: 'streams' });
    this.data = root.openDB({ name: 'streamData' });
    this.meta = meta;
    this.dir = join(dataDir, 'streams');
    mkdirSync(this.dir, { recursive: true });
  }

  /** Deletes the directories of streams no longer in the catalog (a drop interrupted after its commit). */
  removeOrphans(): void {
    const known = new Set<string>();
    for (const { value } of this.ids.getRange()) known.add(String(value));
    for (const name of readdirSync(this.dir))
      if (/^\d+$/.test(name) && !known.has(name))
        rmSync(join(this.dir, name), { recursive: true, force: true });
  }

  openStream(ref: QueueRef, settings: StreamSettings): Promise<StreamLog> {
    const key = queueKey(ref);
    let log = this.open.get(key);
    if (!log) {
      log = this.load(ref, settings, key).then(undefined, (err: unknown) => {
        this.open.delete(key);
        throw err;
      });
      this.open.set(key, log);
    }
    return log;
  }

  private async load(ref: QueueRef, settings: StreamSettings, key: string): Promise<LmdbStreamLog> {
    let id = this.ids.get([ref.vhost, ref.queue]);
    if (id === undefined) {
      const next = this.meta.get('nextStreamId');
      id = typeof next === 'number' ? next : 1;
      const dir = join(this.dir, String(id));
      // A directory left by a crash between mkdir and the commit below holds nothing durable.
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      fsyncDirectory(this.dir);
      await Promise.all([this.meta.put('nextStreamId', id + 1), this.ids.put([ref.vhost, ref.queue], id)]);
    }
    const dir = join(this.dir, String(id));
    if (!existsSync(dir))
      throw new Error(`stream ${ref.vhost}/${ref.queue}: its directory ${dir} is missing`);
    return LmdbStreamLog.open(settings, dir, id, this.data, {
      onClose: () => this.open.delete(key),
      onFailure: this.onFailure,
    });
  }

  async dropStream(ref: QueueRef): Promise<void> {
    const open = this.open.get(queueKey(ref));
    if (open) await (await open).close();
    const id = this.ids.get([ref.vhost, ref.queue]);
    if (id === undefined) return;
    // The catalog first: a crash before the files go leaves an orphan directory, removed at open.
    const removals: Promise<unknown>[] = [this.ids.remove([ref.vhost, ref.queue])];
    for (const k of this.data.getKeys({ start: [id], end: [id + 1] })) removals.push(this.data.remove(k));
    await Promise.all(removals);
    rmSync(join(this.dir, String(id)), { recursive: true, force: true });
  }

  /** Closes every open log (each checkpoints its rows). */
  async closeAll(): Promise<void> {
    const logs = [...this.open.values()];
    this.open.clear();
    // A log that failed to open has nothing to close (its opener was told).
    for (const r of await Promise.allSettled(logs)) if (r.status === 'fulfilled') await r.value.close();
  }
}
