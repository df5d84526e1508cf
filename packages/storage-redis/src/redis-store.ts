/**
 * The Redis store: every record in one Redis database (through `ioredis`), under a key
 * prefix so several brokers or tests can share a server.
 *
 * Durability: a write promise settles when Redis has answered the command that holds it,
 * so the broker's confirms are exactly as durable as the Redis server's persistence
 * config. With `appendonly yes` and `appendfsync always` Redis fsyncs the AOF before it
 * replies; with `everysec` (the Redis default) up to a second of confirmed messages can be
 * lost on a crash, and without AOF or RDB nothing survives a Redis restart. Replication to
 * Redis replicas is asynchronous and not waited for (no WAIT).
 *
 * Atomicity: every multi-key write is one Lua script (see scripts.ts), so an entry, its
 * shared body and the body's reference count change together or not at all.
 *
 * Group commit: writes issued within one event-loop turn are queued and sent together on
 * the next setImmediate as one pipeline (one round trip); consecutive enqueue, remove and
 * markDelivered calls are merged into one script call each. Order is kept: a remove issued
 * after an enqueue runs after it. Redis itself then shares one AOF fsync between them.
 *
 * Layout: see scripts.ts. Bodies and definitions are msgpack (msgpackr), so Buffers,
 * nested field tables and other values round-trip byte-exact.
 */
import { Redis, type ChainableCommander } from 'ioredis';
import type {
  DefinitionChange,
  EnqueueRecord,
  MessageProperties,
  MqttSessionState,
  QueueRef,
  RecoveredState,
  RetainedMessage,
  Store,
  StoreCapabilities,
  StoredMessage,
  StreamLog,
  StreamSettings,
} from '@junction/core';
import { definitionIdentity as identity } from '@junction/core';
import { pack, toBuffer, unpack } from './codec.js';
import { feedPayload, readStoredDefinitions, scanHash } from './stored-definitions.js';
import { RedisStreamLog, StreamKeys, streamKeysOf } from './redis-stream-log.js';
import { SCRIPTS, type ScriptName } from './scripts.js';
import { defineStreamScripts } from './stream-scripts.js';
import { maskRedisUrl, reconnectWhenEnded, redisConnectionTarget, RedisUrlError } from './connection.js';

/** Bumped on any incompatible change of the layout in scripts.ts. */
export const FORMAT_VERSION = 1;

export class RedisStoreError extends Error {}

export interface RedisStoreOptions {
  /**
   * e.g. redis://127.0.0.1:6379/0, rediss://user:pass@host:6380/2, or the Sentinels of a
   * replication group: redis-sentinel://:pass@10.0.0.1:26379,10.0.0.2:26379/mymaster (connection.ts)
   */
  url: string;
  /** Prefix of every key this store writes; default 'junction:'. */
  keyPrefix?: string;
  /** Names this store's definitions writes on the change feed (a cluster node's id), so its node can skip them. */
  feedOrigin?: string;
}

interface StoredBody {
  x: string;
  k: string;
  p: MessageProperties;
  b: Buffer;
}

type Kind = DefinitionChange['kind'];
type Arg = string | Buffer;

interface Deferred {
  resolve(): void;
  reject(err: Error): void;
}

/** One queued write: a script call (mergeable with its neighbours) or a plain command. */
type OpBody =
  | { script: ScriptName; args: Arg[]; mergeable: boolean }
  | { script?: undefined; add(p: ChainableCommander): void };
type Op = OpBody & { done: Deferred };

/** Most arguments one merged script call carries; a single call's records are never split. */
const MAX_MERGED_ARGS = 24_000;
/** Page size when reading entries and hashes back. */
const PAGE = 500;

type ScriptCaller = Record<ScriptName, (...args: Arg[]) => unknown>;

export class RedisStore implements Store {
  readonly capabilities: StoreCapabilities = { durable: true };
  private redis: Redis | undefined;
  private readonly prefix: string;
  private pending: Op[] = [];
  private flushScheduled = false;
  /** Pipelines sent and not yet answered, with the writes they settle. */
  private readonly inflight = new Map<Promise<void>, Op[]>();
  private lastError: Error | undefined;
  private connecting: Promise<Redis> | undefined;
  private closing = false;

  constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.keyPrefix ?? 'junction:';
  }

  /** The URL without its passwords, for error messages. */
  private get safeUrl(): string {
    return maskRedisUrl(this.options.url);
  }

  async open(): Promise<RecoveredState> {
    const redis = await this.connect();
    const [format, defsWritten, max] = await Promise.all([
      redis.hget(this.key('meta'), 'format'),
      redis.hget(this.key('meta'), 'defs'),
      redis.get(this.key('maxid')),
    ]);
    if (format === null) {
      await redis.hsetnx(this.key('meta'), 'format', String(FORMAT_VERSION));
    } else if (!(Number(format) <= FORMAT_VERSION)) {
      throw new RedisStoreError(
        `Redis at ${this.safeUrl} (prefix '${this.prefix}') was written by a newer Junction (store format ${format}; this version reads up to ${FORMAT_VERSION})`,
      );
    }
    return {
      definitions: defsWritten === null ? null : await readStoredDefinitions(redis, this.prefix),
      maxMessageId: max === null ? 0 : Number(max),
      messages: (q) => this.iterate(q),
    };
  }

  /** One connection per store; concurrent open() calls share the attempt. */
  private connect(): Promise<Redis> {
    if (this.redis) return Promise.resolve(this.redis);
    this.connecting ??= this.doConnect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<Redis> {
    let redis: Redis;
    try {
      const target = redisConnectionTarget(this.options.url);
      const options = { ...target.options, lazyConnect: true, connectTimeout: 5_000 };
      redis = target.url === undefined ? new Redis(options) : new Redis(target.url, options);
    } catch (err) {
      const why =
        err instanceof RedisUrlError
          ? err.message
          : `invalid Redis URL ${this.safeUrl}: ${(err as Error).message}`;
      throw new RedisStoreError(why, { cause: err });
    }
    // Without a listener ioredis prints every connection error; keep the last one instead.
    redis.on('error', (err: Error) => {
      this.lastError = err;
    });
    for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 0, lua });
    defineStreamScripts(redis);
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      // The socket error (ECONNREFUSED, ENOTFOUND, ...) says more than "Connection is closed."
      const reason = describe(this.lastError) ?? describe(err) ?? 'connection failed';
      throw new RedisStoreError(`cannot connect to Redis at ${this.safeUrl}: ${reason}`, { cause: err });
    }
    this.redis = redis;
    reconnectWhenEnded(
      redis,
      () => this.redis === redis && !this.closing,
      (err) => (this.lastError = err as Error),
    );
    return redis;
  }

  async close(): Promise<void> {
    const redis = this.redis;
    if (!redis || this.closing) return;
    this.closing = true; // writes from now on are refused, so none is left behind
    if (this.pending.length > 0) this.flush();
    // While the server is unreachable, ioredis would hold the writes for its reconnect
    // attempts; a closing store fails them at once instead.
    const reachable = redis.status === 'ready';
    const streams = (await Promise.allSettled([...this.streams.values()])).flatMap((r) =>
      r.status === 'fulfilled' ? [r.value] : [],
    );
    this.streams.clear();
    if (!reachable) {
      redis.disconnect();
      const err = new RedisStoreError(`the Redis store was closed while ${this.safeUrl} was unreachable`);
      for (const ops of this.inflight.values()) for (const op of ops) op.done.reject(err);
      this.inflight.clear();
      for (const log of streams) log.abort(err);
    }
    // Stream logs wait for their appends in flight (failed at once above when the server is
    // unreachable) before the connection goes.
    for (const log of streams) await log.close();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight.keys()]);
    this.redis = undefined;
    this.closing = false;
    if (!reachable) return;
    try {
      await redis.quit();
    } catch {
      redis.disconnect();
    }
  }

  private key(name: string): string {
    return this.prefix + name;
  }

  // ---- group commit --------------------------------------------------------------------------

  private submit(op: OpBody): Promise<void> {
    if (!this.redis || this.closing)
      return Promise.reject(
        new RedisStoreError(`the Redis store is ${this.closing ? 'closing' : 'not open'}`),
      );
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ...op, done: { resolve, reject } });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private script(script: ScriptName, args: Arg[], mergeable = true): Promise<void> {
    return this.submit({ script, args, mergeable });
  }

  /** Sends every queued write as one pipeline; each op settles with its command's reply. */
  private flush(): void {
    this.flushScheduled = false;
    const ops = this.pending;
    this.pending = [];
    if (ops.length === 0) return;
    const redis = this.redis;
    if (!redis) {
      for (const op of ops) op.done.reject(new RedisStoreError('the Redis store is closed'));
      return;
    }
    const pipeline = redis.pipeline();
    const caller = pipeline as unknown as ScriptCaller;
    /** groups[i]: the ops settled by the pipeline's i-th reply. */
    const groups: Op[][] = [];
    for (let i = 0; i < ops.length;) {
      const op = ops[i]!;
      if (op.script === undefined) {
        op.add(pipeline);
        groups.push([op]);
        i++;
        continue;
      }
      const group = [op];
      const args: Arg[] = [this.prefix, ...op.args];
      i++;
      while (op.mergeable && i < ops.length) {
        const next = ops[i]!;
        if (next.script !== op.script || !next.mergeable || args.length + next.args.length > MAX_MERGED_ARGS)
          break;
        for (const a of next.args) args.push(a);
        group.push(next);
        i++;
      }
      caller[op.script](...args);
      groups.push(group);
    }
    const done = pipeline
      .exec()
      .then((replies) => {
        groups.forEach((group, i) => {
          const err = replies?.[i]?.[0] ?? (replies ? null : new Error('pipeline discarded'));
          for (const op of group) {
            if (err)
              op.done.reject(
                new RedisStoreError(`Redis write failed (${this.safeUrl}): ${err.message}`, { cause: err }),
              );
            else op.done.resolve();
          }
        });
      })
      .catch((err: Error) => {
        for (const group of groups)
          for (const op of group)
            op.done.reject(
              new RedisStoreError(`Redis write failed (${this.safeUrl}): ${err.message}`, { cause: err }),
            );
      })
      .finally(() => this.inflight.delete(done));
    this.inflight.set(done, ops);
  }

  // ---- definitions ---------------------------------------------------------------------------

  async writeDefinitions(changes: readonly DefinitionChange[]): Promise<void> {
    const args: Arg[] = [];
    for (const c of changes) {
      if (c.op === 'put') {
        args.push('p', defField(c.kind, c.value as unknown as Record<string, unknown>), pack(c.value));
      } else {
        const drop = c.kind === 'queue' ? queueTag({ vhost: c.key.vhost, queue: c.key.name }) : '';
        args.push('d', defField(c.kind, c.key as Record<string, unknown>), drop);
      }
    }
    // One script: a batch of definition changes is all-or-nothing, and its notice on the
    // change feed (stored-definitions.ts) goes out with it.
    await this.script(
      'junctionWriteDefinitions',
      [feedPayload(this.options.feedOrigin ?? '', changes), ...args],
      false,
    );
  }

  // ---- messages ------------------------------------------------------------------------------

  async enqueue(records: readonly EnqueueRecord[]): Promise<void> {
    if (records.length === 0) return;
    const args: Arg[] = [];
    const sent = new Set<number>();
    for (const r of records) {
      const first = !sent.has(r.messageId);
      sent.add(r.messageId);
      const body = first ? packBody(r.message) : '';
      args.push(
        queueTag(r),
        String(r.messageId),
        String(r.expiresAt),
        String(r.deliveryCount),
        first ? '1' : '0',
        body,
      );
    }
    await this.script('junctionEnqueue', args);
  }

  async remove(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    if (entries.length === 0) return;
    await this.script(
      'junctionRemove',
      entries.flatMap((e) => [queueTag(e), String(e.messageId)]),
    );
  }

  async markDelivered(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    if (entries.length === 0) return;
    await this.script(
      'junctionMarkDelivered',
      entries.flatMap((e) => [queueTag(e), String(e.messageId)]),
    );
  }

  async dropQueue(queue: QueueRef): Promise<void> {
    await this.script('junctionDropQueue', [queueTag(queue)], false);
  }

  /** Pages through the queue's sorted set by score, so concurrent writes cannot skip entries. */
  private async *iterate(q: QueueRef): AsyncIterable<EnqueueRecord> {
    let after = '-inf';
    while (true) {
      const { ids, records } = await this.readPage(q, after, PAGE);
      yield* records;
      if (ids.length < PAGE) return;
      after = `(${ids[ids.length - 1]!}`;
    }
  }

  async readEntries(q: QueueRef, afterMessageId: number, limit: number): Promise<EnqueueRecord[]> {
    if (limit <= 0) return [];
    return (await this.readPage(q, `(${afterMessageId}`, limit)).records;
  }

  async countEntries(q: QueueRef): Promise<number> {
    const redis = this.redis;
    if (!redis) throw new RedisStoreError('the Redis store is not open');
    return redis.zcard(this.key(`qz:${queueTag(q)}`));
  }

  /** Up to `limit` entries scored above `after` (a ZRANGEBYSCORE min), with their bodies. */
  private async readPage(
    q: QueueRef,
    after: string,
    limit: number,
  ): Promise<{ ids: string[]; records: EnqueueRecord[] }> {
    const redis = this.redis;
    if (!redis) throw new RedisStoreError('the Redis store is not open');
    const tag = queueTag(q);
    const zk = this.key(`qz:${tag}`);
    const hk = this.key(`qh:${tag}`);
    const ids = await redis.zrangebyscore(zk, after, '+inf', 'LIMIT', 0, limit);
    const records: EnqueueRecord[] = [];
    if (ids.length === 0) return { ids, records };
    const pipeline = redis.pipeline();
    pipeline.hmget(hk, ...ids.flatMap((id) => [`e:${id}`, `d:${id}`]));
    for (const id of ids) pipeline.hgetBuffer(this.key(`m:${id}`), 'v');
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed)
      throw new RedisStoreError(`Redis read failed (${this.safeUrl}): ${failed[0]!.message}`, {
        cause: failed[0],
      });
    const fields = replies[0]![1] as (string | null)[];
    for (let i = 0; i < ids.length; i++) {
      const packed = replies[i + 1]![1] as Buffer | null;
      if (!packed) continue; // an entry without its body cannot be delivered
      const messageId = Number(ids[i]);
      const b = unpack(packed) as StoredBody;
      records.push({
        vhost: q.vhost,
        queue: q.queue,
        messageId,
        expiresAt: Number(fields[2 * i] ?? 0),
        deliveryCount: Number(fields[2 * i + 1] ?? 0),
        message: { id: messageId, exchange: b.x, routingKey: b.k, properties: b.p, body: toBuffer(b.b) },
      });
    }
    return { ids, records };
  }

  // ---- retained messages and client sessions -------------------------------------------------

  async putRetained(vhost: string, topic: string, msg: StoredMessage | null): Promise<void> {
    const key = this.key(`ret:${vhost}`);
    if (msg) await this.submit({ add: (p) => p.hset(key, topic, pack(msg)) });
    else await this.submit({ add: (p) => p.hdel(key, topic) });
  }

  async *retained(vhost: string): AsyncIterable<RetainedMessage> {
    const redis = this.redis;
    if (!redis) throw new RedisStoreError('the Redis store is not open');
    for await (const [topic, value] of scanHash(redis, this.key(`ret:${vhost}`))) {
      const m = unpack(value) as StoredMessage;
      yield { topic, message: { ...m, body: toBuffer(m.body) } };
    }
  }

  async putMqttSession(vhost: string, clientId: string, state: MqttSessionState | null): Promise<void> {
    const key = this.key(`sess:${vhost}`);
    if (state) await this.submit({ add: (p) => p.hset(key, clientId, pack(state)) });
    else await this.submit({ add: (p) => p.hdel(key, clientId) });
  }

  async *mqttSessions(vhost: string): AsyncIterable<{ clientId: string; state: MqttSessionState }> {
    const redis = this.redis;
    if (!redis) throw new RedisStoreError('the Redis store is not open');
    for await (const [clientId, value] of scanHash(redis, this.key(`sess:${vhost}`))) {
      yield { clientId, state: unpack(value) as MqttSessionState };
    }
  }

  // ---- streams (redis-stream-log.ts) ---------------------------------------------------------

  /** Open stream logs by key base, one per stream. */
  private readonly streams = new Map<string, Promise<RedisStreamLog>>();

  openStream(ref: QueueRef, settings: StreamSettings): Promise<StreamLog> {
    const redis = this.redis;
    if (!redis || this.closing) return Promise.reject(new RedisStoreError('the Redis store is not open'));
    const keys = new StreamKeys(this.prefix, ref);
    let log = this.streams.get(keys.base);
    if (!log) {
      log = RedisStreamLog.open(settings, redis, keys, () => this.streams.delete(keys.base)).then(
        undefined,
        (err: unknown) => {
          this.streams.delete(keys.base);
          throw err;
        },
      );
      this.streams.set(keys.base, log);
    }
    return log;
  }

  async dropStream(ref: QueueRef): Promise<void> {
    const redis = this.redis;
    if (!redis) throw new RedisStoreError('the Redis store is not open');
    const keys = new StreamKeys(this.prefix, ref);
    const open = this.streams.get(keys.base);
    if (open) await (await open).close();
    await redis.del(...(await streamKeysOf(redis, keys)));
  }
}

function describe(err: unknown): string | undefined {
  if (!err) return undefined;
  const e = err as NodeJS.ErrnoException;
  return e.message || e.code || String(err);
}

/** Unambiguous for any vhost and queue name. */
function queueTag(q: QueueRef): string {
  return JSON.stringify([q.vhost, q.queue]);
}

function defField(kind: Kind, v: Record<string, unknown>): string {
  return `${kind}\u0000${identity(kind, v)}`;
}

function packBody(m: StoredMessage): Buffer {
  const body: StoredBody = { x: m.exchange, k: m.routingKey, p: m.properties, b: m.body };
  return pack(body);
}
