/**
 * RabbitMQ's per-vhost and per-user limits: `max-connections` and `max-queues` on a vhost,
 * `max-connections` and `max-channels` on a user. A limit is a non-negative integer; setting
 * a negative one clears it (RabbitMQ: -1 = no limit), 0 refuses every new connection, channel
 * or queue. They are kept with the vhost or user definition they belong to, so they are
 * stored, exported and deleted with it.
 */
import { BrokerError, preconditionFailed } from './errors.js';

export const VHOST_LIMITS = ['max-connections', 'max-queues'] as const;
export const USER_LIMITS = ['max-connections', 'max-channels'] as const;
export type VhostLimitName = (typeof VHOST_LIMITS)[number];
export type UserLimitName = (typeof USER_LIMITS)[number];

/** A limit's name -> value, as stored with a definition and shown by management. */
export type LimitValues = Readonly<Record<string, number>>;

/** One owner's limits (a vhost's or a user's); names are checked, so a plain Map suffices. */
export class Limits<N extends string> {
  private readonly values = new Map<N, number>();

  constructor(
    private readonly names: readonly N[],
    private readonly owner: string,
  ) {}

  get(name: N): number | undefined {
    return this.values.get(name);
  }

  /** Validates and sets (a negative value clears); returns whether anything changed. */
  set(name: string, value: unknown): boolean {
    const n = this.checkName(name);
    if (typeof value !== 'number' || !Number.isSafeInteger(value))
      throw preconditionFailed(`${this.owner} limit '${name}' must be an integer, got ${String(value)}`);
    if (value < 0) return this.values.delete(n);
    const changed = this.values.get(n) !== value;
    this.values.set(n, value);
    return changed;
  }

  clear(name: string): boolean {
    return this.values.delete(this.checkName(name));
  }

  /** Restores what a store held, skipping names this version does not know. */
  restore(values: LimitValues | undefined): void {
    for (const [k, v] of Object.entries(values ?? {})) {
      if ((this.names as readonly string[]).includes(k) && Number.isSafeInteger(v) && v >= 0)
        this.values.set(k as N, v);
    }
  }

  /** Exactly `values` from now on (another node's stored limits). */
  replace(values: LimitValues | undefined): void {
    this.values.clear();
    this.restore(values);
  }

  get size(): number {
    return this.values.size;
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.values);
  }

  private checkName(name: string): N {
    if (!(this.names as readonly string[]).includes(name))
      throw preconditionFailed(`unknown ${this.owner} limit '${name}' (known: ${this.names.join(', ')})`);
    return name as N;
  }
}

/** Live counts per vhost or per user, kept as connections and channels come and go. */
export class Counts {
  private readonly counts = new Map<string, number>();

  of(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: string, delta: number): void {
    const n = this.of(key) + delta;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }
}

/** NOT_ALLOWED (530, the connection closes), with `subject` so MQTT can answer CONNACK 3. */
export function limitReached(message: string): BrokerError {
  return new BrokerError('NOT_ALLOWED', `NOT_ALLOWED - ${message}`, { subject: 'limit-reached' });
}
