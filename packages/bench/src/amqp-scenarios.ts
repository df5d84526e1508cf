/**
 * AMQP scenarios, run the same way against every target: amqplib clients in their own
 * processes, a warm-up, then a measured window.
 *
 * Client settings (identical for every target): consumers prefetch 1000 and ack with
 * multiple=true every 100 messages; transient producers respect amqplib's back-pressure
 * ('drain'); confirming producers keep at most 256 publishes unconfirmed.
 */
import amqp from 'amqplib';
import { percentile } from './stats.js';
import { cleanUp, rate as deliveryRate, sleep, startWorker, stopAll, type Scenario } from './workers.js';

let uniq = 0;

/** 1 producer -> exchange -> `queues` queues -> one consumer each; throughput = deliveries/s summed. */
export function throughput(
  name: string,
  size: number,
  confirms: boolean,
  queues: number,
  persistent = false,
  overTls = false,
  queueType?: 'mirrored',
): Scenario {
  return {
    name,
    protocols: overTls ? ['amqp', 'amqps'] : ['amqp'],
    ...(persistent ? { persistent: true } : {}),
    ...(queueType === 'mirrored' ? { replicated: true } : {}),
    async run(target, { seconds, warmup }) {
      // Queues are declared over plain AMQP (this process does not trust the bench certificate);
      // the load workers publish and consume over TLS when overTls.
      const conn = await amqp.connect(target.urls.amqp!);
      const url = overTls ? target.urls.amqps! : target.urls.amqp!;
      const ch = await conn.createChannel();
      const tag = `bench-${process.pid}-${++uniq}`;
      const names = Array.from({ length: queues }, (_, i) => `${tag}-q${i}`);
      let exchange = '';
      let routingKey = names[0]!;
      if (queues > 1) {
        exchange = `${tag}-fanout`;
        routingKey = '';
        await ch.assertExchange(exchange, 'fanout', { autoDelete: false });
      }
      for (const q of names) {
        await ch.assertQueue(q, {
          durable: persistent,
          ...(queueType ? { arguments: { 'x-queue-type': queueType } } : {}),
        });
        if (exchange) await ch.bindQueue(q, exchange, '');
      }
      const consumers = await Promise.all(
        names.map((queue) => startWorker({ kind: 'consume', url, queue, prefetch: 1000, ackEvery: 100 })),
      );
      const producer = await startWorker({
        kind: 'produce',
        url,
        exchange,
        routingKey,
        size,
        confirms,
        persistent,
        window: 256,
      });
      try {
        const rate = await deliveryRate(consumers, seconds, warmup);
        return [{ scenario: name, metric: 'msg/s delivered', better: 'higher' as const, value: rate }];
      } finally {
        await stopAll([producer, ...consumers]);
        await cleanUp(
          name,
          ...names.map((q) => () => ch.deleteQueue(q)),
          ...(exchange ? [() => ch.deleteExchange(exchange)] : []),
          () => conn.close(),
        );
      }
    },
  };
}

/** Publish-to-delivery latency at a fixed publish rate; producer and consumer in separate processes. */
function latency(rate: number, size: number): Scenario {
  const name = `latency 1->1, ${size} B at ${rate.toLocaleString('en-US')} msg/s`;
  return {
    name,
    protocols: ['amqp'],
    async run(target, { seconds, warmup }) {
      const url = target.urls.amqp!;
      const conn = await amqp.connect(url);
      const ch = await conn.createChannel();
      const queue = `bench-${process.pid}-${++uniq}-lat`;
      await ch.assertQueue(queue, { durable: false });
      const consumer = await startWorker({ kind: 'latency-consume', url, queue });
      const producer = await startWorker({ kind: 'latency-produce', url, queue, rate, size });
      try {
        await sleep(warmup);
        await consumer.ask('samples'); // drop the warm-up
        await sleep(seconds);
        const { samples } = await consumer.ask<{ samples: number[] }>('samples');
        samples.sort((a, b) => a - b);
        return (
          [
            ['p50', 0.5],
            ['p95', 0.95],
            ['p99', 0.99],
            ['max', 1],
          ] as const
        ).map(([metric, p]) => ({
          scenario: name,
          metric: `${metric} ms`,
          better: 'lower' as const,
          value: percentile(samples, p),
        }));
      } finally {
        await stopAll([producer, consumer]);
        await cleanUp(
          queue,
          () => ch.deleteQueue(queue),
          () => conn.close(),
        );
      }
    },
  };
}

export const amqpScenarios: Scenario[] = [
  throughput('1->1 transient, 16 B', 16, false, 1),
  throughput('1->1 transient, 1 KiB', 1024, false, 1),
  throughput('1->1 confirms, 16 B', 16, true, 1),
  throughput('1->1 confirms, 1 KiB', 1024, true, 1),
  throughput('fanout 1->4, 16 B', 16, false, 4),
  throughput('1->1 transient over TLS, 16 B', 16, false, 1, false, true),
  latency(5000, 16),
];
