/**
 * Negotiated heart-beats: an EOL out when nothing else was written for a while, and the
 * connection dropped when the client falls silent for twice its interval.
 */
import { HEARTBEAT } from './encode.js';

export class Heartbeats {
  private lastReadAt = Date.now();
  private wroteSinceTick = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly write: (frame: Buffer) => void,
    private readonly onSilent: () => void,
  ) {}

  read(): void {
    this.lastReadAt = Date.now();
  }

  wrote(): void {
    this.wroteSinceTick = true;
  }

  start(out: number, inc: number): void {
    if (out > 0) {
      // Ticks at half the interval: an EOL goes out when a whole tick passed without any
      // write, so the gap between writes never exceeds the negotiated interval.
      this.every(Math.max(1, Math.floor(out / 2)), () => {
        if (!this.wroteSinceTick)
          this.write(HEARTBEAT); // marks a write: next EOL a full interval later
        else this.wroteSinceTick = false;
      });
    }
    if (inc > 0) {
      this.every(Math.max(10, Math.floor(inc / 2)), () => {
        if (Date.now() - this.lastReadAt > inc * 2) this.onSilent();
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
