/**
 * Bad input at volume: a fixed number of seeded malformed frames, each on its own connection.
 * Every connection must end in an ERROR frame or a close, a well-behaved client must complete
 * a round trip (SEND with receipt, delivery, ACK with receipt) alongside every batch of bad
 * connections, and the heap must not grow without bound.
 *
 * The work is bounded by count, not by time: case i is built from seededRandom(SEED + i), so a
 * failure names the case that reproduces it, and a slow machine only makes the run longer. The
 * waits are bounded far above what a loaded machine needs; they exist to turn a hang into a
 * failure that says which case hung.
 */
import { connect as netConnect } from 'node:net';
import type Client from 'stompit/lib/Client.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seededRandom, startStompServer, stompitClient, until, type WsTestServer } from '@junction/testkit';
import { collect, destroyClient, sendWithReceipt } from './helpers.js';

let server: WsTestServer;

beforeAll(async () => {
  server = await startStompServer({
    maxFrameSize: 32 * 1024,
    maxHeaders: 50,
    maxHeaderLength: 1024,
    handshakeTimeoutMs: 3000,
  });
});
afterAll(async () => {
  await server.close();
});

const CONNECT = 'CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\n\n\0';

interface Case {
  name: string;
  /** Whether the server must answer with an ERROR frame (vs. merely closing). */
  mustError: boolean;
  data: Buffer;
  /** Malformed frames in `data`. */
  frames: number;
}

function makeCase(rand: () => number, i: number): Case {
  const pick = i % KINDS;
  const r = (n: number) => Math.floor(rand() * n);
  const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => r(256)));
  switch (pick) {
    case 0:
      return {
        name: 'no NUL terminator',
        mustError: false,
        data: Buffer.from(`${CONNECT}SEND\ndestination:/queue/f\n\nbody without end`),
        frames: 1,
      };
    case 1:
      return {
        name: 'bad escape',
        mustError: true,
        data: Buffer.from(`${CONNECT}SEND\ndestination:/queue/f\nk:a\\${'xtqz'[r(4)]}b\n\n\0`),
        frames: 1,
      };
    case 2:
      return {
        name: 'oversize header',
        mustError: true,
        data: Buffer.from(`${CONNECT}SEND\ndestination:/queue/f\nbig:${'h'.repeat(1100 + r(5000))}\n\n\0`),
        frames: 1,
      };
    case 3: {
      let h = '';
      for (let k = 0; k < 51 + r(100); k++) h += `h${k}:v\n`;
      return {
        name: 'too many headers',
        mustError: true,
        data: Buffer.from(`${CONNECT}SEND\ndestination:/queue/f\n${h}\n\0`),
        frames: 1,
      };
    }
    case 4:
      return {
        name: 'wrong content-length',
        mustError: true,
        data: Buffer.from(
          `${CONNECT}SEND\ndestination:/queue/f\ncontent-length:${r(5)}\n\nlonger body than said\0`,
        ),
        frames: 1,
      };
    case 5:
      return {
        name: 'bad content-length',
        mustError: true,
        data: Buffer.from(`${CONNECT}SEND\ndestination:/queue/f\ncontent-length:-${r(9)}x\n\n\0`),
        frames: 1,
      };
    case 6:
      return {
        name: 'frame before CONNECT',
        mustError: true,
        data: Buffer.from(
          ['SEND', 'SUBSCRIBE', 'ACK', 'BEGIN', 'DISCONNECT'][r(5)] + '\ndestination:/queue/f\n\n\0',
        ),
        frames: 1,
      };
    case 7:
      return {
        name: 'unknown command',
        mustError: true,
        data: Buffer.from(`${CONNECT}${['FROB', 'SENDX', 'CONNECTED', 'MESSAGE', 'ERROR'][r(5)]}\n\n\0`),
        frames: 1,
      };
    case 8:
      return { name: 'random bytes', mustError: false, data: junk(1 + r(300)), frames: 1 };
    case 9:
      return {
        name: 'random bytes after CONNECT',
        mustError: false,
        data: Buffer.concat([Buffer.from(CONNECT), junk(1 + r(300))]),
        frames: 1,
      };
    case 10:
      return {
        name: 'oversize body',
        mustError: true,
        data: Buffer.from(`${CONNECT}SEND\ndestination:/queue/f\n\n${'b'.repeat(33 * 1024)}\0`),
        frames: 1,
      };
    default:
      return {
        name: 'header without colon',
        mustError: true,
        data: Buffer.from(`${CONNECT}SEND\ndestination:/queue/f\nnocolon\n\n\0`),
        frames: 1,
      };
  }
}

/** How long one bad connection may take to be answered and closed before it counts as hung. */
const CASE_DEADLINE_MS = 30_000;

/** Sends one case on a fresh connection; resolves with what the server did. */
function runCase(port: number, c: Case): Promise<{ sawError: boolean; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ sawError: /(^|\0\n*)ERROR\n/.test(text), closed });
    };
    const timer = setTimeout(() => finish(false), CASE_DEADLINE_MS);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      socket.write(c.data);
      // Half-close: a truncated frame then ends in a close instead of waiting for more.
      if (!c.mustError) socket.end();
    });
  });
}

const SEED = 12345;
const KINDS = 12;
/** 400 cases of each kind. */
const TOTAL = KINDS * 400;
/** Bad connections open at once; the good client makes one round trip alongside each batch. */
const BATCH = 48;

it(`survives ${TOTAL} seeded malformed frames; a good client keeps working; heap stays bounded`, async () => {
  const good: Client = await stompitClient(server.port);
  const received = collect(good, { destination: '/queue/fuzz-good', ack: 'client-individual' });
  let roundTrips = 0;
  /** The well-behaved client: one publish with receipt, its delivery, and an ACK with receipt. */
  const roundTrip = async () => {
    const n = roundTrips;
    await sendWithReceipt(good, { destination: '/queue/fuzz-good' }, `m${n}`);
    const m = await until(() => received.messages[n], `good delivery ${n}`, CASE_DEADLINE_MS);
    expect(m.body.toString()).toBe(`m${n}`);
    await new Promise<void>((r) => good.ack(m.msg, {}, { onReceipt: () => r() } as never));
    roundTrips++;
  };

  const heap: number[] = [];
  const baseline = process.memoryUsage().heapUsed;
  const failures: string[] = [];
  const byName = new Map<string, number>();
  const check = async (i: number) => {
    const c = makeCase(seededRandom(SEED + i), i);
    const r = await runCase(server.port, c);
    byName.set(c.name, (byName.get(c.name) ?? 0) + 1);
    if (!r.closed || (c.mustError && !r.sawError))
      failures.push(`case ${i} (${c.name}): closed=${r.closed} error=${r.sawError}`);
  };
  for (let first = 0; first < TOTAL; first += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, TOTAL - first) }, (_, k) => check(first + k));
    await Promise.all([...batch, roundTrip()]);
    if (failures.length > 0) break;
    if ((first / BATCH) % 10 === 0) heap.push(process.memoryUsage().heapUsed);
  }

  expect(failures).toEqual([]);
  expect([...byName.values()]).toEqual(Array.from({ length: KINDS }, () => TOTAL / KINDS));
  expect(received.errors).toEqual([]);
  // The good client completed a round trip alongside every batch of bad connections.
  expect(roundTrips).toBe(Math.ceil(TOTAL / BATCH));
  // Every bad connection is released.
  await until(() => [...server.adapter.connections()].length === 1, 'bad connections released', 10_000);
  // Heap: the later samples must not have grown far beyond the start (no per-connection leak).
  const tail = Math.min(...heap.slice(-4));
  expect(tail - baseline).toBeLessThan(96 * 1024 * 1024);
  destroyClient(good);
}, 300_000);
