/**
 * Message counters and rates, fed by broker.events. Counters are cumulative; rates come
 * from a sliding window of samples taken every `intervalMs`: (now - oldest sample in the
 * window) / elapsed, so a burst shows up immediately and fades out after `windowMs`.
 */
import type { Broker, BrokerEventMap, Message } from '@junction/core';

export const STAT_KEYS = [
  'publish',
  'deliver',
  'deliver_get',
  'get',
  'ack',
  'redeliver',
  'confirm',
  'return_unroutable',
  'drop_unroutable',
  'dead_lettered',
  'dropped',
] as const;
export type StatKey = (typeof STAT_KEYS)[number];
export type Counters = Record<StatKey, number>;

const zero = (): Counters => Object.fromEntries(STAT_KEYS.map((k) => [k, 0])) as Counters;

interface Sample {
  t: number;
  c: Counters;
}

/** One object's counters (a queue, a vhost or the whole broker) with its sample history. */
export class StatSeries {
  readonly counters = zero();
  private samples: Sample[] = [];

  constructor(private readonly now: () => number) {}

  inc(key: StatKey, n = 1): void {
    this.counters[key] += n;
  }

  sample(t: number, windowMs: number): void {
    this.samples.push({ t, c: { ...this.counters } });
    // Keep one sample older than the window so rates span the whole window.
    while (this.samples.length > 2 && this.samples[1]!.t <= t - windowMs) this.samples.shift();
  }

  rate(key: StatKey): number {
    const oldest = this.samples[0];
    if (!oldest) return 0;
    const elapsed = (this.now() - oldest.t) / 1000;
    if (elapsed <= 0) return 0;
    return Math.round(((this.counters[key] - oldest.c[key]) / elapsed) * 100) / 100;
  }

  /** RabbitMQ's message_stats: {publish, publish_details: {rate}, ...}; only counters that moved. */
  messageStats(): Record<string, number | { rate: number }> {
    const out: Record<string, number | { rate: number }> = {};
    for (const k of STAT_KEYS) {
      if (this.counters[k] === 0 && this.rate(k) === 0) continue;
      out[k] = this.counters[k];
      out[`${k}_details`] = { rate: this.rate(k) };
    }
    return out;
  }
}

export interface StatsOptions {
  /** Sampling period. Default 1000 ms. */
  intervalMs?: number;
  /** Rate window. Default 5000 ms. */
  windowMs?: number;
}

type Listener<K extends keyof BrokerEventMap> = [K, (...args: BrokerEventMap[K]) => void];

export class MessageStats {
  readonly global: StatSeries;
  private readonly queues = new Map<string, StatSeries>();
  private readonly vhosts = new Map<string, StatSeries>();
  private readonly timer: NodeJS.Timeout;
  private readonly windowMs: number;
  private readonly listeners: Listener<keyof BrokerEventMap>[] = [];
  /** Fanout shares one Message object between queues: count a publish once per message. */
  private lastPublished: Message | undefined;

  constructor(
    private readonly broker: Broker,
    opts: StatsOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.global = new StatSeries(now);
    this.windowMs = opts.windowMs ?? 5000;
    // A direct subscription is no queue: its messages count for the vhost and the broker only.
    this.listen('enqueued', ({ vhost, queue, message, direct }) => {
      this.count('publish', vhost, direct ? undefined : queue, message !== this.lastPublished);
      this.lastPublished = message;
    });
    this.listen('delivered', ({ vhost, queue, direct }) => {
      this.count('deliver', vhost, direct ? undefined : queue);
      this.count('deliver_get', vhost, direct ? undefined : queue);
    });
    this.listen('acked', ({ vhost, queue, direct }) => this.count('ack', vhost, direct ? undefined : queue));
    this.listen('requeued', ({ vhost, queue }) => this.count('redeliver', vhost, queue));
    this.listen('deadLettered', ({ vhost, queue }) => this.count('dead_lettered', vhost, queue));
    this.listen('dropped', ({ vhost, queue, direct }) =>
      this.count('dropped', vhost, direct ? undefined : queue),
    );
    this.listen('returned', ({ vhost }) => this.count('return_unroutable', vhost, undefined));
    this.listen('queueDeleted', ({ vhost, queue }) => this.queues.delete(key(vhost, queue)));
    this.timer = setInterval(() => this.sampleAll(), opts.intervalMs ?? 1000);
    this.timer.unref();
    this.sampleAll();
  }

  private listen<K extends keyof BrokerEventMap>(event: K, fn: (...args: BrokerEventMap[K]) => void): void {
    this.broker.events.on(event, fn);
    this.listeners.push([event, fn] as unknown as Listener<keyof BrokerEventMap>);
  }

  /** Counts an event for its queue and vhost; `global` false counts it per queue only (fanout copies). */
  count(k: StatKey, vhost: string, queue: string | undefined, global = true, n = 1): void {
    if (queue !== undefined) this.queue(vhost, queue).inc(k, n);
    if (global) {
      this.vhost(vhost).inc(k, n);
      this.global.inc(k, n);
    }
  }

  /** Every queue's series, for metrics. */
  *queueSeries(): Iterable<{ vhost: string; queue: string; series: StatSeries }> {
    for (const [k, series] of this.queues) {
      const i = k.indexOf('\u0000');
      yield { vhost: k.slice(0, i), queue: k.slice(i + 1), series };
    }
  }

  queue(vhost: string, queue: string): StatSeries {
    let s = this.queues.get(key(vhost, queue));
    if (!s) {
      s = new StatSeries(this.now);
      s.sample(this.now(), this.windowMs);
      this.queues.set(key(vhost, queue), s);
    }
    return s;
  }

  vhost(vhost: string): StatSeries {
    let s = this.vhosts.get(vhost);
    if (!s) {
      s = new StatSeries(this.now);
      s.sample(this.now(), this.windowMs);
      this.vhosts.set(vhost, s);
    }
    return s;
  }

  sampleAll(): void {
    const t = this.now();
    this.global.sample(t, this.windowMs);
    for (const s of this.queues.values()) s.sample(t, this.windowMs);
    for (const s of this.vhosts.values()) s.sample(t, this.windowMs);
  }

  close(): void {
    clearInterval(this.timer);
    for (const [event, fn] of this.listeners) this.broker.events.off(event, fn);
    this.listeners.length = 0;
  }
}

const key = (vhost: string, queue: string): string => `${vhost}\u0000${queue}`;
