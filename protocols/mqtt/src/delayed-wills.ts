import { MAX_TIMER_MS } from '@junction/core';

/**
 * MQTT 5 wills with a Will Delay Interval (3.1.3.2.2), waiting to be published: one unref'd
 * timer per such will, by client id. The will goes out when the delay has passed or the session
 * ends, whichever comes first, and not at all when the client connects to its session again.
 */
export class DelayedWills {
  private readonly pending = new Map<string, { timer: NodeJS.Timeout; publish: () => void }>();

  add(key: string, delayMs: number, publish: () => void): void {
    this.drop(key);
    this.arm(key, Date.now() + delayMs, publish);
  }

  /**
   * A new connection for the client id: the will is dropped when it takes up the session, or
   * published now when its Clean Start ends that session.
   */
  reconnected(key: string, sessionEnded: boolean): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.drop(key);
    if (sessionEnded) p.publish();
  }

  /** The adapter is closing: wills still waiting are not published. */
  clear(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  /** A delay past setTimeout's longest (a will delay of 25 days or more) takes several timers. */
  private arm(key: string, at: number, publish: () => void): void {
    const timer = setTimeout(
      () => {
        if (at > Date.now()) return this.arm(key, at, publish);
        this.pending.delete(key);
        publish();
      },
      Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS),
    );
    timer.unref();
    this.pending.set(key, { timer, publish });
  }

  private drop(key: string): void {
    const p = this.pending.get(key);
    if (p) clearTimeout(p.timer);
    this.pending.delete(key);
  }
}
