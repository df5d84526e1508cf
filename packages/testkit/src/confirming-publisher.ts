/**
 * A publisher with confirms for fault tests: keeps `window` persistent messages in flight on
 * an AMQP confirm channel (amqplib's, typed structurally so the testkit needs no amqplib),
 * each with its number as messageId, and records which were confirmed, when, and how many
 * were nacked. The checker then reads the queue back and compares (confirmed ⊆ present).
 */
export interface ConfirmPublishChannel {
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: { persistent: boolean; messageId: string },
    callback: (err: unknown) => void,
  ): boolean;
}

export class ConfirmingPublisher {
  readonly confirmed = new Set<number>();
  /** Confirm times (Date.now()), in the order they came. */
  readonly confirmTimes: number[] = [];
  /** Publish time of each message, by its number. */
  readonly publishedAt: number[] = [];
  nacked = 0;
  inFlight = 0;
  /** Messages published so far (the next one's number). */
  published = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly ch: ConfirmPublishChannel,
    private readonly queue: string,
    private readonly window = 100,
  ) {}

  private publishOne(): void {
    const id = this.published++;
    this.publishedAt.push(Date.now());
    this.inFlight++;
    const body = Buffer.from(`order ${id}`);
    this.ch.publish('', this.queue, body, { persistent: true, messageId: String(id) }, (err) => {
      this.inFlight--;
      if (err) this.nacked++;
      else {
        this.confirmed.add(id);
        this.confirmTimes.push(Date.now());
      }
      this.wake?.();
    });
  }

  /** Publishes, `window` in flight, until `done()` or `maxMs` (a bound, not an expectation). */
  async runUntil(done: () => boolean, maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (!done() && Date.now() < deadline) {
      while (this.inFlight < this.window) this.publishOne();
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
    }
  }

  /** The longest stretch between two confirms, in ms. */
  longestGap(): number {
    let gap = 0;
    const t = this.confirmTimes;
    for (let i = 1; i < t.length; i++) gap = Math.max(gap, t[i]! - t[i - 1]!);
    return gap;
  }
}
