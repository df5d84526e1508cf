/**
 * `node packages/bench/dist/node-link.js [--seconds N] [--bytes N] [--window N]`: the cluster's
 * node link over loopback, this process against a peer it forks (each end its own event loop):
 * requests with N in flight answered by an echo of 8 bytes, then one-way messages as fast as
 * send() allows (pausing on false until onDrain), counted by the peer. Five rounds each; the
 * median is printed.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { NodeLink } from '@junction/cluster';

const ECHO = 1;
const SINK = 2;
const COUNT = 3;
const SECRET = 'bench cluster secret of 32 bytes';
const log = pino({ level: 'warn' });

if (process.argv[2] === '--peer') {
  // The peer: answers ECHO, counts SINK bytes, reports and resets the count on COUNT.
  const link = new NodeLink({ nodeId: 'peer', secret: SECRET, log });
  const reply = Buffer.alloc(8);
  let received = 0;
  link.handle(ECHO, () => reply);
  link.handle(SINK, (_p, body) => void (received += body.length));
  link.handle(COUNT, () => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(received);
    received = 0;
    return b;
  });
  const { port } = await link.listen('127.0.0.1', 0);
  process.send!({ port });
} else {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '3' },
      bytes: { type: 'string', default: '1024' },
      window: { type: 'string', default: '64' },
    },
  });
  const seconds = Number(values.seconds);
  const body = Buffer.alloc(Number(values.bytes), 7);
  const window = Number(values.window);

  const child = fork(fileURLToPath(import.meta.url), ['--peer'], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`peer exited with ${code}`)));
  });
  const link = new NodeLink({ nodeId: 'bench', secret: SECRET, log });
  link.connect('peer', '127.0.0.1', port);
  const peer = link.peer('peer');
  for (let i = 0; i < 500 && !peer.up; i++) await new Promise((r) => setTimeout(r, 10));
  if (!peer.up) throw new Error('the peer did not come up');

  /** Requests per second with `window` in flight for `ms`. */
  const requests = async (ms: number): Promise<number> => {
    const end = Date.now() + ms;
    let done = 0;
    const lane = async (): Promise<void> => {
      while (Date.now() < end) {
        await peer.request(ECHO, body, 10_000);
        done++;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: window }, lane));
    return done / ((performance.now() - t0) / 1000);
  };

  /** One-way messages per second received by the peer, sending for `ms`. */
  const oneWay = async (ms: number): Promise<number> => {
    const end = Date.now() + ms;
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        for (let i = 0; ; i++) {
          if (!peer.send(SINK, body)) return; // onDrain calls pump again
          // Check the clock every 256 messages; yield to let the socket flush.
          if ((i & 255) === 255) {
            if (Date.now() >= end) break;
            return void setImmediate(pump);
          }
        }
        stop();
        resolve();
      };
      const stop = peer.onDrain(pump);
      pump();
    });
    // The COUNT request queues behind every message sent: its answer counts them all.
    const received = (await peer.request(COUNT, Buffer.alloc(0), 60_000)).readDoubleBE(0);
    return received / body.length / ((performance.now() - t0) / 1000);
  };

  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  await requests(1000); // warm-up
  await oneWay(1000);
  const rr: number[] = [];
  const ow: number[] = [];
  for (let r = 0; r < 5; r++) {
    rr.push(await requests(seconds * 1000));
    ow.push(await oneWay(seconds * 1000));
    console.log(
      `round ${r + 1}: ${fmt(rr[r]!)} requests/s (window ${window}), ${fmt(ow[r]!)} one-way msgs/s`,
    );
  }
  const mibps = (median(ow) * body.length) / (1024 * 1024);
  console.log(
    `median: ${fmt(median(rr))} requests/s with ${window} in flight, ${fmt(median(ow))} one-way messages/s ` +
      `(${mibps.toFixed(1)} MiB/s), ${body.length}-byte bodies`,
  );
  await link.close();
  child.kill();
}
