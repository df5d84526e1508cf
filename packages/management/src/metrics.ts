/**
 * Prometheus metrics (GET /metrics) on a registry of their own: queue depths and per-queue
 * message counters labeled by vhost/queue, connections per protocol, broker-wide
 * publish/deliver/ack/confirm counters and the process metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Broker, ProtocolAdapter } from '@junction/core';
import type { QueueStats } from '@junction/core/internal';
import type { Resources } from './scope.js';
import type { MessageStats, StatKey } from './stats.js';

const GLOBAL_COUNTERS: Partial<Record<StatKey, string>> = {
  publish: 'junction_messages_published_total',
  deliver: 'junction_messages_delivered_total',
  get: 'junction_messages_got_total',
  ack: 'junction_messages_acknowledged_total',
  confirm: 'junction_messages_confirmed_total',
  redeliver: 'junction_messages_redelivered_total',
  return_unroutable: 'junction_messages_unroutable_returned_total',
  dead_lettered: 'junction_messages_dead_lettered_total',
  dropped: 'junction_messages_dropped_total',
};

const QUEUE_COUNTERS: Partial<Record<StatKey, string>> = {
  publish: 'junction_queue_messages_published_total',
  deliver: 'junction_queue_messages_delivered_total',
  get: 'junction_queue_messages_got_total',
  ack: 'junction_queue_messages_acknowledged_total',
  redeliver: 'junction_queue_messages_redelivered_total',
  dead_lettered: 'junction_queue_messages_dead_lettered_total',
  dropped: 'junction_queue_messages_dropped_total',
};

export class Metrics {
  readonly registry = new Registry();
  private readonly stopCommits: () => void;

  constructor(
    broker: Broker,
    adapters: () => Iterable<ProtocolAdapter>,
    stats: MessageStats,
    resources?: () => Resources,
  ) {
    const registers = [this.registry];
    // Resource alarms (publishers are blocked while one is on) and what they watch.
    new Gauge({
      name: 'junction_alarm',
      help: 'Resource alarm in effect (1) or not (0): publishers are blocked while one is',
      labelNames: ['resource'],
      registers,
      collect() {
        const on = broker.activeAlarms();
        for (const resource of ['memory', 'disk'] as const) this.set({ resource }, on.has(resource) ? 1 : 0);
      },
    });
    const reading = (name: string, help: string, key: keyof Resources): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const v = resources?.()[key];
          if (v === undefined) this.reset();
          else this.set(v);
        },
      });
    };
    reading('junction_memory_used_bytes', 'Memory the alarm compares with its watermark (RSS)', 'memUsed');
    reading('junction_memory_high_watermark_bytes', 'Memory above which publishers are blocked', 'memLimit');
    reading('junction_disk_free_bytes', 'Free space on the data directory file system', 'diskFree');
    reading(
      'junction_disk_free_limit_bytes',
      'Free disk space below which publishers are blocked',
      'diskFreeLimit',
    );
    // Store commit latency: each durable write (a group commit) as the core timed it.
    const commits = new Histogram({
      name: 'junction_store_commit_seconds',
      help: 'Time from a durable store write being issued to it being committed, by operation',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    const onCommit = (e: { operation: string; seconds: number }): void =>
      commits.observe({ operation: e.operation }, e.seconds);
    broker.events.on('storeCommit', onCommit);
    this.stopCommits = () => broker.events.off('storeCommit', onCommit);
    collectDefaultMetrics({ register: this.registry });
    // Counters are read from MessageStats at scrape time: nothing extra on the message path.
    for (const [k, name] of Object.entries(GLOBAL_COUNTERS) as [StatKey, string][]) {
      new Counter({
        name,
        help: `Messages (${k}) across all queues`,
        registers,
        collect() {
          this.reset();
          this.inc(stats.global.counters[k]);
        },
      });
    }
    for (const [k, name] of Object.entries(QUEUE_COUNTERS) as [StatKey, string][]) {
      new Counter({
        name,
        help: `Messages (${k}) per queue`,
        labelNames: ['vhost', 'queue'],
        registers,
        collect() {
          this.reset();
          for (const { vhost, queue, series } of stats.queueSeries()) {
            if (broker.vhosts.get(vhost)?.queues.has(queue)) this.inc({ vhost, queue }, series.counters[k]);
          }
        },
      });
    }

    const depth = (name: string, help: string, pick: (s: QueueStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['vhost', 'queue'],
        registers,
        collect() {
          this.reset();
          for (const v of broker.vhosts.values())
            for (const q of v.queues.values()) this.set({ vhost: v.name, queue: q.name }, pick(q.stats()));
        },
      });
    depth('junction_queue_messages_ready', 'Messages ready for delivery', (s) => s.ready);
    depth('junction_queue_messages_unacked', 'Messages delivered, not yet acknowledged', (s) => s.unacked);
    depth('junction_queue_messages', 'Messages ready plus unacknowledged', (s) => s.ready + s.unacked);
    depth('junction_queue_consumers', 'Consumers per queue', (s) => s.consumers);

    new Gauge({
      name: 'junction_connections',
      help: 'Open client connections per protocol',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>([
          ['amqp', 0],
          ['mqtt', 0],
          ['stomp', 0],
        ]);
        for (const a of adapters())
          for (const c of a.connections()) counts.set(c.protocol, (counts.get(c.protocol) ?? 0) + 1);
        for (const [protocol, n] of counts) this.set({ protocol }, n);
      },
    });
    new Gauge({
      name: 'junction_queues',
      help: 'Queues',
      registers,
      collect() {
        let n = 0;
        for (const v of broker.vhosts.values()) n += v.queues.size;
        this.set(n);
      },
    });
    new Gauge({
      name: 'junction_exchanges',
      help: 'Exchanges',
      registers,
      collect() {
        let n = 0;
        for (const v of broker.vhosts.values()) n += v.exchanges.size;
        this.set(n);
      },
    });
    new Gauge({
      name: 'junction_vhosts',
      help: 'Virtual hosts',
      registers,
      collect() {
        this.set(broker.vhosts.size);
      },
    });
  }

  close(): void {
    this.stopCommits();
  }
}
