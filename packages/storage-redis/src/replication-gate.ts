/**
 * The replication gate of the `mirrored` queue type: a write the Redis store has committed
 * (fsynced on the primary, `appendfsync always`) is confirmed only once every replica that
 * Sentinel could promote has acknowledged it. DESIGN-NOTES ("Mirrored queues") has the
 * reasoning; in short, a failover promotes one of `promotable`, so a write every member of it
 * holds survives any promotion, and a primary that was paused and woke up as a stale primary
 * cannot confirm anything: the replica Sentinel promoted no longer acknowledges it, even if
 * another replica still follows it (which is what makes plain `WAIT 1` lose writes there).
 *
 * One round covers every write answered before it started (their positions, from the
 * `INFO server replication` the store appends to each commit pipeline that needs the gate):
 *   1. the Sentinels' latest view (sentinel-view.ts) must be fresh, a majority must name the
 *      server the writes went to (same run_id) and the promotable set must not be empty;
 *   2. on the gate's own connection to that server, `INCR` of a marker key (WAIT waits for the
 *      connection's own last write, so the connection must write), `WAIT <promotable>
 *      <step>` (WAITAOF on servers that have it, Redis >= 7.2 / Valkey), then `INFO` again;
 *   3. the server must still be the same one with the same replication history, and every
 *      promotable replica must be `online` on it with an acknowledged offset at or past the
 *      writes'. WAIT only counts replicas; the check says which ones.
 * A promotable replica that has not acknowledged for LAG_MS (a restarted or re-pointed server in
 * a full sync, a slow one) is made unpromotable (replica-priorities.ts) and stops being waited
 * for once every Sentinel of the majority shows it so; when it has caught up its priority goes
 * back, and it is waited for again from that moment (before Sentinel may promote it again).
 * An old primary that woke after a failover is first made a replica of the new one (what
 * Sentinel does too, 8 s later).
 * Otherwise the round repeats; a write not through within the bound (default 10 s) fails
 * with the last reason, and a write to a server the Sentinels named primary once and no
 * longer do fails at once (a failover came first: its outcome is unknown).
 *
 * WAIT blocks its connection, so the gate has one connection of its own and one round at a
 * time: writes answered during a round wait for the next, which covers all of them.
 */
import type { Redis } from 'ioredis';
import { serverConnection } from './server-connection.js';
import { ReplicaPriorities } from './replica-priorities.js';
import { parseReplicationInfo, type ReplicationInfo } from './replication-info.js';
import { POLL_MS, SentinelPoller, type SentinelAddress, type SentinelView } from './sentinel-view.js';

export const DEFAULT_REPLICATION_BOUND_MS = 10_000;
/** Longest one WAIT may block (a round repeats after it). */
const STEP_MS = 500;
/** Pause before a round repeats for a reason WAIT cannot wait out (a view, a missing replica). */
const RETRY_MS = 50;
/** A promotable replica that has not acknowledged for this long is made unpromotable. */
const LAG_MS = 1000;
/** A Sentinel view older than this is no view (polls run every POLL_MS). */
const VIEW_MAX_AGE_MS = 5 * POLL_MS + 500;

export class ReplicationError extends Error {}

export interface ReplicationGateOptions {
  sentinels: readonly SentinelAddress[];
  masterName: string;
  sentinelUsername?: string | undefined;
  sentinelPassword?: string | undefined;
  /** Of the Redis servers. */
  username?: string | undefined;
  password?: string | undefined;
  /** The marker key the gate's connection increments. */
  markerKey: string;
  /** How long a write may wait for its replicas before it fails; default 10 s. */
  boundMs?: number | undefined;
}

interface Waiter {
  readonly at: ReplicationInfo;
  readonly deadline: number;
  resolve(): void;
  reject(err: Error): void;
}

interface GateConnection {
  readonly redis: Redis;
  readonly address: string;
  /** WAITAOF (replica fsync) where the server has it, else WAIT. */
  waitAof: boolean | undefined;
}

export class ReplicationGate {
  private readonly sentinels: SentinelPoller;
  private readonly boundMs: number;
  private waiting: Waiter[] = [];
  private running = false;
  private closed = false;
  private conn: GateConnection | undefined;
  /** Why the last round did not confirm (the error of a write that runs out of time). */
  private reason = 'no round has run yet';
  /** run_ids the Sentinels have named primary, in this store's life. */
  private readonly namedPrimaries = new Set<string>();
  private readonly priorities: ReplicaPriorities;
  /** Promotable replicas behind in the rounds, since when (performance.now()). */
  private readonly lagSince = new Map<string, number>();
  /** Replicas whose priority goes back up: waited for until Sentinel shows them promotable. */
  private readonly restoring = new Set<string>();

  constructor(private readonly options: ReplicationGateOptions) {
    this.boundMs = options.boundMs ?? DEFAULT_REPLICATION_BOUND_MS;
    this.sentinels = new SentinelPoller({
      sentinels: options.sentinels,
      masterName: options.masterName,
      username: options.sentinelUsername,
      password: options.sentinelPassword,
    });
    this.sentinels.onView((v) => {
      if (v.primary) this.namedPrimaries.add(v.primary.runId);
    });
    this.sentinels.start();
    this.priorities = new ReplicaPriorities(
      { username: options.username, password: options.password },
      (what) => (this.reason = what),
    );
  }

  /** Where a commit went and how far it reaches, from the INFO reply of its pipeline. */
  static position(infoReply: unknown): ReplicationInfo {
    return parseReplicationInfo(String(infoReply));
  }

  /** Settles once every promotable replica has the writes up to `at`; fails after the bound. */
  wait(at: ReplicationInfo): Promise<void> {
    if (this.closed) return Promise.reject(new ReplicationError('the replication gate is closed'));
    if (at.role !== 'master')
      return Promise.reject(new ReplicationError(`the write went to a ${at.role}, not to a primary`));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ at, deadline: performance.now() + this.boundMs, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length > 0 && !this.closed) {
        const ok = await this.round();
        if (!ok) await sleep(RETRY_MS);
      }
    } catch (err) {
      // A bug, not a Redis answer: fail what waits rather than leave it hanging.
      this.failAll(
        new ReplicationError(`replication gate failed: ${(err as Error).message}`, { cause: err }),
      );
    } finally {
      this.running = false;
    }
    if (this.waiting.length > 0 && !this.closed) void this.run();
  }

  /** One round; true when it confirmed something (the next may start at once). */
  private async round(): Promise<boolean> {
    const now = performance.now();
    const view = this.sentinels.view;
    this.expire(now, view);
    if (this.waiting.length === 0) return true;
    if (!view || now - view.at > VIEW_MAX_AGE_MS) {
      this.reason = `cannot reach a majority of the Sentinels${view ? ` (${view.summary})` : ''}`;
      return false;
    }
    const primary = view.primary;
    if (!primary) {
      this.reason = view.summary;
      return false;
    }
    const batch = this.waiting.filter((w) => w.at.runId === primary.runId);
    if (batch.length === 0) {
      this.reason = `the writes went to a server the Sentinels do not name primary (${view.summary})`;
      return false;
    }
    for (const r of this.restoring) if (view.promotable.has(r) || view.down.has(r)) this.restoring.delete(r);
    this.priorities.checkLowered();
    const required = new Set([...view.promotable].filter((r) => !this.priorities.settled(r, primary, now)));
    for (const r of this.restoring) required.add(r);
    if (required.size === 0) {
      this.reason = `no replica Sentinel could promote is up (${view.summary})`;
      return false;
    }
    const target = Math.max(...batch.map((w) => w.at.offset));
    const replid = batch[0]!.at.replid;
    let after: ReplicationInfo;
    try {
      after = await this.waitOn(`${primary.host}:${primary.port}`, required.size);
    } catch (err) {
      this.reason = `no answer from the primary ${primary.host}:${primary.port}: ${(err as Error).message}`;
      return false;
    }
    if (after.runId !== primary.runId || after.role !== 'master') {
      this.reason = `${primary.host}:${primary.port} is not the primary the Sentinels name (run_id ${after.runId}, ${after.role})`;
      return false;
    }
    const acked = (r: string): boolean => {
      const ack = after.replicas.get(r);
      return ack !== undefined && ack.state === 'online' && ack.offset >= target;
    };
    const lagging = [...required].filter((r) => !acked(r));
    this.demoteLagging(required, lagging, view);
    this.restoreCaughtUp(acked);
    if (after.replid !== replid || lagging.length > 0) {
      this.reason =
        after.replid !== replid
          ? 'the primary changed its replication history'
          : `replica ${lagging.join(', ')} has not acknowledged offset ${target} (${describeAcks(after)}; lowered: ${this.priorities.loweredReplicas().join(', ') || 'none'}; ${view.summary})`;
      return false;
    }
    for (const w of batch) w.resolve();
    const done = new Set(batch);
    this.waiting = this.waiting.filter((w) => !done.has(w));
    return true;
  }

  /** Lowers the priority of a required replica that has lagged for LAG_MS (not of a down one). */
  private demoteLagging(required: ReadonlySet<string>, lagging: readonly string[], view: SentinelView): void {
    const now = performance.now();
    for (const r of this.lagSince.keys())
      if (!required.has(r) || !lagging.includes(r)) this.lagSince.delete(r);
    for (const r of lagging) {
      const since = this.lagSince.get(r) ?? now;
      this.lagSince.set(r, since);
      // A stale primary is behind by definition: no need to watch it lag.
      if ((now - since < LAG_MS && !view.stalePrimaries.has(r)) || view.down.has(r)) continue;
      this.restoring.delete(r);
      this.priorities.lower(r, view.stalePrimaries.has(r) ? view.primary : undefined);
    }
  }

  /** Raises a lowered replica back once it has acknowledged a round (waited for from now on). */
  private restoreCaughtUp(acked: (r: string) => boolean): void {
    for (const r of this.priorities.loweredReplicas()) {
      if (!acked(r)) continue;
      this.restoring.add(r);
      this.priorities.restore(r);
    }
  }

  /** Fails what is past its bound, and what went to a primary the Sentinels have replaced. */
  private expire(now: number, view: SentinelView | undefined): void {
    const current = view?.primary?.runId;
    const keep: Waiter[] = [];
    for (const w of this.waiting) {
      if (current !== undefined && w.at.runId !== current && this.namedPrimaries.has(w.at.runId))
        w.reject(
          new ReplicationError(
            'the Redis primary changed (failover) before the write was on every replica Sentinel could promote',
          ),
        );
      else if (now >= w.deadline)
        w.reject(
          new ReplicationError(
            `the write was not on the Redis replicas within ${this.boundMs} ms: ${this.reason}`,
          ),
        );
      else keep.push(w);
    }
    this.waiting = keep;
  }

  /** INCR + WAIT(AOF) + INFO on the gate's connection to `address`, bounded. */
  private async waitOn(address: string, replicas: number): Promise<ReplicationInfo> {
    const conn = await this.connection(address);
    const pipeline = conn.redis.pipeline();
    pipeline.incr(this.options.markerKey);
    if (conn.waitAof) pipeline.call('WAITAOF', '0', String(replicas), String(STEP_MS));
    else pipeline.call('WAIT', String(replicas), String(STEP_MS));
    pipeline.call('INFO', 'server', 'replication');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no reply in ${STEP_MS + 1000} ms`)), STEP_MS + 1000);
    });
    try {
      const replies = await Promise.race([pipeline.exec(), timeout]);
      const failed = replies?.find(([err]) => err);
      if (!replies || failed) throw failed?.[0] ?? new Error('pipeline discarded');
      return parseReplicationInfo(String(replies[2]![1]));
    } catch (err) {
      // A paused server answers late or never: replies must not arrive on a reused connection.
      this.dropConnection();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async connection(address: string): Promise<GateConnection> {
    if (this.conn?.address === address && this.conn.redis.status === 'ready') return this.conn;
    this.dropConnection();
    const redis = serverConnection(
      address,
      { username: this.options.username, password: this.options.password },
      1000,
      false,
    );
    const conn: GateConnection = { redis, address, waitAof: undefined };
    redis.on('error', (err: Error) => {
      this.reason = `gate connection to ${address}: ${err.message}`;
    });
    this.conn = conn;
    await redis.connect();
    // COMMAND INFO answers [null] for a command the server does not have (Redis 7.0: WAITAOF).
    const info = (await redis.call('COMMAND', 'INFO', 'WAITAOF')) as unknown[];
    conn.waitAof = Array.isArray(info) && info[0] !== null && info[0] !== undefined;
    return conn;
  }

  private dropConnection(): void {
    this.conn?.redis.disconnect();
    this.conn = undefined;
  }

  private failAll(err: Error): void {
    for (const w of this.waiting) w.reject(err);
    this.waiting = [];
  }

  close(): void {
    this.closed = true;
    this.failAll(new ReplicationError('the Redis store was closed before the write was on its replicas'));
    this.sentinels.close();
    this.dropConnection();
  }
}

function describeAcks(info: ReplicationInfo): string {
  const acks = [...info.replicas].map(([r, a]) => `${r} ${a.state} ${a.offset}`);
  return acks.length ? `the primary lists ${acks.join('; ')}` : 'the primary lists no replica';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
