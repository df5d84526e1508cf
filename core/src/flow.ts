/**
 * Publisher flow control (RabbitMQ shows it as a connection in "flow" state). When a
 * publish lands in a queue whose consumers are falling behind (a ready backlog above
 * FLOW_HIGH while it has consumers), the publishing connection is asked to stop reading
 * until the backlog is back under FLOW_LOW. Without it, on a busy machine publishers
 * take the CPU that delivery needs and the backlog only grows.
 *
 * A hold also lapses after FLOW_MAX_HOLD_MS: a client that publishes and acks on the same
 * connection must not deadlock (its acks are what drains the queue). It is re-applied at
 * its next publish if the queue is still congested, so the effect is a rate limit.
 */
import type { ConnectionControl } from './session.js';

export const FLOW_HIGH = 8192;
export const FLOW_LOW = 1024;
export const FLOW_MAX_HOLD_MS = 200;

export interface FlowHolder {
  /** Queues whose congestion holds this publisher back; the queue calls release(). */
  release(queue: object): void;
}

export class PublisherFlow implements FlowHolder {
  /** Created at the first hold: most connections are never held (an idle device costs no Set). */
  private holds: Set<object> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly control: ConnectionControl) {}

  get throttled(): boolean {
    return this.holds !== undefined && this.holds.size > 0;
  }

  hold(queue: { flowHolders: Set<FlowHolder> | undefined }): void {
    this.holds ??= new Set();
    if (this.holds.has(queue)) return;
    this.holds.add(queue);
    (queue.flowHolders ??= new Set()).add(this);
    if (this.holds.size === 1) {
      this.control.throttle?.(true);
      this.timer = setTimeout(() => this.releaseAll(), FLOW_MAX_HOLD_MS);
      this.timer.unref();
    }
  }

  release(queue: object): void {
    if (!this.holds?.delete(queue)) return;
    if (this.holds.size === 0) this.lift();
  }

  private releaseAll(): void {
    for (const q of this.holds ?? []) (q as { flowHolders?: Set<FlowHolder> }).flowHolders?.delete(this);
    this.holds?.clear();
    this.lift();
  }

  private lift(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.control.throttle?.(false);
  }
}
