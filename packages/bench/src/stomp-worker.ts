/**
 * A STOMP load process (stompit, the client the tests use), forked by workers.ts for jobs with
 * `client: 'stompit'` (stomp-wire-worker.ts takes `client: 'wire'`, the same jobs). Jobs: a subscriber counting messages (ack auto or client-individual, one ACK per message),
 * and a producer sending SENDs paced by the socket's back-pressure and a receipt window.
 */
import type { Duplex } from 'node:stream';
import stompit from 'stompit';
import { ReceiptWindow } from './receipt-window.js';
import { serveJobs } from './worker-ipc.js';

export type StompAck = 'auto' | 'client-individual';
/** Which load client runs the job: stompit (this module) or the lean one (stomp-wire-worker.ts). */
export type StompClient = 'stompit' | 'wire';

export type StompJob =
  | {
      kind: 'stomp-sub';
      client: StompClient;
      url: string;
      destination: string;
      ack: StompAck;
      prefetch: number;
    }
  | {
      kind: 'stomp-pub';
      client: StompClient;
      url: string;
      destination: string;
      size: number;
      /** Ask for a RECEIPT on every `receiptEvery`-th SEND ... */
      receiptEvery: number;
      /** ... and keep at most this many of those receipts outstanding. */
      receiptWindow: number;
    };

let count = 0;
let stopping = false;
const held: stompit.Client[] = [];

function connect(url: string): Promise<stompit.Client> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    stompit.connect(
      {
        host: u.hostname,
        port: Number(u.port || 61613),
        connectHeaders: {
          'accept-version': '1.2',
          host: '/',
          login: decodeURIComponent(u.username) || 'guest',
          passcode: decodeURIComponent(u.password) || 'guest',
          'heart-beat': '0,0',
        },
      },
      (err, client) => {
        if (err) return reject(err);
        client.on('error', (e: Error) => {
          if (stopping) return;
          process.send!({ error: `STOMP client error: ${e.message}` });
          process.exit(1);
        });
        held.push(client);
        resolve(client);
      },
    );
  });
}

async function subscribe(j: Extract<StompJob, { kind: 'stomp-sub' }>): Promise<void> {
  const client = await connect(j.url);
  const individual = j.ack === 'client-individual';
  client.subscribe(
    {
      destination: j.destination,
      ack: j.ack,
      // Junction and RabbitMQ read prefetch-count, ActiveMQ activemq.prefetchSize: everyone gets both.
      'prefetch-count': String(j.prefetch),
      'activemq.prefetchSize': String(j.prefetch),
    },
    (err, message) => {
      if (err) {
        if (stopping) return;
        process.send!({ error: `STOMP subscription error: ${err.message}` });
        process.exit(1);
      }
      message.on('data', () => {});
      message.once('end', () => {
        count++;
        if (individual) client.ack(message);
      });
    },
  );
  // stompit gives SUBSCRIBE no receipt: let it reach the broker before the producer starts
  // (queues keep what arrives earlier anyway, and the warm-up covers the rest).
  await new Promise((r) => setTimeout(r, 300));
}

async function publish(j: Extract<StompJob, { kind: 'stomp-pub' }>): Promise<void> {
  const client = await connect(j.url);
  const socket: Duplex = client.getTransportSocket();
  const body = Buffer.alloc(j.size, 0x61);
  const headers = { destination: j.destination, 'content-length': String(j.size) };
  const receipts = new ReceiptWindow(j.receiptWindow);
  process.send!({ ready: true });
  let n = 0;
  while (!stopping) {
    let last: Promise<void> | undefined;
    for (let i = 0; i < 256 && !stopping; i++) {
      const withReceipt = ++n % j.receiptEvery === 0;
      if (withReceipt) receipts.sent();
      const frame = client.send(
        { ...headers },
        withReceipt ? ({ onReceipt: receipts.receipted } as stompit.Client.SendOptions) : undefined,
      );
      const done = new Promise<void>((r) => frame.end(body, () => r()));
      last = done;
      count++;
      if (withReceipt && receipts.full) {
        await receipts.room();
      }
    }
    // stompit queues frames without limit: wait until the batch is handed to the socket,
    // then for the socket itself to drain.
    if (last) await last;
    if ((socket as Duplex & { writableNeedDrain: boolean }).writableNeedDrain)
      await new Promise((r) => socket.once('drain', r));
    else await new Promise((r) => setImmediate(r));
  }
}

serveJobs<StompJob>({
  run: (j) => (j.kind === 'stomp-sub' ? subscribe(j) : publish(j)),
  readyWhenRun: (j) => j.kind === 'stomp-sub',
  answer: (cmd) => (cmd === 'count' ? { count } : undefined),
  stop() {
    stopping = true;
    for (const c of held) c.getTransportSocket().destroy();
  },
});
