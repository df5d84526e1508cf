/**
 * STOMP scenarios, run the same way against every STOMP target (Junction, RabbitMQ's STOMP
 * plugin, ActiveMQ, any stomp:// URL), each with two load clients, in their own processes:
 * `stompit` (the client the tests use) and `wire` (stomp-wire.ts, a lean STOMP 1.2 client on a
 * raw socket). Both, because stompit saturates its core before a fast broker does (Junction
 * was 62% idle at 16 B): the stompit rows show what a typical Node client gets, the wire rows
 * the brokers' own capacity.
 *
 * Client settings (identical for every target): the consumer SUBSCRIBEs to `/queue/<fresh
 * name>` with both `prefetch-count: 1000` and `activemq.prefetchSize: 1000`, and either
 * `ack: auto` or `ack: client-individual` (one ACK frame per message). The producer sends
 * SENDs without the `persistent` header, in batches of 256 handed to the socket and waiting
 * for it to drain, and asks for a RECEIPT on every 1,000th SEND with at most 4 such receipts
 * outstanding (so at most ~4,000 SENDs the broker has not yet confirmed). The wire client does
 * the same, writing each batch as one corked writev of prebuilt SEND frames and ACKing with
 * one frame per message (the ACKs of one socket read leave in one write). After each run the
 * queue is emptied outside the measured window (see `drain`), with the run's client.
 */
import type { StompAck, StompClient } from './stomp-worker.js';
import { deliveredRow, sleep, startWorker, stopAll, type Scenario } from './workers.js';

/**
 * The producer outruns the consumer, so a run leaves a backlog in its queue, and STOMP has no
 * way to delete a queue. A broker with a memory limit (ActiveMQ's systemUsage) then blocks
 * every later producer: empty the queue with an auto-ack subscriber after each run, outside
 * the measured window, until 1 s passes without a message (at most 60 s).
 */
async function drain(client: StompClient, url: string, destination: string): Promise<void> {
  const w = await startWorker({ kind: 'stomp-sub', client, url, destination, ack: 'auto', prefetch: 1000 });
  try {
    const deadline = Date.now() + 60_000;
    let last = -1;
    while (Date.now() < deadline) {
      await sleep(1);
      const { count } = await w.ask<{ count: number }>('count');
      if (count === last) return;
      last = count;
    }
    process.stderr.write(`  ${destination} was still not empty after 60 s\n`);
  } finally {
    await stopAll([w]);
  }
}

let uniq = 0;
const tag = (): string => `bench${process.pid}x${++uniq}`;

function queue1to1(client: StompClient, ack: StompAck, size: number): Scenario {
  const name = `STOMP queue 1->1 ack ${ack}, ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`} (${client} client)`;
  return {
    name,
    protocols: ['stomp'],
    async run(target, { seconds, warmup }) {
      const url = target.urls.stomp!;
      const destination = `/queue/${tag()}`;
      const sub = await startWorker({ kind: 'stomp-sub', client, url, destination, ack, prefetch: 1000 });
      const pub = await startWorker({
        kind: 'stomp-pub',
        client,
        url,
        destination,
        size,
        receiptEvery: 1000,
        receiptWindow: 4,
      });
      try {
        return await deliveredRow(name, [sub], seconds, warmup);
      } finally {
        await stopAll([pub, sub]);
        await drain(client, url, destination);
      }
    },
  };
}

export const stompScenarios: Scenario[] = (['stompit', 'wire'] as const).flatMap((client) => [
  queue1to1(client, 'client-individual', 16),
  queue1to1(client, 'client-individual', 1024),
  queue1to1(client, 'auto', 16),
  queue1to1(client, 'auto', 1024),
]);
