/**
 * Nothing confirmed is lost from a stream queue, end to end: the broker runs as its own process
 * on the embedded store, two amqplib publishers send to an `x-queue-type: stream` queue with
 * confirms, each message stamped with its producer and sequence, and the broker is killed with
 * SIGKILL at 20 random moments. After each restart the stream holds every confirmed message,
 * each publisher's messages once each and in publish order with none missing, at offsets
 * without gaps; each publisher then resends from its last confirm (deduplication drops what the
 * stream already had). The log's own crash test (stream-crash.test.ts) kills a process
 * appending to the store directly; this one goes through AMQP, the queue type and the log.
 */
import amqp, { type ConsumeMessage } from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom, until } from '@junction/testkit';
import { lmdbCrash } from './crash-backends.js';
import { startBrokerProcess } from './crash-harness.js';

const KILLS = 20;
const PRODUCERS = ['p1', 'p2'] as const;
const STREAM_ARGS = { 'x-queue-type': 'stream', 'x-stream-max-segment-size-bytes': 64 * 1024 };

/** Reads the whole stream and checks it; returns each producer's highest stored sequence. */
async function verifyStream(url: string, confirmed: Map<string, number>): Promise<Map<string, number>> {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.assertQueue('events', { durable: true, arguments: STREAM_ARGS });
  const { messageCount } = await ch.checkQueue('events');
  const got: ConsumeMessage[] = [];
  await ch.prefetch(1000);
  if (messageCount > 0) {
    await ch.consume(
      'events',
      (m) => {
        if (!m) return;
        got.push(m);
        ch.ack(m);
      },
      { arguments: { 'x-stream-offset': 'first' } },
    );
    await until(() => got.length >= messageCount, `${messageCount} stream messages`, 30_000);
  }
  await conn.close();
  // Offsets are dense from 0: no gap a torn write or a resend could leave.
  got.forEach((m, i) => expect(m.properties.headers?.['x-stream-offset']).toBe(i));
  const last = new Map<string, number>();
  for (const m of got) {
    const [producer, seq] = m.content.toString().split(':') as [string, string];
    // Per producer: 1, 2, 3, ... once each, in publish order.
    expect(Number(seq), `${producer} after ${last.get(producer) ?? 0}`).toBe((last.get(producer) ?? 0) + 1);
    last.set(producer, Number(seq));
  }
  for (const p of PRODUCERS) expect(last.get(p) ?? 0).toBeGreaterThanOrEqual(confirmed.get(p) ?? 0);
  return last;
}

/** Publishes from each producer, resuming after its last confirm, until the kill. */
async function publishUntilKilled(
  url: string,
  confirmed: Map<string, number>,
  killAfter: number,
  kill: () => void,
): Promise<void> {
  let killed = false;
  const waiting = new Set<() => void>();
  const producers = await Promise.all(
    PRODUCERS.map(async (name) => {
      const c = await amqp.connect(url);
      c.on('error', () => {});
      const ch = await c.createConfirmChannel();
      ch.on('error', () => {});
      return { name, ch };
    }),
  );
  setTimeout(() => {
    killed = true;
    kill();
    for (const w of waiting) w();
  }, killAfter);
  await Promise.all(
    producers.map(async ({ name, ch }) => {
      let seq = (confirmed.get(name) ?? 0) + 1;
      while (!killed) {
        const batch = Array.from({ length: 20 }, (_, i) => seq + i);
        seq += batch.length;
        await Promise.all(
          batch.map(
            (s) =>
              new Promise<void>((resolve) => {
                waiting.add(resolve);
                ch.sendToQueue(
                  'events',
                  Buffer.from(`${name}:${s}`),
                  { headers: { 'x-stream-producer': name, 'x-stream-sequence': s } },
                  (err) => {
                    // Confirms come in order: the highest confirmed is what the stream must hold.
                    if (!err) confirmed.set(name, Math.max(confirmed.get(name) ?? 0, s));
                    waiting.delete(resolve);
                    resolve();
                  },
                );
              }),
          ),
        );
      }
    }),
  );
}

describe('stream crash recovery through the broker: embedded store', () => {
  let fx: Awaited<ReturnType<typeof lmdbCrash.fresh>> | undefined;
  afterAll(async () => fx?.cleanup());

  it(`loses no confirmed stream message over ${KILLS} SIGKILLs`, async () => {
    fx = await lmdbCrash.fresh();
    const r = seededRandom(1501);
    const confirmed = new Map<string, number>();
    for (let life = 0; life < KILLS; life++) {
      const b = await startBrokerProcess(fx.args);
      await verifyStream(b.amqpUrl, confirmed);
      await publishUntilKilled(b.amqpUrl, confirmed, 40 + Math.floor(r() * 300), () =>
        b.child.kill('SIGKILL'),
      );
      await b.exited;
    }
    const last = await startBrokerProcess(fx.args);
    const stored = await verifyStream(last.amqpUrl, confirmed);
    last.child.kill('SIGTERM');
    expect(await last.exited).toBe(0);
    // The kills hit real traffic.
    for (const p of PRODUCERS) expect(stored.get(p) ?? 0).toBeGreaterThan(KILLS * 20);
  }, 240_000);
});
