/**
 * Conditions a test can wait for, with a deadline: what no other broker offers and what
 * lets users' own test suites use a real Junction instead of mocking their AMQP client.
 * Each waiter re-checks its condition on the broker events that can change it, never by
 * sleeping a fixed time.
 */
import type { Broker, BrokerEventMap, DeathReason, Message } from '@junction/core';

export interface WaitOptions {
  vhost?: string;
  /** Default 5000 ms. */
  timeoutMs?: number;
}

export type MessageMatch = string | ((msg: Message) => boolean);

const matchOf = (m: MessageMatch) =>
  typeof m === 'string' ? (msg: Message) => msg.properties.messageId === m : m;

export class Waiters {
  constructor(private readonly broker: Broker) {}

  /** Resolves when `check` returns a value other than undefined, re-checked on the named events. */
  until<T>(
    events: (keyof BrokerEventMap)[],
    check: () => T | undefined,
    what: string,
    timeoutMs = 5000,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const first = check();
      if (first !== undefined) return resolve(first);
      const listener = (): void => {
        let v: T | undefined;
        try {
          v = check();
        } catch (err) {
          done();
          reject(err as Error);
          return;
        }
        if (v !== undefined) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        for (const e of events) this.broker.events.off(e, listener);
      };
      for (const e of events) this.broker.events.on(e, listener);
    });
  }

  /** Until the queue holds exactly `n` ready messages. */
  queueDepth(queue: string, n: number, opts: WaitOptions = {}): Promise<number> {
    const vhost = opts.vhost ?? '/';
    return this.until(
      [
        'enqueued',
        'delivered',
        'requeued',
        'dropped',
        'deadLettered',
        'acked',
        'queueDeclared',
        'queueDeleted',
      ],
      () => {
        const depth = this.broker.vhosts.get(vhost)?.queues.get(queue)?.messageCount;
        return depth === n ? depth : undefined;
      },
      `queue '${queue}' to hold ${n} messages`,
      opts.timeoutMs,
    );
  }

  /** Until a consumer is attached to the queue (at least `count`). */
  consumer(queue: string, opts: WaitOptions & { count?: number } = {}): Promise<number> {
    const vhost = opts.vhost ?? '/';
    const want = opts.count ?? 1;
    return this.until(
      ['consumerAdded', 'queueDeclared'],
      () => {
        const n = this.broker.vhosts.get(vhost)?.queues.get(queue)?.consumerCount ?? 0;
        return n >= want ? n : undefined;
      },
      `${want} consumer(s) on queue '${queue}'`,
      opts.timeoutMs,
    );
  }

  /** Until a message matching `match` (a message-id, or a predicate) is acked. */
  acked(match: MessageMatch, opts: WaitOptions = {}): Promise<Message> {
    const m = matchOf(match);
    return this.event('acked', (e) => (m(e.message) ? e.message : undefined), 'an ack', opts);
  }

  /** Until a message matching `match` is dead-lettered; resolves with the reason. */
  deadLettered(
    match: MessageMatch,
    opts: WaitOptions = {},
  ): Promise<{ message: Message; reason: DeathReason; queue: string }> {
    const m = matchOf(match);
    return this.event('deadLettered', (e) => (m(e.message) ? e : undefined), 'a dead-lettering', opts);
  }

  /** Until a message matching `match` is enqueued anywhere (or in `queue`). */
  enqueued(match: MessageMatch, opts: WaitOptions & { queue?: string } = {}): Promise<Message> {
    const m = matchOf(match);
    return this.event(
      'enqueued',
      (e) => ((opts.queue === undefined || e.queue === opts.queue) && m(e.message) ? e.message : undefined),
      'an enqueue',
      opts,
    );
  }

  private event<K extends keyof BrokerEventMap, T>(
    event: K,
    pick: (payload: BrokerEventMap[K][0]) => T | undefined,
    what: string,
    opts: WaitOptions,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const listener = (...args: BrokerEventMap[K]): void => {
        const payload = args[0];
        if (opts.vhost !== undefined && (payload as { vhost?: string }).vhost !== opts.vhost) return;
        const v = pick(payload);
        if (v === undefined) return;
        clearTimeout(timer);
        this.broker.events.off(event, listener);
        resolve(v);
      };
      const timeoutMs = opts.timeoutMs ?? 5000;
      const timer = setTimeout(() => {
        this.broker.events.off(event, listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.broker.events.on(event, listener);
    });
  }
}
