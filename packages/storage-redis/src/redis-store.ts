/**
 * The Redis store: every record in one Redis database (through `ioredis`), under a key
 * prefix so several brokers or tests can share a server.
 *
 * Durability: a write promise settles when Redis has answered the command that holds it,
 * so the broker's confirms are exactly as durable as the Redis server's persistence
 * config. With `appendonly yes` and `appendfsync always` Redis fsyncs the AOF before it
 * replies; with `everysec` (the Redis default) up to a second of confirmed messages can be
 * lost on a crash, and without AOF or RDB nothing survives a Redis restart. Replication to
 * Redis replicas is asynchronous and not waited for, except for the queues the `mirrored`
 * type registers (requireReplication): on a `redis-sentinel://` group their enqueues settle
 * only once the replication gate (replication-gate.ts) has them on every replica Sentinel
 * could promote.
 *
 * Atomicity: every multi-key write is one Lua script (see scripts.ts), so an entry and its
 * body change together or not at all.
 *
 * Group commit (group-commit.ts): writes issued within one event-loop turn go as one pipeline,
 * consecutive enqueue, remove and markDelivered calls merged; Redis shares one AOF fsync between
 * them. Writes Redis refuses before running them (NOREPLICAS during a failover, ...) are held
 * and retried for `holdMs` (refused.ts), not failed.
 *
 * Fencing (cluster mode): setQueueEpoch gives a queue the epoch this node owns it under; from
 * then on every write to it runs behind the fence (fence.ts) and a FENCED refusal fails it with
 * QueueFencedError.
 *
 * Layout: store format 2, every key of a queue under its hash tag (scripts.ts, keys.ts); a store
 * opened on format-1 data converts it once (migrate-format.ts). Bodies and definitions are
 * msgpack (msgpackr), so Buffers, nested field tables and other values round-trip byte-exact.
 */
import { Cluster, Redis, type ChainableCommander } from 'ioredis';
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
import {
  definitionsFeedChannel,
  definitionsVersionKey,
  feedPayload,
  readStoredDefinitions,
  scanHash,
} from './stored-definitions.js';
import { pack, toBuffer, unpack } from '@junction/core';
import { dropStreamKeys, RedisStreamLog, StreamKeys } from './redis-stream-log.js';
import { SCRIPTS } from './scripts.js';
import { defineStreamScripts } from './stream-scripts.js';
import {
  checkRedisVersion,
  isSentinelUrl,
  maskRedisUrl,
  reconnectWhenEnded,
  redisConnectionTarget,
  RedisUrlError,
  type RedisConnectionTarget,
} from './connection.js';
import { ReplicationGate } from './replication-gate.js';
import { GroupCommit, type Arg, type QueueTarget, type Write } from './group-commit.js';
import { checkKeyPrefix, QueueKeys } from './keys.js';
import { DEFAULT_HOLD_MS } from './refused.js';
import { migrateFormat, type MigrationStep } from './migrate-format.js';

export class RedisStoreError extends Error {}

export interface RedisStoreOptions {
  /**
   * e.g. redis://127.0.0.1:6379/0, rediss://user:pass@host:6380/2, or the Sentinels of a
   * replication group: redis-sentinel://:pass@10.0.0.1:26379,10.0.0.2:26379/mymaster (connection.ts)
   */
  url: string;
  /** Prefix of every key this store writes; default 'junction:'. No { or } (keys.ts). */
  keyPrefix?: string;
  /**
   * How long a write Redis refused before running it (NOREPLICAS, READONLY, LOADING during a
   * failover) is held and retried before it fails; default 10 s.
   */
  holdMs?: number;
  /** Called at each step of a format migration (migrate-format.ts): for the log. */
  onMigrationStep?: (step: MigrationStep) => void;
  /** Names this store's definitions writes on the change feed (a cluster node's id), so its node can skip them. */
  feedOrigin?: string;
  /** How long a mirrored queue's write may wait for its replicas before it fails; default 10 s. */
  replicationBoundMs?: number;
}

interface StoredBody {
  x: string;
  k: string;
  p: MessageProperties;
  b: Buffer;
}

type Kind = DefinitionChange['kind'];

/** Page size when reading entries and hashes back. */
const PAGE = 500;

export class RedisStore implements Store {
  readonly capabilities: StoreCapabilities;
  private redis: Redis | Cluster | undefined;
  /** On a replication group: holds the enqueues into `replicatedQueues` until replicated. */
  private gate: ReplicationGate | undefined;
  /** QueueKeys.base of the queues whose enqueues wait for the gate (mirrored queues). */
  private readonly replicatedQueues = new Set<string>();
  private readonly prefix: string;
  private readonly commits: GroupCommit;
  /** Queue keys by vhost, then queue name (built once per queue, not per write). */
  private readonly queueKeys = new Map<string, Map<string, QueueKeys>>();
  /** Epochs given by setQueueEpoch, by QueueKeys.base: those queues are written fenced. */
  private readonly epochs = new Map<string, number>();
  private lastError: Error | undefined;
  private connecting: Promise<Redis | Cluster> | undefined;
  private closing = false;

  constructor(private readonly options: RedisStoreOptions) {
    this.prefix = checkKeyPrefix(options.keyPrefix ?? 'junction:');
    this.holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
    this.capabilities = { durable: true, replicated: isSentinelUrl(options.url) };
    this.commits = new GroupCommit(() => this.redis, {
      gate: () => this.gate,
      maxIdKey: this.key('maxid'),
      slotted: options.url.startsWith('redis-cluster://'),
      holdMs: this.holdMs,
      describe: (err) =>
        new RedisStoreError(`Redis write failed (${this.safeUrl}): ${err.message}`, { cause: err }),
    });
  }

  private readonly holdMs: number;

  requireReplication(queue: QueueRef, required: boolean): void {
    if (required) this.replicatedQueues.add(this.keysOf(queue).base);
    else this.replicatedQueues.delete(this.keysOf(queue).base);
  }

  /** The URL without its passwords, for error messages. */
  private get safeUrl(): string {
    return maskRedisUrl(this.options.url);
  }

  async open(): Promise<RecoveredState> {
    const redis = await this.connect();
    try {
      await checkRedisVersion(redis);
      await migrateFormat(redis, this.prefix, this.options.onMigrationStep);
    } catch (err) {
      throw new RedisStoreError(
        `Redis at ${this.safeUrl} (prefix '${this.prefix}'): ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const [defsWritten, max] = await Promise.all([
      redis.hget(this.key('meta'), 'defs'),
      redis.get(this.key('maxid')),
    ]);
    return {
      definitions: defsWritten === null ? null : await readStoredDefinitions(redis, this.prefix),
      maxMessageId: max === null ? 0 : Number(max),
      messages: (q) => this.iterate(q),
    };
  }

  /** One connection per store; concurrent open() calls share the attempt. */
  private connect(): Promise<Redis | Cluster> {
    if (this.redis) return Promise.resolve(this.redis);
    this.connecting ??= this.doConnect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<Redis | Cluster> {
    let redis: Redis | Cluster;
    let target: RedisConnectionTarget;
    try {
      target = redisConnectionTarget(this.options.url);
      const options = { ...target.options, lazyConnect: true, connectTimeout: 5_000 };
      if (target.clusterNodes) {
        redis = new Cluster(target.clusterNodes, { lazyConnect: true, redisOptions: target.options });
      } else redis = target.url === undefined ? new Redis(options) : new Redis(target.url, options);
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
    for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { lua });
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
    this.gate = target.options.sentinels ? this.replicationGate(target) : undefined;
    if (redis instanceof Redis)
      reconnectWhenEnded(
        redis,
        () => this.redis === redis && !this.closing,
        (err) => (this.lastError = err as Error),
      );
    return redis;
  }

  private replicationGate({ options }: RedisConnectionTarget): ReplicationGate {
    return new ReplicationGate({
      sentinels: (options.sentinels ?? []).map((s) => ({
        host: s.host ?? '127.0.0.1',
        port: s.port ?? 26379,
      })),
      masterName: options.name ?? '',
      sentinelUsername: options.sentinelUsername,
      sentinelPassword: options.sentinelPassword,
      username: options.username,
      password: options.password,
      markerKey: this.key('replication-mark'),
      boundMs: this.options.replicationBoundMs,
    });
  }

  async close(): Promise<void> {
    const redis = this.redis;
    if (!redis || this.closing) return;
    this.closing = true; // writes from now on are refused, so none is left behind
    this.commits.flush();
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
      this.commits.failAll(err);
      for (const log of streams) log.abort(err);
    }
    // Stream logs wait for their appends in flight (failed at once above when the server is
    // unreachable) before the connection goes.
    for (const log of streams) await log.close();
    // Held writes end within holdMs: sent, or failed with the reason.
    while (this.commits.busy) {
      if (this.commits.inflight.size > 0) await Promise.allSettled([...this.commits.inflight.keys()]);
      else await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.gate?.close();
    this.gate = undefined;
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

  // ---- writes (group-commit.ts) -------------------------------------------------------------

  private submit(write: Write): Promise<void> {
    if (!this.redis || this.closing)
      return Promise.reject(
        new RedisStoreError(`the Redis store is ${this.closing ? 'closing' : 'not open'}`),
      );
    return this.commits.submit(write);
  }

  private command(add: (p: ChainableCommander) => void): Promise<void> {
    return this.submit({ kind: 'command', add });
  }

  private keysOf(ref: QueueRef): QueueKeys {
    let byName = this.queueKeys.get(ref.vhost);
    if (!byName) this.queueKeys.set(ref.vhost, (byName = new Map()));
    let keys = byName.get(ref.queue);
    if (!keys) byName.set(ref.queue, (keys = new QueueKeys(this.prefix, ref)));
    return keys;
  }

  /** The queue as a write names it, with the epoch it is owned under now. */
  private target(ref: QueueRef): QueueTarget {
    const keys = this.keysOf(ref);
    return { keys, epoch: this.epochs.get(keys.base), vhost: ref.vhost, queue: ref.queue };
  }

  setQueueEpoch(queue: QueueRef, epoch: number | undefined): void {
    const base = this.keysOf(queue).base;
    if (epoch === undefined) this.epochs.delete(base);
    else this.epochs.set(base, epoch);
  }

  // ---- definitions ---------------------------------------------------------------------------

  async writeDefinitions(changes: readonly DefinitionChange[]): Promise<void> {
    const slotted = this.redis instanceof Cluster;
    // On Redis Cluster meta and the version are in other slots: meta is marked after, and the
    // change feed (one version across slots) is not kept.
    const keys = slotted
      ? [this.key('defs')]
      : [this.key('defs'), this.key('meta'), definitionsVersionKey(this.prefix)];
    const args: Arg[] = [];
    const drops: QueueRef[] = [];
    for (const c of changes) {
      if (c.op === 'put') {
        args.push('p', defField(c.kind, c.value as unknown as Record<string, unknown>), pack(c.value));
      } else {
        let drop = '';
        if (c.kind === 'queue') {
          const ref = { vhost: c.key.vhost, queue: c.key.name };
          if (slotted) {
            // The queue's keys are in another slot: dropped by a call of their own, after.
            drops.push(ref);
          } else {
            const q = this.keysOf(ref);
            drop = String((keys.length - 3) / 2);
            keys.push(q.entries, q.records);
          }
        }
        args.push('d', defField(c.kind, c.key as Record<string, unknown>), drop);
      }
    }
    // One script: a batch of definition changes is all-or-nothing, and its notice on the
    // change feed (stored-definitions.ts) goes out with it (on Redis Cluster, but for the
    // entries of deleted queues, which go in their own slots' calls right after).
    const feed = [definitionsFeedChannel(this.prefix), feedPayload(this.options.feedOrigin ?? '', changes)];
    await Promise.all([
      this.submit({ kind: 'script', script: 'junctionWriteDefinitions', keys, args: [...feed, ...args] }),
      ...drops.map((ref) => this.submit({ kind: 'junctionDropQueue', q: this.target(ref) })),
    ]);
    // After the definitions, never before: a crash between leaves them unmarked, and the
    // broker then writes its defaults again (puts), rather than finding a marked empty set.
    if (slotted) await this.command((p) => p.hset(this.key('meta'), 'defs', '1'));
  }

  // ---- messages ------------------------------------------------------------------------------

  async enqueue(records: readonly EnqueueRecord[]): Promise<void> {
    if (records.length === 0) return;
    // A fanned-out message is packed once; each queue's call carries it (group-commit.ts).
    const bodies = new Map<number, Buffer>();
    const items = records.map((r) => {
      let body = bodies.get(r.messageId);
      if (!body) bodies.set(r.messageId, (body = packBody(r.message)));
      return {
        q: this.target(r),
        id: r.messageId,
        expiresAt: r.expiresAt,
        deliveryCount: r.deliveryCount,
        body,
      };
    });
    const replicate =
      this.gate !== undefined &&
      this.replicatedQueues.size > 0 &&
      items.some((i) => this.replicatedQueues.has(i.q.keys.base));
    await this.submit({ kind: 'junctionEnqueue', items, replicate });
  }

  async remove(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    if (entries.length === 0) return;
    await this.submit({
      kind: 'junctionRemove',
      items: entries.map((e) => ({ q: this.target(e), id: e.messageId })),
    });
  }

  async markDelivered(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    if (entries.length === 0) return;
    await this.submit({
      kind: 'junctionMarkDelivered',
      items: entries.map((e) => ({ q: this.target(e), id: e.messageId })),
    });
  }

  async dropQueue(queue: QueueRef): Promise<void> {
    await this.submit({ kind: 'junctionDropQueue', q: this.target(queue) });
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
    return redis.zcard(this.keysOf(q).entries);
  }

  /** Up to `limit` entries scored above `after` (a ZRANGEBYSCORE min), with their bodies. */
  private async readPage(
    q: QueueRef,
    after: string,
    limit: number,
  ): Promise<{ ids: string[]; records: EnqueueRecord[] }> {
    const redis = this.redis;
    if (!redis) throw new RedisStoreError('the Redis store is not open');
    const keys = this.keysOf(q);
    const ids = await redis.zrangebyscore(keys.entries, after, '+inf', 'LIMIT', 0, limit);
    const records: EnqueueRecord[] = [];
    if (ids.length === 0) return { ids, records };
    let fields: (Buffer | null)[];
    try {
      fields = await redis.hmgetBuffer(
        keys.records,
        ...ids.flatMap((id) => [`e:${id}`, `d:${id}`, `b:${id}`]),
      );
    } catch (err) {
      throw new RedisStoreError(`Redis read failed (${this.safeUrl}): ${(err as Error).message}`, {
        cause: err,
      });
    }
    for (let i = 0; i < ids.length; i++) {
      const packed = fields[3 * i + 2];
      if (!packed) continue; // an entry without its body cannot be delivered
      const messageId = Number(ids[i]);
      const b = unpack(packed) as StoredBody;
      records.push({
        vhost: q.vhost,
        queue: q.queue,
        messageId,
        expiresAt: Number(fields[3 * i]?.toString() ?? 0),
        deliveryCount: Number(fields[3 * i + 1]?.toString() ?? 0),
        message: { id: messageId, exchange: b.x, routingKey: b.k, properties: b.p, body: toBuffer(b.b) },
      });
    }
    return { ids, records };
  }

  // ---- retained messages and client sessions -------------------------------------------------

  async putRetained(vhost: string, topic: string, msg: StoredMessage | null): Promise<void> {
    const key = this.key(`ret:${vhost}`);
    if (msg) await this.command((p) => p.hset(key, topic, pack(msg)));
    else await this.command((p) => p.hdel(key, topic));
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
    if (state) await this.command((p) => p.hset(key, clientId, pack(state)));
    else await this.command((p) => p.hdel(key, clientId));
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
    const queue = this.keysOf(ref);
    const keys = new StreamKeys(queue);
    let log = this.streams.get(keys.base);
    if (!log) {
      const fence = { epoch: () => this.epochs.get(queue.base), holdMs: this.holdMs, ref };
      log = RedisStreamLog.open(settings, redis, keys, fence, () => this.streams.delete(keys.base)).then(
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
    const queue = this.keysOf(ref);
    const keys = new StreamKeys(queue);
    const open = this.streams.get(keys.base);
    if (open) await (await open).close();
    await dropStreamKeys(redis, keys, { epoch: () => this.epochs.get(queue.base), holdMs: this.holdMs, ref });
  }
}

function describe(err: unknown): string | undefined {
  if (!err) return undefined;
  const e = err as NodeJS.ErrnoException;
  return e.message || e.code || String(err);
}

function defField(kind: Kind, v: Record<string, unknown>): string {
  return `${kind}\u0000${identity(kind, v)}`;
}

function packBody(m: StoredMessage): Buffer {
  const body: StoredBody = { x: m.exchange, k: m.routingKey, p: m.properties, b: m.body };
  return pack(body);
}
