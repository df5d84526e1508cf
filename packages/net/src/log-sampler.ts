/**
 * At most one log line per `intervalMs` for an event anyone on the network can cause (a
 * failed TLS handshake): the first is logged at once, the rest of the interval are counted
 * and the next line says how many were left out. A port scan cannot flood the log, and an
 * operator still sees that certificates are being refused.
 */
export class LogSampler {
  private lastAt = -Infinity;
  private skipped = 0;

  constructor(private readonly intervalMs: number) {}

  /** Whether to log this one; if so, `skipped` is how many were left out since the last. */
  take(now = performance.now()): { skipped: number } | undefined {
    if (now - this.lastAt < this.intervalMs) {
      this.skipped++;
      return undefined;
    }
    this.lastAt = now;
    const skipped = this.skipped;
    this.skipped = 0;
    return { skipped };
  }
}
