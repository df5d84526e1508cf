/**
 * Back-pressure: a consumer that stops reading must make the server stop delivering
 * (messages stay in the queue, not in socket buffers), and delivery resumes on drain.
 */
import { expect, it } from 'vitest';
import { until } from '@junction/testkit';
import { rawConnected, stompSuite } from './helpers.js';

const suite = stompSuite();

it('a slow consumer pauses deliveries; all arrive once it reads again', async () => {
  // Below the core's publisher-flow threshold (FLOW_HIGH ready messages), which would
  // otherwise rate-limit the producer while the consumer is stalled.
  const COUNT = 3000;
  const SIZE = 16 * 1024;
  const consumer = await rawConnected(suite.server.port);
  consumer.write('SUBSCRIBE\nid:1\ndestination:/queue/flow-q\nreceipt:s\n\n\0');
  await consumer.next('RECEIPT');
  // Stop reading: the kernel buffers fill, then the server's socket buffer.
  consumer.socket.pause();
  let receivedBytes = 0;
  let nuls = 0;

  const producer = await rawConnected(suite.server.port);
  const frame = Buffer.from(
    `SEND\ndestination:/queue/flow-q\ncontent-length:${SIZE}\n\n${'p'.repeat(SIZE)}\0`,
  );
  for (let i = 0; i < COUNT; i += 100) {
    const ok = producer.socket.write(Buffer.concat(Array.from({ length: 100 }, () => frame)));
    if (!ok) await new Promise((r) => producer.socket.once('drain', r));
  }
  producer.write('SEND\ndestination:/queue/flow-sync\nreceipt:done\n\n\0');
  await producer.next('RECEIPT', 20_000);

  // Most of the 48 MiB must still be in the queue, held back by back-pressure.
  const ready = await until(
    async () => {
      const q = await suite.ch.checkQueue('flow-q');
      return q.messageCount > COUNT / 2 ? q.messageCount : 0;
    },
    'messages held in the queue',
    10_000,
  );
  expect(ready).toBeGreaterThan(COUNT / 2);
  const snap = [...suite.server.adapter.connections()].find(
    (s) => s.remotePort === consumer.socket.localPort,
  )!;
  expect(snap.bytesOut).toBeLessThan((COUNT * SIZE) / 2);

  consumer.socket.removeAllListeners('data');
  consumer.socket.on('data', (d: Buffer) => {
    receivedBytes += d.length;
    for (let i = d.indexOf(0); i >= 0; i = d.indexOf(0, i + 1)) nuls++;
  });
  consumer.socket.resume();
  await until(() => nuls >= COUNT, 'all deliveries after resume', 20_000);
  expect(receivedBytes).toBeGreaterThan(COUNT * SIZE);
  consumer.socket.destroy();
  producer.socket.destroy();
}, 40_000);
