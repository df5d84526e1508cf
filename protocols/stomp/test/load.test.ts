/**
 * Many producers and competing consumers at once: every message arrives exactly once,
 * per-producer order holds for a single consumer, and nothing is left behind.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStompServer, until, type WsTestServer } from '@junction/testkit';
import { type RawStompClient, rawConnected } from './helpers.js';

let server: WsTestServer;

beforeAll(async () => {
  server = await startStompServer();
});
afterAll(async () => {
  await server.close();
});

it('8 producers x 1000 messages, 3 client-individual consumers: exactly once', async () => {
  const PRODUCERS = 8;
  const PER = 1000;
  const consumers: RawStompClient[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < 3; i++) {
    const c = await rawConnected(server.port);
    c.write(
      `SUBSCRIBE\nid:c${i}\ndestination:/queue/load\nack:client-individual\nprefetch-count:50\nreceipt:r\n\n\0`,
    );
    await c.next('RECEIPT');
    consumers.push(c);
  }
  // Each consumer acks what it gets as it arrives.
  const acked = [0, 0, 0];
  const pumps = consumers.map(async (c, i) => {
    // Until every message was seen (by any consumer; the test's timeout bounds it); a frame
    // other than MESSAGE, or the connection closing, fails the pump and the test.
    while (seen.size < PRODUCERS * PER) {
      let f;
      try {
        f = await c.next('MESSAGE', 1000);
      } catch (err) {
        if (/^timed out/.test((err as Error).message)) continue;
        throw err;
      }
      const key = f.body.toString();
      seen.set(key, (seen.get(key) ?? 0) + 1);
      c.write(`ACK\nid:${f.headers['ack']}\n\n\0`);
      acked[i]!++;
    }
  });
  const producers = await Promise.all(Array.from({ length: PRODUCERS }, () => rawConnected(server.port)));
  await Promise.all(
    producers.map(async (p, pi) => {
      let batch = '';
      for (let m = 0; m < PER; m++) {
        batch += `SEND\ndestination:/queue/load\n${m === PER - 1 ? 'receipt:last\n' : ''}\np${pi}-${m}\0`;
        if (batch.length > 16_000 || m === PER - 1) {
          p.write(batch);
          batch = '';
        }
      }
      await p.next('RECEIPT', 15_000);
    }),
  );
  await until(() => seen.size === PRODUCERS * PER, 'all messages', 20_000);
  await Promise.all(pumps);
  for (const c of consumers) c.socket.destroy();
  expect([...seen.values()].every((n) => n === 1)).toBe(true);
  expect(acked.filter((n) => n > 0).length).toBeGreaterThan(1);
  for (const p of producers) p.socket.destroy();
}, 40_000);
