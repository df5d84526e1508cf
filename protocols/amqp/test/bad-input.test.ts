/**
 * Fuzzing the AMQP listener with 10,000 malformed or truncated inputs. Each must end in
 * the spec's connection.close (with a hard-error reply code) or a dropped socket; a
 * well-behaved amqplib client keeps doing round trips throughout; the heap stays bounded.
 */
import { connect as netConnect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, startAmqpServer, type TestServer } from '@junction/testkit';
import { PROTOCOL_HEADER, contentHeader, frame, method, open, tuneOk, RawHandshake } from './wire.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let server: TestServer;
beforeAll(async () => {
  server = await startAmqpServer({ frameMax: 16384 });
});
afterAll(async () => server.close());

type Case = { name: string; preHandshake: boolean; bytes: Buffer };

function makeCase(i: number): Case {
  const r = seededRandom(i);
  const int = (n: number) => Math.floor(r() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const openCh = method('ChannelOpen', 1, { outOfBand: '' });
  const publish = method('BasicPublish', 1, {
    exchange: '',
    routingKey: 'q',
    mandatory: false,
    immediate: false,
  });
  switch (i % 12) {
    case 0:
      return { name: 'random bytes instead of a header', preHandshake: true, bytes: bytes(1 + int(64)) };
    case 1:
      return {
        name: 'header then random bytes',
        preHandshake: true,
        bytes: Buffer.concat([PROTOCOL_HEADER, bytes(1 + int(64))]),
      };
    case 2:
      return {
        name: 'random frame payload',
        preHandshake: false,
        bytes: frame(1 + int(3), int(3), bytes(int(40))),
      };
    case 3:
      return {
        name: 'wrong frame-end',
        preHandshake: false,
        bytes: frame(1, 0, Buffer.from([0, 10, 0, 51]), int(0xce)),
      };
    case 4: {
      const f = Buffer.alloc(7);
      f.writeUInt8(3, 0);
      f.writeUInt16BE(1, 1);
      f.writeUInt32BE(16384 + 1 + int(1 << 30), 3);
      return { name: 'oversize frame', preHandshake: false, bytes: f };
    }
    case 5: {
      const p = Buffer.alloc(4);
      p.writeUInt16BE(200 + int(60000), 0);
      p.writeUInt16BE(int(65535), 2);
      return {
        name: 'unknown class/method',
        preHandshake: false,
        bytes: Buffer.concat([openCh, frame(1, 1, p)]),
      };
    }
    case 6: {
      const full = method('QueueDeclare', 1, {
        queue: 'fuzz',
        passive: false,
        durable: false,
        exclusive: false,
        autoDelete: false,
        nowait: false,
        arguments: { a: 1 },
      });
      const payload = full.subarray(7, full.length - 1);
      return {
        name: 'truncated method',
        preHandshake: false,
        bytes: Buffer.concat([openCh, frame(1, 1, payload.subarray(0, 4 + int(payload.length - 5)))]),
      };
    }
    case 7:
      return {
        name: 'method on unopened channel',
        preHandshake: false,
        bytes: method('BasicQos', 1 + int(100), { prefetchSize: 0, prefetchCount: 1, global: false }),
      };
    case 8:
      return {
        name: 'content header without publish',
        preHandshake: false,
        bytes: Buffer.concat([openCh, contentHeader(1, int(100))]),
      };
    case 9:
      return {
        name: 'publish then a method instead of content',
        preHandshake: false,
        bytes: Buffer.concat([
          openCh,
          publish,
          method('BasicQos', 1, { prefetchSize: 0, prefetchCount: 1, global: false }),
        ]),
      };
    case 10:
      return {
        name: 'heartbeat on a channel',
        preHandshake: false,
        bytes: frame(8, 1 + int(10), Buffer.alloc(0)),
      };
    default:
      return {
        name: 'body longer than declared',
        preHandshake: false,
        bytes: Buffer.concat([openCh, publish, contentHeader(1, 2), frame(3, 1, bytes(3 + int(50)))]),
      };
  }
}

const hardErrors = new Set([501, 502, 503, 504, 505, 530, 540, 541]);

/** Sends one case; resolves with how the server ended it. */
function runCase(port: number, c: Case, handshake: Buffer): Promise<{ code: number | null }> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const hs = new RawHandshake((b) => s.write(b), handshake, c.bytes);
    if (c.preHandshake) hs.stage = 'sent';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`case '${c.name}' was neither closed nor answered within 5 s`));
    }, 5000);
    s.on('error', () => {});
    // Pre-handshake garbage may be an incomplete frame the server would rightly wait on: end our side.
    s.on('connect', () => (c.preHandshake ? s.end(c.bytes) : s.write(PROTOCOL_HEADER)));
    s.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      hs.advance(data);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ code: hs.code });
    });
  });
}

describe('AMQP bad input', () => {
  it('survives 10,000 malformed inputs with protocol-correct closes while serving others', async () => {
    const witness = await amqp.connect(server.url);
    const ch = await witness.createConfirmChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    let roundTrips = 0;
    let witnessError: unknown;
    let running = true;
    const witnessLoop = (async () => {
      while (running) {
        const body = Buffer.from(`rt-${roundTrips}`);
        await new Promise<void>((res, rej) =>
          ch.sendToQueue(queue, body, {}, (err) => (err ? rej(err) : res())),
        );
        const m = await ch.get(queue, { noAck: true });
        if (!m || !m.content.equals(body)) throw new Error(`witness round trip ${roundTrips} failed`);
        roundTrips++;
      }
    })().catch((e: unknown) => (witnessError = e));

    const handshake = Buffer.concat([tuneOk(16384), open()]);
    const total = 10_000;
    const concurrency = 64;
    const outcomes = new Map<string, number>();
    let next = 0;
    let heapAfterWarmup = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const c = makeCase(i);
        const { code } = await runCase(server.port, c, handshake);
        if (code !== null && !hardErrors.has(code))
          throw new Error(`case ${i} '${c.name}': close code ${code} is not a hard error`);
        const key = `${c.name}: ${code ?? 'dropped'}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        if (i === 2000) {
          gc();
          heapAfterWarmup = process.memoryUsage().heapUsed;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    running = false;
    await witnessLoop;
    gc();
    const heapGrowth = process.memoryUsage().heapUsed - heapAfterWarmup;

    expect(witnessError).toBeUndefined();
    expect(roundTrips).toBeGreaterThan(10);
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(total);
    // Post-handshake cases must get a connection.close with a code, not just a dropped socket.
    for (const [k, n] of outcomes)
      if (!k.startsWith('random bytes') && !k.startsWith('header then'))
        expect(k, `${n} cases`).not.toMatch(/dropped$/);
    expect(heapGrowth).toBeLessThan(32 * 1024 * 1024);
    expect(server.broker.connections.size).toBe(1); // only the witness is left
    await witness.close();
  }, 120_000);
});
