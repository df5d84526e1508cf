/**
 * The Redis store's group commit: writes issued within one event-loop turn are queued and sent
 * together on the next setImmediate as one pipeline (one round trip). Consecutive queue writes of
 * one kind (enqueue, remove, markDelivered) are merged: unfenced into one script call that may
 * span queues (one Redis server or primary: a whole fan-out in one call), fenced into one call
 * per queue behind that queue's epoch check (every key of a call in one hash slot). Order is
 * kept per queue: a remove issued after an enqueue runs after it.
 *
 * Refused writes (refused.ts: NOREPLICAS, READONLY, ... before the script ran) are held, not
 * failed: every later write waits behind them, so per-queue order holds, and they are sent
 * again after a back-off until they run or `holdMs` has passed. A FENCED reply fails the writes
 * of that call with QueueFencedError.
 *
 * An enqueue into a mirrored queue (`replicate`) settles only once the replication gate has the
 * writes of every pipeline that ran one of its calls on the replicas Sentinel could promote: such
 * a pipeline ends with `INFO server replication`, which says where it ran and how far it reaches.
 */
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { QueueFencedError } from '@junction/core';
import { isFenced } from './fence.js';
import type { QueueKeys } from './keys.js';
import { backoff, HeldTooLongError, isRefusedBeforeRun } from './refused.js';
import type { QueueScript, ScriptName } from './scripts.js';
import { ReplicationGate } from './replication-gate.js';
import type { ReplicationInfo } from './replication-info.js';

export type Arg = string | Buffer;

/** A queue as a write names it: its keys and, in cluster mode, the epoch it is written under. */
export interface QueueTarget {
  readonly keys: QueueKeys;
  readonly epoch: number | undefined;
  readonly vhost: string;
  readonly queue: string;
}

export interface EnqueueItem {
  readonly q: QueueTarget;
  readonly id: number;
  readonly expiresAt: number;
  readonly deliveryCount: number;
  readonly body: Buffer;
}

export interface EntryItem {
  readonly q: QueueTarget;
  readonly id: number;
}

/** One write as the store submits it. */
export type Write =
  | { kind: 'junctionEnqueue'; items: readonly EnqueueItem[]; replicate?: boolean }
  | { kind: 'junctionRemove' | 'junctionMarkDelivered'; items: readonly EntryItem[] }
  | { kind: 'junctionDropQueue'; q: QueueTarget }
  | { kind: 'script'; script: ScriptName; keys: string[]; args: Arg[] }
  | { kind: 'command'; add(p: ChainableCommander): void };

interface Op {
  readonly write: Write;
  /** Calls of this op not yet answered. */
  open: number;
  settled: boolean;
  /** Where the pipelines that ran its calls ran (only for a write that waits for the gate). */
  positions?: (ReplicationInfo | Error)[];
  resolve(): void;
  reject(err: Error): void;
}

/** One command of a pipeline and the ops it settles. */
interface Call {
  /** Build order: held calls are sent again in it. */
  readonly seq: number;
  readonly script?: ScriptName;
  readonly keys: string[];
  readonly args: Arg[];
  readonly add?: (p: ChainableCommander) => void;
  readonly ops: Op[];
  /** The queue a fenced call writes, for its FENCED error. */
  readonly fencedQueue?: QueueTarget;
  /** Date.now() of the first refusal. */
  heldSince?: number;
}

/** Most arguments one merged script call carries. */
const MAX_MERGED_ARGS = 24_000;

type ScriptCaller = Record<ScriptName, (numKeys: number, ...args: Arg[]) => unknown>;

export interface GroupCommitOptions {
  /** The replication gate (on a replication group): what `replicate` writes wait for. */
  gate(): ReplicationGate | undefined;
  /** The Redis key of the highest message id (raised before each enqueue call). */
  maxIdKey: string;
  /**
   * Redis Cluster: every call holds the keys of one hash slot (one queue per call, fenced or
   * not), each goes as a pipeline of its own to its slot's shard, and the max id is raised
   * before the calls that store the ids are sent (the shards answer in no common order).
   */
  slotted: boolean;
  /** How long a write Redis refused before running is held and retried (refused.ts). */
  holdMs: number;
  /** Wraps a Redis failure for the caller (names the server). */
  describe(err: Error): Error;
}

export class GroupCommit {
  private pending: Op[] = [];
  private flushScheduled = false;
  private seq = 0;
  /** Refused calls and every call built after them, in build order, waiting for a retry. */
  private held: Call[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAttempt = 0;
  private retrying = false;
  /** Pipelines sent and not yet answered, with the ops they settle. */
  readonly inflight = new Map<Promise<void>, Op[]>();

  constructor(
    private readonly redis: () => Redis | Cluster | undefined,
    private readonly options: GroupCommitOptions,
  ) {}

  submit(write: Write): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const gate = write.kind === 'junctionEnqueue' && write.replicate ? this.options.gate() : undefined;
      const op: Op = { write, open: 0, settled: false, resolve, reject };
      if (gate) {
        op.positions = [];
        op.resolve = () => replicated(op.positions!, gate).then(resolve, reject);
      }
      this.pending.push(op);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Whether writes are queued, held or in flight. */
  get busy(): boolean {
    return this.pending.length > 0 || this.held.length > 0 || this.inflight.size > 0 || this.retrying;
  }

  /** Fails every write not yet answered (the store closes while Redis is unreachable). */
  failAll(err: Error): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const op of this.pending) settle(op, err);
    this.pending = [];
    for (const call of this.held) for (const op of call.ops) settle(op, err);
    this.held = [];
    for (const ops of this.inflight.values()) for (const op of ops) settle(op, err);
    this.inflight.clear();
  }

  /** Sends every queued write as one pipeline (or holds it behind refused ones). */
  flush(): void {
    this.flushScheduled = false;
    const ops = this.pending;
    this.pending = [];
    if (ops.length === 0) return;
    const calls = this.build(ops);
    if (this.held.length > 0 || this.retrying) {
      for (const c of calls) this.held.push(c);
      return;
    }
    this.send(calls);
  }

  private send(calls: Call[], retry = false): void {
    const redis = this.redis();
    const ops = calls.flatMap((c) => c.ops);
    if (!redis) {
      const err = new Error('the Redis store is closed');
      for (const op of ops) settle(op, err);
      return;
    }
    if (retry) this.retrying = true;
    const sent = this.options.slotted ? this.sendSlotted(redis, calls) : this.exec(redis, calls);
    const done = sent.finally(() => {
      this.inflight.delete(done);
      if (retry) this.retrying = false;
      this.scheduleRetry(retry);
    });
    this.inflight.set(done, ops);
  }

  /** One pipeline with every call; each call answered with its reply. */
  private exec(redis: Redis | Cluster, calls: Call[]): Promise<void> {
    const pipeline = redis.pipeline();
    const caller = pipeline as unknown as ScriptCaller;
    for (const c of calls) {
      if (c.add) c.add(pipeline);
      else caller[c.script!](c.keys.length, ...c.keys, ...c.args);
    }
    const gated = calls.some((c) => c.ops.some((op) => op.positions));
    if (gated) pipeline.call('INFO', 'server', 'replication');
    return pipeline.exec().then(
      (replies) => {
        const at = gated ? positionOf(replies?.[calls.length]) : undefined;
        calls.forEach((c, i) => {
          const err = replies?.[i]?.[0] ?? (replies ? null : new Error('pipeline discarded'));
          this.answer(c, err, at);
        });
      },
      (err: Error) => {
        for (const c of calls) this.answer(c, err);
      },
    );
  }

  /** Redis Cluster: the max id first, then every other call on its own (each in one slot). */
  private async sendSlotted(redis: Redis | Cluster, calls: Call[]): Promise<void> {
    const maxIds = calls.filter((c) => c.script === 'junctionRaiseMaxId');
    await Promise.all(maxIds.map((c) => this.exec(redis, [c])));
    await Promise.all(calls.filter((c) => !maxIds.includes(c)).map((c) => this.exec(redis, [c])));
  }

  private answer(c: Call, err: Error | null, at?: ReplicationInfo | Error): void {
    if (!err) {
      for (const op of c.ops) {
        // One per pipeline, however many of its calls the op has there.
        if (op.positions && at && op.positions.at(-1) !== at) op.positions.push(at);
        if (--op.open === 0) settle(op);
      }
      return;
    }
    if (isRefusedBeforeRun(err)) {
      const now = Date.now();
      c.heldSince ??= now;
      if (now - c.heldSince < this.options.holdMs) {
        this.held.push(c);
        return;
      }
      err = new HeldTooLongError(now - c.heldSince, err);
    }
    const q = c.fencedQueue;
    const failure =
      q && isFenced(err)
        ? new QueueFencedError(q.vhost, q.queue, q.epoch!, { cause: err })
        : this.options.describe(err);
    for (const op of c.ops) settle(op, failure);
  }

  /** After a pipeline's answers: sends the held calls again after a back-off, in build order. */
  private scheduleRetry(wasRetry: boolean): void {
    if (this.held.length === 0) {
      if (wasRetry) this.retryAttempt = 0;
      return;
    }
    if (this.retryTimer || this.retrying) return;
    if (!this.held.some((c) => c.heldSince !== undefined)) {
      // Only writes that waited behind a retry that went through: no reason to wait longer.
      this.retryAttempt = 0;
      const calls = this.held;
      this.held = [];
      this.send(calls);
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const calls = this.held.sort((a, b) => a.seq - b.seq);
      this.held = [];
      this.send(calls, true);
    }, backoff(this.retryAttempt++));
  }

  // ---- building calls ------------------------------------------------------------------------

  private build(ops: Op[]): Call[] {
    const calls: Call[] = [];
    for (let i = 0; i < ops.length;) {
      const op = ops[i]!;
      const w = op.write;
      i++;
      if (w.kind === 'command') {
        this.push(calls, { keys: [], args: [], add: w.add }, [op]);
      } else if (w.kind === 'script') {
        this.push(calls, { script: w.script, keys: w.keys, args: w.args }, [op]);
      } else if (w.kind === 'junctionDropQueue') {
        this.pushQueueCall(calls, 'junctionDropQueue', w.q, [w.q.keys.entries, w.q.keys.records], [], [op]);
      } else {
        const run = [op];
        while (i < ops.length && ops[i]!.write.kind === w.kind) run.push(ops[i++]!);
        if (w.kind === 'junctionEnqueue') this.buildEnqueue(calls, run);
        else this.buildEntries(calls, w.kind, run);
      }
    }
    return calls;
  }

  private push(calls: Call[], call: Omit<Call, 'seq' | 'ops'>, ops: Op[]): void {
    for (const op of ops) op.open++;
    calls.push({ ...call, seq: this.seq++, ops });
  }

  /** One queue's call, fenced when its queue has an epoch. */
  private pushQueueCall(
    calls: Call[],
    script: QueueScript,
    q: QueueTarget,
    keys: string[],
    args: Arg[],
    ops: Op[],
  ): void {
    if (q.epoch === undefined) this.push(calls, { script, keys, args }, ops);
    else
      this.push(
        calls,
        {
          script: `${script}Fenced`,
          keys: [q.keys.epoch, ...keys],
          args: [String(q.epoch), ...args],
          fencedQueue: q,
        },
        ops,
      );
  }

  /**
   * Items of a run split into calls: one chain of unfenced calls spanning queues, and per fenced
   * queue its own chain. `add` appends one item to a call and returns its argument count.
   */
  private buildQueueCalls<I extends { q: QueueTarget }>(
    calls: Call[],
    script: QueueScript,
    run: Op[],
    items: (w: Write) => readonly I[],
    add: (item: I, queueIndex: number, args: Arg[], sentBodies: Set<number>) => void,
  ): void {
    interface Building {
      q: QueueTarget | undefined;
      keys: string[];
      index: Map<string, number>;
      args: Arg[];
      ops: Set<Op>;
      bodies: Set<number>;
    }
    const open = new Map<string, Building>();
    const finish = (b: Building): void => {
      const ops = [...b.ops];
      if (b.q) this.pushQueueCall(calls, script, b.q, b.keys, b.args, ops);
      else this.push(calls, { script, keys: b.keys, args: b.args }, ops);
    };
    for (const op of run) {
      for (const item of items(op.write)) {
        const perQueue = item.q.epoch !== undefined || this.options.slotted;
        const slot = perQueue ? item.q.keys.base : '';
        let b = open.get(slot);
        if (b && b.args.length >= MAX_MERGED_ARGS) {
          finish(b);
          b = undefined;
        }
        if (!b) {
          b = {
            q: perQueue ? item.q : undefined,
            keys: [],
            index: new Map(),
            args: [],
            ops: new Set(),
            bodies: new Set(),
          };
          open.set(slot, b);
        }
        let qi = b.index.get(item.q.keys.base);
        if (qi === undefined) {
          qi = b.index.size;
          b.index.set(item.q.keys.base, qi);
          b.keys.push(item.q.keys.entries, item.q.keys.records);
        }
        add(item, qi, b.args, b.bodies);
        b.ops.add(op);
      }
    }
    for (const b of open.values()) finish(b);
  }

  private buildEnqueue(calls: Call[], run: Op[]): void {
    let max = 0;
    const items = (w: Write): readonly EnqueueItem[] => (w.kind === 'junctionEnqueue' ? w.items : []);
    for (const op of run) for (const r of items(op.write)) if (r.id > max) max = r.id;
    // The highest id first: whatever the calls after it do, no stored id is above it.
    this.push(
      calls,
      { script: 'junctionRaiseMaxId', keys: [this.options.maxIdKey], args: [String(max)] },
      run,
    );
    this.buildQueueCalls(calls, 'junctionEnqueue', run, items, (r, qi, args, bodies) => {
      const first = !bodies.has(r.id);
      if (first) bodies.add(r.id);
      args.push(
        String(qi),
        String(r.id),
        String(r.expiresAt),
        String(r.deliveryCount),
        first ? '1' : '0',
        first ? r.body : '',
      );
    });
  }

  private buildEntries(calls: Call[], script: 'junctionRemove' | 'junctionMarkDelivered', run: Op[]): void {
    const items = (w: Write): readonly EntryItem[] => (w.kind === script ? w.items : []);
    this.buildQueueCalls(calls, script, run, items, (e, qi, args) => {
      args.push(String(qi), String(e.id));
    });
  }
}

/** The position from a pipeline's closing INFO reply, or why there is none. */
function positionOf(reply: [Error | null, unknown] | undefined): ReplicationInfo | Error {
  if (!reply) return new Error('no INFO reply');
  if (reply[0]) return reply[0];
  try {
    return ReplicationGate.position(reply[1]);
  } catch (err) {
    return err as Error;
  }
}

/** Settles once the gate has every position on the replicas; fails with its reason. */
async function replicated(
  positions: readonly (ReplicationInfo | Error)[],
  gate: ReplicationGate,
): Promise<void> {
  if (positions.length === 0) throw new Error('cannot tell where the write went (no INFO answered)');
  for (const p of positions)
    if (p instanceof Error) throw new Error(`cannot tell where the write went: ${p.message}`, { cause: p });
  await Promise.all(positions.map((p) => gate.wait(p as ReplicationInfo)));
}

function settle(op: Op, err?: Error): void {
  if (op.settled) return;
  op.settled = true;
  if (err) op.reject(err);
  else op.resolve();
}
