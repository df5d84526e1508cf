/**
 * What the broker tells observers: management, metrics and the test waiters. Emitting
 * costs a boolean check when nobody listens, so the hot path pays nothing for it.
 */
import { EventEmitter } from 'node:events';
import type { Message } from './message.js';

export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

export interface BrokerEventMap {
  /**
   * `direct`: through a direct subscription (direct-subscription.ts), which is no queue: `queue`
   * is the name its queue would have had, and per-queue figures leave it out.
   */
  enqueued: [{ vhost: string; queue: string; message: Message; direct?: true }];
  delivered: [{ vhost: string; queue: string; message: Message; consumerTag: string; direct?: true }];
  acked: [{ vhost: string; queue: string; message: Message; direct?: true }];
  requeued: [{ vhost: string; queue: string; message: Message }];
  deadLettered: [{ vhost: string; queue: string; message: Message; reason: DeathReason }];
  dropped: [
    {
      vhost: string;
      queue: string;
      message: Message;
      reason: DeathReason | 'purged' | 'deleted';
      direct?: true;
    },
  ];
  returned: [{ vhost: string; message: Message }];
  consumerAdded: [{ vhost: string; queue: string; consumerTag: string }];
  consumerRemoved: [{ vhost: string; queue: string; consumerTag: string }];
  queueDeclared: [{ vhost: string; queue: string }];
  queueDeleted: [{ vhost: string; queue: string }];
  exchangeDeclared: [{ vhost: string; exchange: string }];
  exchangeDeleted: [{ vhost: string; exchange: string }];
  connectionOpened: [{ id: string; protocol: string }];
  connectionClosed: [{ id: string; protocol: string }];
  /** A durable store write finished (see storage/timed-store.ts). */
  storeCommit: [{ operation: string; seconds: number }];
}

type Listener<K extends keyof BrokerEventMap> = (...args: BrokerEventMap[K]) => void;

export class BrokerEvents {
  /** True while anyone listens: hot paths check this before building an event. */
  observed = false;
  private readonly emitter = new EventEmitter();
  private listeners = 0;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  on<K extends keyof BrokerEventMap>(event: K, fn: Listener<K>): this {
    this.emitter.on(event, fn as (...args: unknown[]) => void);
    this.observed = ++this.listeners > 0;
    return this;
  }

  off<K extends keyof BrokerEventMap>(event: K, fn: Listener<K>): this {
    const before = this.emitter.listenerCount(event);
    this.emitter.off(event, fn as (...args: unknown[]) => void);
    if (this.emitter.listenerCount(event) < before) this.observed = --this.listeners > 0;
    return this;
  }

  emit<K extends keyof BrokerEventMap>(event: K, ...args: BrokerEventMap[K]): void {
    this.emitter.emit(event, ...args);
  }
}
