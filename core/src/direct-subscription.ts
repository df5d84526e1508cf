/**
 * A subscription bound straight from an exchange's binding index to one client: no queue,
 * consumer or binding record of its own. It is what an MQTT subscription of a session that
 * ends with its connection becomes (DESIGN-NOTES, "What an MQTT device costs"): its queue
 * would have been exclusive, transient and consumed by that client alone, so the same
 * behaviour fits in this object. Messages the client cannot take now wait here in order, in
 * memory (as in such a queue); a message's own TTL runs while it waits; and a backlog of
 * FLOW_HIGH holds publishers back until it is under FLOW_LOW again, as a queue's does.
 */
import type { BrokerEvents } from './events.js';
import type { Destination } from './exchanges/exchange-type.js';
import { FLOW_HIGH, FLOW_LOW, type FlowHolder } from './flow.js';
import type { Message } from './message.js';
import { Deque } from './queues/deque.js';

/** The client side of a direct subscription. */
export interface DirectSink {
  /** Whether the client can take a message now (its QoS 1 window); false: it waits here. */
  hasRoom(): boolean;
  /**
   * Takes one message; `expiresAt` is when its TTL runs out (epoch ms, 0: never). False: the
   * transport is full, and resume() is called when it drains.
   */
  deliver(msg: Message, expiresAt: number): boolean;
}

interface Waiting {
  readonly msg: Message;
  readonly expiresAt: number;
}

/** Binding ids of direct subscriptions: one per subscription, never reused. */
let nextId = 0;

export class DirectSubscription implements Destination {
  readonly kind = 'direct' as const;
  /** The binding's identity in its exchange's index. */
  readonly id = `d${++nextId}`;
  /** Publishers held back by this backlog (flow.ts); created by the first. */
  flowHolders: Set<FlowHolder> | undefined;
  /** Created by the first message that has to wait. */
  private backlog: Deque<Waiting> | undefined;
  /** The transport is full: nothing is delivered until resume(). */
  private blocked = false;
  private closed = false;

  constructor(
    /**
     * What the subscription's queue would have been called: permissions were checked on it,
     * and it names the subscription in events and logs.
     */
    readonly name: string,
    readonly exchange: string,
    readonly pattern: string,
    private readonly sink: DirectSink,
    private readonly vhost: string,
    private readonly events: BrokerEvents,
  ) {}

  /** Messages waiting for the client. */
  get messageCount(): number {
    return this.backlog?.length ?? 0;
  }

  /** The client is falling behind: publishers into it should wait (flow.ts). */
  get congested(): boolean {
    return this.messageCount >= FLOW_HIGH;
  }

  /** A routed message. `ttl` is its own expiration in ms (undefined: none). */
  offer(msg: Message, ttl: number | undefined, now: number): void {
    if (this.closed) return;
    const expiresAt = ttl === undefined ? 0 : now + ttl;
    if (this.events.observed)
      this.events.emit('enqueued', { vhost: this.vhost, queue: this.name, message: msg, direct: true });
    if (this.messageCount === 0 && !this.blocked && this.sink.hasRoom()) return this.hand(msg, expiresAt);
    // As a queue: a message with TTL 0 is delivered if the client can take it now, else it expires.
    if (ttl === 0) return this.expired(msg);
    (this.backlog ??= new Deque()).push({ msg, expiresAt });
  }

  /** The client has room again (its transport drained, or it acknowledged): waiting messages go. */
  resume(): void {
    this.blocked = false;
    const backlog = this.backlog;
    if (!backlog) return;
    const now = Date.now();
    while (backlog.length > 0 && !this.blocked && this.sink.hasRoom()) {
      const w = backlog.shift()!;
      if (w.expiresAt !== 0 && w.expiresAt <= now) this.expired(w.msg);
      else this.hand(w.msg, w.expiresAt);
    }
    if (backlog.length === 0) this.backlog = undefined;
    this.releaseFlow();
  }

  /** The client acknowledged a message it got from here. */
  acked(msg: Message): void {
    if (this.events.observed)
      this.events.emit('acked', { vhost: this.vhost, queue: this.name, message: msg, direct: true });
  }

  /** Unbound: the backlog goes, as a deleted queue's does, and held publishers are let go. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const left = this.backlog?.clear() ?? [];
    this.backlog = undefined;
    for (const w of left) this.dropped(w.msg, 'deleted');
    this.releaseFlow();
  }

  private hand(msg: Message, expiresAt: number): void {
    if (this.events.observed)
      this.events.emit('delivered', {
        vhost: this.vhost,
        queue: this.name,
        message: msg,
        consumerTag: '',
        direct: true,
      });
    if (!this.sink.deliver(msg, expiresAt)) this.blocked = true;
  }

  private expired(msg: Message): void {
    this.dropped(msg, 'expired');
  }

  private dropped(msg: Message, reason: 'expired' | 'deleted'): void {
    if (this.events.observed)
      this.events.emit('dropped', {
        vhost: this.vhost,
        queue: this.name,
        message: msg,
        reason,
        direct: true,
      });
  }

  private releaseFlow(): void {
    if (!this.flowHolders || this.flowHolders.size === 0) return;
    if (this.messageCount > FLOW_LOW && !this.closed) return;
    for (const h of this.flowHolders) h.release(this);
    this.flowHolders.clear();
  }
}
