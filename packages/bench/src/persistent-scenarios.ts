/**
 * Persistent scenarios: 1 KiB persistent messages into durable queues with publisher
 * confirms (a confirm means the message is on disk), and the drain of a deep backlog.
 * They run against targets with durable storage: Junction on its embedded store, Junction
 * on Redis (one server; a group of a primary, 2 replicas and 3 Sentinels), RabbitMQ. The
 * mirrored-queue row runs only on the group.
 */
import amqp from 'amqplib';
import { throughput } from './amqp-scenarios.js';
import { cleanUp, sleep, startWorker, stopAll, type Measurement, type Scenario } from './workers.js';

let uniq = 0;

/**
 * Fills a durable queue with `total` confirmed 1 KiB persistent messages, then drains it with
 * one consumer: fill and drain rates, and the broker's RSS when the backlog is full.
 */
export function backlog(total: number): Scenario {
  const name = `persistent backlog of ${total.toLocaleString('en-US')} x 1 KiB: fill with confirms, then drain`;
  return {
    name,
    protocols: ['amqp'],
    persistent: true,
    rounds: 1,
    async run(target) {
      const url = target.urls.amqp!;
      const conn = await amqp.connect(url);
      const ch = await conn.createChannel();
      const queue = `bench-${process.pid}-${++uniq}-backlog`;
      await ch.assertQueue(queue, { durable: true });
      const rssBefore = target.rss();
      try {
        const t0 = performance.now();
        const producer = await startWorker({
          kind: 'produce',
          url,
          exchange: '',
          routingKey: queue,
          size: 1024,
          confirms: true,
          window: 256,
          persistent: true,
          limit: total,
        });
        for (;;) {
          const { count } = await producer.ask<{ count: number }>('count');
          if (count >= total) break;
          await sleep(0.5);
        }
        const fillSeconds = (performance.now() - t0) / 1000;
        await stopAll([producer]);
        const rssFull = target.rss();
        const t1 = performance.now();
        const consumer = await startWorker({ kind: 'consume', url, queue, prefetch: 1000, ackEvery: 100 });
        for (;;) {
          const { count } = await consumer.ask<{ count: number }>('count');
          if (count >= total) break;
          await sleep(0.2);
        }
        const drainSeconds = (performance.now() - t1) / 1000;
        await stopAll([consumer]);
        const out: Measurement[] = [
          { scenario: name, metric: 'fill msg/s (confirmed)', better: 'higher', value: total / fillSeconds },
          { scenario: name, metric: 'drain msg/s', better: 'higher', value: total / drainSeconds },
        ];
        if (rssFull !== undefined)
          out.push({
            scenario: name,
            metric: 'broker MiB RSS, backlog full',
            better: 'lower',
            value: rssFull / 2 ** 20,
          });
        if (rssFull !== undefined && rssBefore !== undefined) {
          out.push({
            scenario: name,
            metric: 'broker RSS growth, % of the backlog bytes',
            better: 'lower',
            value: ((rssFull - rssBefore) / (total * 1024)) * 100,
          });
        }
        return out;
      } finally {
        await cleanUp(
          queue,
          () => ch.deleteQueue(queue),
          () => conn.close(),
        );
      }
    },
  };
}

export const persistentScenarios: Scenario[] = [
  throughput('persistent 1->1 confirms, 1 KiB', 1024, true, 1, true),
  throughput('persistent fanout 1->4 confirms, 1 KiB', 1024, true, 4, true),
  // Only on a Redis group (junction-redis-group), beside that target's classic 1->1 row above.
  throughput('persistent 1->1 confirms, 1 KiB, mirrored queue', 1024, true, 1, true, false, 'mirrored'),
  backlog(Number(process.env['JUNCTION_BENCH_BACKLOG'] ?? 1_000_000)),
];
