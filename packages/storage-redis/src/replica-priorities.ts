/**
 * Makes a lagging replica unpromotable and back: `CONFIG SET replica-priority 0` on the
 * replica itself (Sentinel reads each replica's priority from its INFO, every second while the
 * replica's link to its primary is down, else every 10 s; it never promotes priority 0). The
 * replication gate lowers a replica that has not acknowledged for a while (a restarted or
 * re-pointed server doing a full sync, a slow one), so that once every Sentinel shows it at 0 it
 * can stop waiting for it without letting Sentinel promote a replica that lacks confirmed
 * writes; it raises the priority back to what it was once the replica has caught up.
 *
 * CONFIG SET is not persisted: a replica that restarts comes back with its configured priority,
 * is promotable again, and the gate waits for it again (and lowers it again if it lags).
 */
import type { Redis } from 'ioredis';
import { serverConnection, type ServerAuth } from './server-connection.js';

const ANSWER_MS = 1000;
/**
 * How long after a replica was lowered no Sentinel can still pick it on what it read before:
 * a failover leader skips replicas whose INFO is older than 5 s (5 ping periods, while the
 * primary is down), plus a margin for the leader's REPLICAOF NO ONE to arrive. A replica still
 * following the primary this long after it went to 0 was not promoted on an older reading.
 */
export const SETTLE_MS = 6_500;
/** A lowered replica's priority and role are read back this often (a restart resets them). */
const CHECK_MS = 300;

interface Lowered {
  /** The priority it had. */
  readonly before: string;
  /** performance.now() of the CONFIG SET. */
  readonly since: number;
  /** When its priority last read 0, and the primary it followed then ('' if none). */
  checkedAt: number;
  follows: string;
}

export interface PrimaryAddress {
  readonly host: string;
  readonly port: number;
}
export class ReplicaPriorities {
  /** Replicas this gate lowered. */
  private readonly lowered = new Map<string, Lowered>();
  private checking = false;
  private lastCheck = 0;
  /** A CONFIG SET in flight per replica. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly auth: ServerAuth,
    private readonly onProblem: (what: string) => void,
  ) {}

  isLowered(address: string): boolean {
    return this.lowered.has(address);
  }

  loweredReplicas(): string[] {
    return [...this.lowered.keys()];
  }

  /**
   * Starts lowering `address` to priority 0 (once at a time; a failure is reported, not
   * thrown). With `follow`, a stale primary (an old one that woke after a failover) is first
   * made a replica of the new one, as Sentinel does once it has seen it report `master` for
   * 8 s: what it took after the failover was never confirmed (the promoted replica could not
   * acknowledge it), and as a replica it syncs.
   */
  lower(address: string, follow?: PrimaryAddress): void {
    if (this.lowered.has(address) || this.busy.has(address)) return;
    void this.change(address, async (conn) => {
      const [, before] = (await conn.call('CONFIG', 'GET', 'replica-priority')) as [string, string];
      if (follow) await conn.call('REPLICAOF', follow.host, String(follow.port));
      await conn.call('CONFIG', 'SET', 'replica-priority', '0');
      const now = performance.now();
      this.lowered.set(address, {
        before: before === '0' ? '100' : before,
        since: now,
        checkedAt: now,
        follows: follow ? `${follow.host}:${follow.port}` : '',
      });
    });
  }

  /**
   * Lowered SETTLE_MS ago or more, read back at 0 within the last second and following
   * `primary`: no Sentinel can promote it now, whatever its own view says yet.
   */
  settled(address: string, primary: PrimaryAddress, now: number): boolean {
    const l = this.lowered.get(address);
    return (
      l !== undefined &&
      now - l.since >= SETTLE_MS &&
      now - l.checkedAt < 1000 &&
      l.follows === `${primary.host}:${primary.port}`
    );
  }

  /** Reads every lowered replica's priority and role back (at most every CHECK_MS). */
  checkLowered(): void {
    const now = performance.now();
    if (this.checking || this.lowered.size === 0 || now - this.lastCheck < CHECK_MS) return;
    this.checking = true;
    this.lastCheck = now;
    void Promise.all(
      [...this.lowered.keys()].map((address) =>
        this.change(address, async (conn) => {
          const [, priority] = (await conn.call('CONFIG', 'GET', 'replica-priority')) as [string, string];
          const role = (await conn.call('ROLE')) as unknown[];
          const l = this.lowered.get(address);
          if (!l) return;
          // A restart brings the configured priority back: it must be lowered again.
          if (priority !== '0') this.lowered.delete(address);
          else {
            l.checkedAt = performance.now();
            l.follows = role[0] === 'slave' ? `${String(role[1])}:${String(role[2])}` : '';
          }
        }),
      ),
    ).finally(() => (this.checking = false));
  }

  /** Starts raising `address` back to the priority it had before lower(). */
  restore(address: string): void {
    const before = this.lowered.get(address)?.before;
    if (before === undefined || this.busy.has(address)) return;
    void this.change(address, async (conn) => {
      await conn.call('CONFIG', 'SET', 'replica-priority', before);
      this.lowered.delete(address);
    });
  }

  private async change(address: string, what: (conn: Redis) => Promise<void>): Promise<void> {
    this.busy.add(address);
    const conn = serverConnection(address, this.auth, ANSWER_MS);
    conn.on('error', (err: Error) => this.onProblem(`replica ${address}: ${err.message}`));
    try {
      await conn.connect();
      await what(conn);
    } catch (err) {
      this.onProblem(`cannot change the replica-priority of ${address}: ${(err as Error).message}`);
    } finally {
      this.busy.delete(address);
      conn.disconnect();
    }
  }
}
