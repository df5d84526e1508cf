/**
 * Keeps dialing one wanted peer while it is wanted: at once, then after each failed or ended
 * connection with a doubling delay up to a bound (reset once a connection authenticates).
 */

export interface BackOff {
  /** First retry delay, ms. */
  minMs: number;
  /** Longest delay between attempts, ms. */
  maxMs: number;
}

export class Redialer {
  private timer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private stopped = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly backOff: BackOff,
    private readonly dial: () => void,
  ) {
    this.delayMs = backOff.minMs;
  }

  /** The connection authenticated: the next failure retries quickly again. */
  succeeded(): void {
    this.delayMs = this.backOff.minMs;
  }

  /** The connection ended or never came up: dial again after the current delay. */
  retry(): void {
    if (this.stopped || this.timer) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backOff.maxMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.dial();
    }, delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
