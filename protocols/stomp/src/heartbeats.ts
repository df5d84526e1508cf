/**
 * Negotiated heart-beats: an EOL out when nothing else was written for a while, and the
 * connection dropped when the client falls silent for twice its interval (never while the
 * broker itself holds reading paused: the client's heart-beats then wait unread).
 */
import type { Link } from '@junction/net';
import { HEARTBEAT } from './encode.js';

export class Heartbeats {
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly link: Link,
    private readonly onSilent: () => void,
  ) {}

  start(out: number, inc: number): void {
    if (out > 0) {
      // Ticks at half the interval: an EOL goes out when a whole tick passed without any
      // write, so the gap between writes never exceeds the negotiated interval.
      const tick = Math.max(1, Math.floor(out / 2));
      this.every(tick, () => {
        if (Date.now() - this.link.lastWriteAt >= tick) this.link.send(HEARTBEAT);
      });
    }
    if (inc > 0) {
      this.every(Math.max(10, Math.floor(inc / 2)), () => {
        if (this.link.isSilentFor(inc * 2)) this.onSilent();
      });
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private every(ms: number, f: () => void): void {
    const t = setInterval(f, ms);
    t.unref();
    this.timers.push(t);
  }
}
