/**
 * Stream scenarios (`x-queue-type: stream` over AMQP 0-9-1, amqplib, the same load for every
 * target): publishing 1 KiB messages with confirms; one consumer replaying a stream of
 * JUNCTION_BENCH_STREAM messages (default 1,000,000) from `first`, with the broker's RSS
 * sampled while it reads (reads come from the log's files, not memory); and four consumers at
 * once, each from its own quarter of the stream. Junction runs them on its durable stores,
 * RabbitMQ on its own streams.
 */
import amqp from 'amqplib';
import { sleep, startWorker, stopAll, type Measurement, type Scenario, type Worker } from './workers.js';
import type { RunningPeer } from './peers.js';

let uniq = 0;
const STREAM = { 'x-queue-type': 'stream' };

async function withStream<T>(target: RunningPeer, run: (queue: string) => Promise<T>): Promise<T> {
  const conn = await amqp.connect(target.urls.amqp!);
  const ch = await conn.createChannel();
  const queue = `bench-${process.pid}-${++uniq}-stream`;
  await ch.assertQueue(queue, { durable: true, arguments: STREAM });
  try {
    return await run(queue);
  } finally {
    try {
      await ch.deleteQueue(queue);
    } finally {
      await conn.close();
    }
  }
}

const producer = (url: string, queue: string, limit?: number) =>
  startWorker({
    kind: 'produce',
    url,
    exchange: '',
    routingKey: queue,
    size: 1024,
    confirms: true,
    window: 256,
    persistent: true,
    ...(limit !== undefined ? { limit } : {}),
  });

const count = async (w: Worker): Promise<number> => (await w.ask<{ count: number }>('count')).count;

/** Waits until every worker counted its target, sampling the broker's RSS; returns seconds and the peak. */
async function until(workers: readonly Worker[], targets: readonly number[], rss: () => number | undefined) {
  const t0 = performance.now();
  let peak = rss() ?? 0;
  for (;;) {
    const counts = await Promise.all(workers.map(count));
    peak = Math.max(peak, rss() ?? 0);
    if (counts.every((c, i) => c >= targets[i]!)) break;
    await sleep(0.2);
  }
  return { seconds: (performance.now() - t0) / 1000, peak };
}

export const streamPublish: Scenario = {
  name: 'stream publish 1 KiB with confirms',
  protocols: ['amqp'],
  persistent: true,
  async run(target, { seconds, warmup }) {
    return withStream(target, async (queue) => {
      const p = await producer(target.urls.amqp!, queue);
      try {
        await sleep(warmup);
        const c0 = await count(p);
        const t0 = performance.now();
        await sleep(seconds);
        const rate = ((await count(p)) - c0) / ((performance.now() - t0) / 1000);
        return [{ scenario: this.name, metric: 'msg/s confirmed', better: 'higher' as const, value: rate }];
      } finally {
        await stopAll([p]);
      }
    });
  },
};

export function streamReplay(total: number): Scenario {
  const name = `stream of ${total.toLocaleString('en-US')} x 1 KiB: 1 consumer from first, then 4 at different offsets`;
  return {
    name,
    protocols: ['amqp'],
    persistent: true,
    rounds: 1,
    async run(target) {
      const url = target.urls.amqp!;
      return withStream(target, async (queue) => {
        const fill = await producer(url, queue, total);
        await until([fill], [total], () => undefined);
        await stopAll([fill]);
        const rss0 = target.rss();
        const consumer = (offset: number | string) =>
          startWorker({
            kind: 'consume',
            url,
            queue,
            prefetch: 1000,
            ackEvery: 100,
            arguments: { 'x-stream-offset': offset },
          });
        const one = await consumer('first');
        const solo = await until([one], [total], () => target.rss());
        await stopAll([one]);
        const quarter = Math.floor(total / 4);
        const four = await Promise.all([0, 1, 2, 3].map((i) => consumer(i * quarter)));
        // Each reads its own quarter (and on past it: the wait ends when all four have theirs).
        const par = await until(four, [quarter, quarter, quarter, quarter], () => target.rss());
        await stopAll(four);
        const out: Measurement[] = [
          {
            scenario: name,
            metric: '1 consumer from first, msg/s',
            better: 'higher',
            value: total / solo.seconds,
          },
          {
            scenario: name,
            metric: '4 consumers at 4 offsets, msg/s (all)',
            better: 'higher',
            value: (4 * quarter) / par.seconds,
          },
        ];
        if (rss0 !== undefined)
          out.push({
            scenario: name,
            metric: 'broker RSS growth while replaying, MiB',
            better: 'lower',
            value: (Math.max(solo.peak, par.peak) - rss0) / 2 ** 20,
          });
        return out;
      });
    },
  };
}

export const streamScenarios: Scenario[] = [
  streamPublish,
  streamReplay(Number(process.env['JUNCTION_BENCH_STREAM'] ?? 1_000_000)),
];
