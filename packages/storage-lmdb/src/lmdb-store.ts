/**
 * The embedded durable store: LMDB (through the `lmdb` package) in a data directory.
 *
 * Durability: the environment is opened with overlappingSync off, so a write promise
 * settles only after its transaction is committed and fsynced. Group commit comes from
 * lmdb-js itself: every write issued while a commit is in flight joins the next
 * transaction, so many publishers' confirms share one fsync.
 *
 * Layout (sub-databases):
 *   meta      'format' -> FORMAT_VERSION
 *   defs      [kind, identity] -> definition
 *   entries   [vhost, queue, messageId] -> { e: expiresAt, d: deliveryCount }
 *   bodies    messageId -> { x, k, p, b, r } (exchange, key, properties, body, refs)
 *   retained  [vhost, routingKey] -> StoredMessage
 *   sessions  [vhost, clientId] -> state
 * A body shared by several queues (fanout) is stored once and counted; it goes with its
 * last entry.
 */
import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type {
  DefinitionChange,
  Definitions,
  EnqueueRecord,
  MessageProperties,
  MqttSessionState,
  QueueRef,
  RecoveredState,
  RetainedMessage,
  Store,
  StoreCapabilities,
  StoredMessage,
} from '@junction/core';
import { definitionIdentity as identity } from '@junction/core';
import { acquireLock, type Lock } from './lock.js';

/** Bumped on any incompatible change of the layout above. */
export const FORMAT_VERSION = 1;

export class StoreStateError extends Error {}

interface StoredBody {
  x: string;
  k: string;
  p: MessageProperties;
  b: Buffer;
  r: number;
}

type Kind = DefinitionChange['kind'];
type Key = (string | number)[];

export interface LmdbStoreOptions {
  /** The data directory; created if missing. */
  dir: string;
}

export class LmdbStore implements Store {
  readonly capabilities: StoreCapabilities = { durable: true, sharedAcrossNodes: false, replicated: false };
  private root: RootDatabase | undefined;
  private lock: Lock | undefined;
  private meta!: Database<unknown, string>;
  private defs!: Database<unknown, Key>;
  private entries!: Database<{ e: number; d: number }, Key>;
  private bodies!: Database<StoredBody, number>;
  private retainedDb!: Database<StoredMessage, Key>;
  private sessions!: Database<MqttSessionState, Key>;

  constructor(private readonly options: LmdbStoreOptions) {}

  async open(): Promise<RecoveredState> {
    if (!this.root) this.openEnv();
    const fresh = this.defs.getCount() === 0;
    let maxMessageId = 0;
    for (const key of this.bodies.getKeys({ reverse: true, limit: 1 })) maxMessageId = key;
    return {
      definitions: fresh ? null : this.readDefinitions(),
      maxMessageId,
      messages: (q) => this.iterate(q),
    };
  }

  private openEnv(): void {
    const dir = this.options.dir;
    mkdirSync(dir, { recursive: true });
    this.lock = acquireLock(join(dir, 'junction.lock'));
    try {
      checkHeader(join(dir, 'junction.mdb'));
      this.root = open({
        path: join(dir, 'junction.mdb'),
        maxDbs: 8,
        overlappingSync: false,
        compression: false,
      });
      this.meta = this.root.openDB({ name: 'meta' });
      this.defs = this.root.openDB({ name: 'defs' });
      this.entries = this.root.openDB({ name: 'entries' });
      this.bodies = this.root.openDB({ name: 'bodies' });
      this.retainedDb = this.root.openDB({ name: 'retained' });
      this.sessions = this.root.openDB({ name: 'sessions' });
      const format = this.meta.get('format');
      if (format === undefined) {
        this.meta.putSync('format', FORMAT_VERSION);
      } else if (typeof format !== 'number' || format > FORMAT_VERSION) {
        throw new StoreStateError(
          `data directory ${dir} was written by a newer Junction (store format ${String(format)}; this version reads up to ${FORMAT_VERSION})`,
        );
      }
    } catch (err) {
      this.root?.close().catch(() => {});
      this.root = undefined;
      this.lock.release();
      this.lock = undefined;
      if (err instanceof StoreStateError) throw err;
      throw new StoreStateError(
        `data directory ${dir} holds no readable Junction store (corrupt or not LMDB): ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    if (!this.root) return;
    const root = this.root;
    this.root = undefined;
    await root.flushed;
    await root.close();
    this.lock?.release();
    this.lock = undefined;
  }

  // ---- definitions ---------------------------------------------------------------------------

  private readDefinitions(): Definitions {
    const d: Definitions = {
      vhosts: [],
      users: [],
      permissions: [],
      exchanges: [],
      queues: [],
      bindings: [],
      policies: [],
    };
    for (const { key, value } of this.defs.getRange()) {
      const kind = key[0] as Kind;
      (d[listOf(kind)] as unknown[]).push(value);
    }
    return d;
  }

  async writeDefinitions(changes: readonly DefinitionChange[]): Promise<void> {
    await this.root!.transaction(() => {
      for (const c of changes) {
        if (c.op === 'put') {
          void this.defs.put(
            [c.kind, identity(c.kind, c.value as unknown as Record<string, unknown>)],
            c.value,
          );
        } else {
          void this.defs.remove([c.kind, identity(c.kind, c.key as Record<string, unknown>)]);
          if (c.kind === 'queue') this.dropEntries({ vhost: c.key.vhost, queue: c.key.name });
        }
      }
    });
  }

  // ---- messages ------------------------------------------------------------------------------

  async enqueue(records: readonly EnqueueRecord[]): Promise<void> {
    await this.root!.transaction(() => {
      for (const r of records) {
        void this.entries.put([r.vhost, r.queue, r.messageId], { e: r.expiresAt, d: r.deliveryCount });
        const existing = this.bodies.get(r.messageId);
        if (existing) {
          void this.bodies.put(r.messageId, { ...existing, r: existing.r + 1 });
        } else {
          const m = r.message;
          void this.bodies.put(r.messageId, {
            x: m.exchange,
            k: m.routingKey,
            p: m.properties,
            b: m.body,
            r: 1,
          });
        }
      }
    });
  }

  async remove(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    await this.root!.transaction(() => {
      for (const e of entries) this.removeEntry(e.vhost, e.queue, e.messageId);
    });
  }

  private removeEntry(vhost: string, queue: string, messageId: number): void {
    const key = [vhost, queue, messageId];
    if (this.entries.get(key) === undefined) return;
    void this.entries.remove(key);
    const body = this.bodies.get(messageId);
    if (!body) return;
    if (body.r <= 1) void this.bodies.remove(messageId);
    else void this.bodies.put(messageId, { ...body, r: body.r - 1 });
  }

  async markDelivered(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    await this.root!.transaction(() => {
      for (const e of entries) {
        const key = [e.vhost, e.queue, e.messageId];
        const v = this.entries.get(key);
        if (v) void this.entries.put(key, { e: v.e, d: v.d + 1 });
      }
    });
  }

  async dropQueue(queue: QueueRef): Promise<void> {
    await this.root!.transaction(() => this.dropEntries(queue));
  }

  private dropEntries(q: QueueRef): void {
    const ids: number[] = [];
    for (const key of this.entries.getKeys({ start: [q.vhost, q.queue], end: [q.vhost, q.queue, MAX_ID] }))
      ids.push(key[2] as number);
    for (const id of ids) this.removeEntry(q.vhost, q.queue, id);
  }

  async readEntries(q: QueueRef, afterMessageId: number, limit: number): Promise<EnqueueRecord[]> {
    const out: EnqueueRecord[] = [];
    if (limit <= 0) return out;
    for (const { key, value } of this.entries.getRange({
      start: [q.vhost, q.queue, Math.floor(afterMessageId) + 1],
      end: [q.vhost, q.queue, MAX_ID],
    })) {
      const r = this.record(q, key[2] as number, value);
      if (!r) continue;
      out.push(r);
      if (out.length >= limit) break;
    }
    return out;
  }

  async countEntries(q: QueueRef): Promise<number> {
    return this.entries.getKeysCount({ start: [q.vhost, q.queue], end: [q.vhost, q.queue, MAX_ID] });
  }

  private record(q: QueueRef, messageId: number, value: { e: number; d: number }): EnqueueRecord | undefined {
    const b = this.bodies.get(messageId);
    if (!b) return undefined; // an entry without its body cannot be delivered
    return {
      vhost: q.vhost,
      queue: q.queue,
      messageId,
      expiresAt: value.e,
      deliveryCount: value.d,
      message: { id: messageId, exchange: b.x, routingKey: b.k, properties: b.p, body: Buffer.from(b.b) },
    };
  }

  private async *iterate(q: QueueRef): AsyncIterable<EnqueueRecord> {
    for (const { key, value } of this.entries.getRange({
      start: [q.vhost, q.queue],
      end: [q.vhost, q.queue, MAX_ID],
    })) {
      const messageId = key[2] as number;
      const b = this.bodies.get(messageId);
      if (!b) continue; // an entry without its body cannot be delivered
      yield {
        vhost: q.vhost,
        queue: q.queue,
        messageId,
        expiresAt: value.e,
        deliveryCount: value.d,
        message: { id: messageId, exchange: b.x, routingKey: b.k, properties: b.p, body: Buffer.from(b.b) },
      };
    }
  }

  // ---- retained messages and client sessions -------------------------------------------------

  async putRetained(vhost: string, topic: string, msg: StoredMessage | null): Promise<void> {
    if (msg) await this.retainedDb.put([vhost, topic], msg);
    else await this.retainedDb.remove([vhost, topic]);
  }

  async *retained(vhost: string): AsyncIterable<RetainedMessage> {
    for (const { key, value } of this.retainedDb.getRange({ start: [vhost], end: [vhost, MAX_STRING] })) {
      yield { topic: key[1] as string, message: { ...value, body: Buffer.from(value.body) } };
    }
  }

  async putMqttSession(vhost: string, clientId: string, state: MqttSessionState | null): Promise<void> {
    if (state) await this.sessions.put([vhost, clientId], state);
    else await this.sessions.remove([vhost, clientId]);
  }

  async *mqttSessions(vhost: string): AsyncIterable<{ clientId: string; state: MqttSessionState }> {
    for (const { key, value } of this.sessions.getRange({ start: [vhost], end: [vhost, MAX_STRING] })) {
      yield { clientId: key[1] as string, state: value };
    }
  }
}

/** LMDB's meta page magic, at this offset of the file's first page (64-bit builds). */
const LMDB_MAGIC = 0xbeefc0de;
const LMDB_MAGIC_OFFSET = 24;

/**
 * LMDB maps the file and trusts its meta pages: a file that is not LMDB can crash the
 * process instead of failing to open. So the header is checked first, with a plain read.
 * (Damage past the header is beyond this check: LMDB keeps no checksums.)
 */
function checkHeader(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a fresh directory
    throw err;
  }
  try {
    const head = Buffer.alloc(LMDB_MAGIC_OFFSET + 4);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n === 0) return; // created but never written
    if (n < head.length || head.readUInt32LE(LMDB_MAGIC_OFFSET) !== LMDB_MAGIC) {
      throw new Error(`${path} does not start with an LMDB meta page`);
    }
  } finally {
    closeSync(fd);
  }
}

const MAX_ID = Number.MAX_SAFE_INTEGER;
const MAX_STRING = '\uffff';

function listOf(kind: Kind): keyof Definitions {
  return kind === 'policy' ? 'policies' : (`${kind}s` as keyof Definitions);
}
