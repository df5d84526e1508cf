/**
 * A STOMP load process on the lean client (stomp-wire.ts), forked by workers.ts for jobs with
 * `client: 'wire'`. Same jobs and settings as stomp-worker.ts (the stompit one): a subscriber
 * counting messages (ack auto, or client-individual with one ACK frame per message) and a
 * producer sending batches of 256 SENDs paced by the socket's drain and a receipt window.
 */
import { StompWire, frame } from './stomp-wire.js';
import type { StompJob } from './stomp-worker.js';
import { ReceiptWindow } from './receipt-window.js';
import { serveJobs } from './worker-ipc.js';

const BATCH = 256;

let count = 0;
let stopping = false;
const held: StompWire[] = [];

async function connect(url: string): Promise<StompWire> {
  const client = await StompWire.connect(url);
  client.onError = (err) => {
    if (stopping) return;
    process.send!({ error: `STOMP client error: ${err.message}` });
    process.exit(1);
  };
  held.push(client);
  return client;
}

async function subscribe(j: Extract<StompJob, { kind: 'stomp-sub' }>): Promise<void> {
  const client = await connect(j.url);
  client.onMessage =
    j.ack === 'client-individual'
      ? (m) => {
          count++;
          client.ack(m);
        }
      : () => {
          count++;
        };
  // With a receipt, so the subscription is in place before the producer starts.
  await client.subscribe({
    id: '0',
    destination: j.destination,
    ack: j.ack,
    // Junction and RabbitMQ read prefetch-count, ActiveMQ activemq.prefetchSize: everyone gets both.
    'prefetch-count': String(j.prefetch),
    'activemq.prefetchSize': String(j.prefetch),
  });
}

async function publish(j: Extract<StompJob, { kind: 'stomp-pub' }>): Promise<void> {
  const client = await connect(j.url);
  const socket = client.socket;
  const body = Buffer.alloc(j.size, 0x61);
  const headers = { destination: j.destination, 'content-length': String(j.size) };
  // Every SEND without a receipt is the same bytes: a batch of them is one prebuilt Buffer,
  // and a run of k SENDs is a slice of it (the socket never sees a copy).
  const one = frame('SEND', headers, body);
  const batch = Buffer.concat(Array.from({ length: BATCH }, () => one));
  const run = (k: number) => socket.write(batch.subarray(0, k * one.length));
  const receipts = new ReceiptWindow(j.receiptWindow);
  process.send!({ ready: true });
  let n = 0;
  while (!stopping) {
    // Corked, a batch leaves in one writev: runs of plain SENDs and the odd one with a receipt.
    socket.cork();
    let from = 0;
    for (let i = 0; i < BATCH && !stopping; i++) {
      if (++n % j.receiptEvery !== 0) continue;
      if (i > from) run(i - from);
      receipts.sent();
      socket.write(frame('SEND', { ...headers, receipt: client.receiptId(receipts.receipted) }, body));
      from = i + 1;
      if (receipts.full) {
        socket.uncork();
        await receipts.room();
        socket.cork();
      }
    }
    if (BATCH > from && !stopping) run(BATCH - from);
    count += BATCH;
    socket.uncork();
    if (socket.writableNeedDrain) await new Promise((r) => socket.once('drain', r));
    else await new Promise((r) => setImmediate(r));
  }
}

serveJobs<StompJob>({
  run: (j) => (j.kind === 'stomp-sub' ? subscribe(j) : publish(j)),
  readyWhenRun: (j) => j.kind === 'stomp-sub',
  answer: (cmd) => (cmd === 'count' ? { count } : undefined),
  stop() {
    stopping = true;
    for (const c of held) c.close();
  },
});
