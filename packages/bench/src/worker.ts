/**
 * A load process: the parent forks one per producer/consumer so a Node client never
 * shares an event loop with the broker or with the other side of the test.
 * Messages from the parent: { cmd: 'start', job } | { cmd: 'count' } | { cmd: 'stop' }.
 */
import amqp from 'amqplib';
import { serveJobs } from './worker-ipc.js';

export type Job =
  | {
      kind: 'consume';
      url: string;
      queue: string;
      prefetch: number;
      ackEvery: number;
      /** basic.consume arguments (a stream consumer's x-stream-offset). */
      arguments?: Record<string, unknown>;
    }
  | {
      kind: 'produce';
      url: string;
      exchange: string;
      routingKey: string;
      size: number;
      confirms: boolean;
      window: number;
      /** deliveryMode 2: stored by a durable queue on a durable store. */
      persistent?: boolean;
      /** Stop after this many publishes (confirmed, with confirms): filling a backlog. */
      limit?: number;
    }
  | { kind: 'latency-consume'; url: string; queue: string }
  | { kind: 'latency-produce'; url: string; queue: string; rate: number; size: number };

let count = 0;
let stopping = false;

async function consume(j: Extract<Job, { kind: 'consume' }>): Promise<void> {
  const conn = await amqp.connect(j.url);
  const ch = await conn.createChannel();
  await ch.prefetch(j.prefetch);
  let unacked = 0;
  await ch.consume(
    j.queue,
    (m) => {
      if (!m) return;
      count++;
      // Acks in batches (multiple=true), the way throughput-minded consumers run.
      if (++unacked >= j.ackEvery) {
        ch.ack(m, true);
        unacked = 0;
      }
    },
    j.arguments ? { arguments: j.arguments } : {},
  );
  process.send!({ ready: true });
}

async function produce(j: Extract<Job, { kind: 'produce' }>): Promise<void> {
  const conn = await amqp.connect(j.url);
  const body = Buffer.alloc(j.size, 0x61);
  const options = { persistent: j.persistent === true };
  process.send!({ ready: true });
  if (j.confirms) {
    const ch = await conn.createConfirmChannel();
    let outstanding = 0;
    let wake: (() => void) | undefined;
    while (!stopping) {
      if (j.limit !== undefined && count + outstanding >= j.limit) {
        if (outstanding === 0) break; // the backlog is full and confirmed
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      if (outstanding >= j.window) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      outstanding++;
      const ok = ch.publish(j.exchange, j.routingKey, body, options, () => {
        outstanding--;
        count++;
        if (wake && (outstanding < j.window / 2 || j.limit !== undefined)) {
          const w = wake;
          wake = undefined;
          w();
        }
      });
      if (!ok) await new Promise((r) => ch.once('drain', r));
    }
  } else {
    const ch = await conn.createChannel();
    while (!stopping) {
      for (let i = 0; i < 256; i++) {
        count++;
        if (!ch.publish(j.exchange, j.routingKey, body, options))
          await new Promise((r) => ch.once('drain', r));
      }
      await new Promise((r) => setImmediate(r));
    }
  }
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one machine. */
const now = (): number => performance.timeOrigin + performance.now();

/** Consumes and records publish-to-delivery time, stamped by the producer in another process. */
async function latencyConsume(j: Extract<Job, { kind: 'latency-consume' }>): Promise<void> {
  const conn = await amqp.connect(j.url);
  const ch = await conn.createChannel();
  await ch.prefetch(1000);
  await ch.consume(j.queue, (m) => {
    if (!m) return;
    samples.push(now() - m.content.readDoubleLE(0));
    ch.ack(m);
  });
  process.send!({ ready: true });
}

/** Publishes at a fixed rate, each message stamped with its send time. */
async function latencyProduce(j: Extract<Job, { kind: 'latency-produce' }>): Promise<void> {
  const conn = await amqp.connect(j.url);
  const ch = await conn.createChannel();
  process.send!({ ready: true });
  const t0 = performance.now();
  let sent = 0;
  while (!stopping) {
    const due = Math.floor(((performance.now() - t0) / 1000) * j.rate);
    while (sent < due) {
      const b = Buffer.alloc(j.size);
      b.writeDoubleLE(now(), 0);
      ch.sendToQueue(j.queue, b);
      sent++;
      count++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

const samples: number[] = [];

serveJobs<Job>({
  run: (j) =>
    j.kind === 'consume'
      ? consume(j)
      : j.kind === 'produce'
        ? produce(j)
        : j.kind === 'latency-consume'
          ? latencyConsume(j)
          : latencyProduce(j),
  answer: (cmd) =>
    cmd === 'count' ? { count } : cmd === 'samples' ? { samples: samples.splice(0) } : undefined,
  stop() {
    stopping = true;
  },
});
