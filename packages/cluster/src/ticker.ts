/**
 * A job run every `everyMs`, never two rounds at once: a round that is still waiting on Redis
 * (unreachable, paused) makes the next ticks skip rather than pile up commands behind it.
 */
export class Ticker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly everyMs: number,
    private readonly round: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
  }

  /** Runs one round now unless one is in flight; resolves when the round in flight is done. */
  tick(): Promise<void> {
    this.running ??= this.round()
      .catch(this.onError)
      .finally(() => (this.running = undefined));
    return this.running;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
