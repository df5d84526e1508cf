/**
 * What the Sentinels of a replication group say, polled (every POLL_MS) on one connection per
 * Sentinel: the primary a majority of them name, and every replica any of those Sentinels
 * could promote. The replication gate confirms a write only while a majority answers and
 * names the server that took it, and only once every replica of `promotable` acknowledged it.
 *
 * `promotable` is deliberately wide: a replica counts unless every answering Sentinel that
 * names the same primary has it as down (`s_down`/`o_down`) or as a replica with
 * `slave-priority 0`, since the Sentinel that leads a failover picks from its own view. A
 * replica Sentinel has not marked down yet (the first `down-after-milliseconds` of an outage)
 * is still waited for, and so is one whose priority Sentinel read as 0 while it reported itself
 * a primary (it may have been promoted before the priority reached Sentinel).
 */
import { Redis } from 'ioredis';

/** How often each Sentinel is asked. */
export const POLL_MS = 200;
/** Longest a Sentinel may take to answer one poll. */
const ANSWER_MS = 500;

export interface SentinelAddress {
  readonly host: string;
  readonly port: number;
}

export interface NamedPrimary {
  readonly runId: string;
  readonly host: string;
  readonly port: number;
}

export interface SentinelView {
  /** performance.now() when the poll that made it was sent. */
  readonly at: number;
  readonly total: number;
  readonly answered: number;
  /** The primary a majority of all the Sentinels (answering or not) name; undefined: none. */
  readonly primary: NamedPrimary | undefined;
  /** `ip:port` of every replica one of the majority's Sentinels could promote. */
  readonly promotable: ReadonlySet<string>;
  /** `ip:port` of the replicas every one of the majority's Sentinels has as down. */
  readonly down: ReadonlySet<string>;
  /**
   * `ip:port` of the replicas that every one of the majority's Sentinels lists under a healthy
   * primary (no `s_down`, `o_down` or failover in progress) while they report themselves a
   * primary: an old primary that woke up after a failover. Sentinel turns it into a replica,
   * but only once it has reported so for 8 s (4 hello periods). Empty while a failover may be
   * under way, when a replica reporting `master` may be the one being promoted.
   */
  readonly stalePrimaries: ReadonlySet<string>;
  /** For error messages: why there is no primary, or what each Sentinel said. */
  readonly summary: string;
}

export interface SentinelViewOptions {
  sentinels: readonly SentinelAddress[];
  masterName: string;
  username?: string | undefined;
  password?: string | undefined;
}

interface Answer {
  master: Map<string, string>;
  replicas: Map<string, string>[];
}

/** A flat [k1, v1, k2, v2, ...] reply (SENTINEL MASTER, one entry of SENTINEL REPLICAS) as a Map. */
export function sentinelFields(reply: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (Array.isArray(reply))
    for (let i = 0; i + 1 < reply.length; i += 2) m.set(String(reply[i]), String(reply[i + 1]));
  return m;
}

export class SentinelPoller {
  private readonly conns: Redis[];
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private latest: SentinelView | undefined;
  private readonly listeners = new Set<(v: SentinelView) => void>();

  constructor(private readonly options: SentinelViewOptions) {
    this.conns = options.sentinels.map((s) => {
      const conn = new Redis({
        host: s.host,
        port: s.port,
        ...(options.username !== undefined ? { username: options.username } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
        lazyConnect: true,
        connectTimeout: ANSWER_MS,
        commandTimeout: ANSWER_MS,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => POLL_MS,
      });
      // A Sentinel that does not answer is counted as such in the view; its error is not news.
      conn.on('error', () => undefined);
      return conn;
    });
  }

  start(): void {
    if (this.timer) return;
    for (const c of this.conns)
      c.connect().catch((err: unknown) =>
        this.note(`Sentinel ${c.options.host}:${c.options.port}: ${String(err)}`),
      );
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
    void this.poll();
  }

  /** The last view (undefined before the first poll answered). */
  get view(): SentinelView | undefined {
    return this.latest;
  }

  /** Called with every new view. */
  onView(listener: (v: SentinelView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private lastNote = '';
  /** The last connection problem (for the view's summary when no Sentinel answers). */
  private note(what: string): void {
    this.lastNote = what;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    const at = performance.now();
    try {
      const answers = await Promise.all(this.conns.map((c) => this.ask(c)));
      this.latest = this.viewOf(at, answers);
      for (const l of this.listeners) l(this.latest);
    } finally {
      this.polling = false;
    }
  }

  private async ask(conn: Redis): Promise<Answer | undefined> {
    if (conn.status !== 'ready') return undefined;
    try {
      const [master, replicas] = await Promise.all([
        conn.call('SENTINEL', 'MASTER', this.options.masterName),
        conn.call('SENTINEL', 'REPLICAS', this.options.masterName),
      ]);
      return {
        master: sentinelFields(master),
        replicas: Array.isArray(replicas) ? replicas.map(sentinelFields) : [],
      };
    } catch (err) {
      this.note(`Sentinel ${conn.options.host}:${conn.options.port}: ${(err as Error).message}`);
      return undefined;
    }
  }

  private viewOf(at: number, answers: (Answer | undefined)[]): SentinelView {
    const total = answers.length;
    const majority = Math.floor(total / 2) + 1;
    const got = answers.filter((a): a is Answer => a !== undefined);
    const byRunId = new Map<string, Answer[]>();
    for (const a of got) {
      const runId = a.master.get('runid');
      if (!runId) continue;
      const list = byRunId.get(runId) ?? [];
      list.push(a);
      byRunId.set(runId, list);
    }
    const [runId, agreeing] = [...byRunId].find(([, list]) => list.length >= majority) ?? [];
    if (runId === undefined || agreeing === undefined) {
      const named = [...byRunId].map(([id, l]) => `${l.length} name ${id.slice(0, 8)}`).join(', ');
      return {
        at,
        total,
        answered: got.length,
        primary: undefined,
        promotable: new Set(),
        down: new Set(),
        stalePrimaries: new Set(),
        summary:
          `${got.length} of ${total} Sentinels answered${named ? ` (${named})` : ''}; ` +
          `a majority (${majority}) must name one primary${got.length === 0 && this.lastNote ? `: ${this.lastNote}` : ''}`,
      };
    }
    const first = agreeing[0]!.master;
    const promotable = new Set<string>();
    const listed = new Set<string>();
    const up = new Set<string>();
    for (const a of agreeing)
      for (const r of a.replicas) {
        const address = `${r.get('ip')}:${r.get('port')}`;
        listed.add(address);
        const flags = (r.get('flags') ?? '').split(',');
        if (flags.includes('s_down') || flags.includes('o_down')) continue;
        up.add(address);
        if (r.get('slave-priority') === '0' && r.get('role-reported') === 'slave') continue;
        promotable.add(address);
      }
    const down = new Set([...listed].filter((r) => !up.has(r)));
    const healthy = agreeing.every((a) => a.master.get('flags') === 'master');
    const stalePrimaries = new Set(
      healthy
        ? [...up].filter((address) =>
            agreeing.every((a) =>
              a.replicas.some(
                (r) => `${r.get('ip')}:${r.get('port')}` === address && r.get('role-reported') === 'master',
              ),
            ),
          )
        : [],
    );
    return {
      at,
      total,
      answered: got.length,
      primary: { runId, host: first.get('ip') ?? '', port: Number(first.get('port')) },
      promotable,
      down,
      stalePrimaries,
      summary: `${agreeing.length} of ${total} Sentinels name ${first.get('ip')}:${first.get('port')}; promotable replicas: ${[...promotable].join(', ') || 'none'}`,
    };
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    for (const c of this.conns) c.disconnect();
  }
}
