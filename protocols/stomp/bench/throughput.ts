/**
 * Quick STOMP throughput probe (not a test): one producer and one auto-ack consumer over
 * loopback TCP against an in-process broker. Clients are raw sockets that pipeline
 * pre-encoded frames and count NULs, so nearly all CPU goes to the server.
 *
 *   node --conditions=@junction/source --import tsx protocols/stomp/bench/throughput.ts [count] [size] [ack]
 */
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Broker } from '@junction/core';
import { createStompAdapter } from '../src/index.js';

const count = Number(process.argv[2] ?? 200_000);
const size = Number(process.argv[3] ?? 100);
const ack = process.argv[4] ?? 'auto';

const broker = await Broker.start();
const adapter = createStompAdapter(broker, {}, pino({ level: 'silent' }));
const [addr] = (await adapter.listen([{ port: 0, host: '127.0.0.1', transport: 'tcp' }])) as AddressInfo[];
const port = addr!.port;

async function open(): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write('CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\0');
  await new Promise<void>((r) => s.once('data', () => r()));
  return s;
}

const consumer = await open();
consumer.write(
  `SUBSCRIBE\nid:1\ndestination:/queue/bench\nack:${ack}\n${ack === 'auto' ? '' : 'prefetch-count:1000\n'}receipt:s\n\n\0`,
);
await new Promise<void>((r) => consumer.once('data', () => r()));
let received = 0;
let lastAck = 0;
const t0 = process.hrtime.bigint();
const done = new Promise<void>((resolve) => {
  let tail = '';
  consumer.on('data', (d: Buffer) => {
    for (let i = d.indexOf(0); i >= 0; i = d.indexOf(0, i + 1)) received++;
    if (ack !== 'auto') {
      // ACK the newest message-id seen (client mode is cumulative).
      const text = tail + d.toString('latin1');
      const at = text.lastIndexOf('\nmessage-id:');
      const eol = at < 0 ? -1 : text.indexOf('\n', at + 12);
      tail = text.slice(-200);
      const id = eol > 0 ? Number(text.slice(at + 12, eol)) : 0;
      if (id > lastAck) {
        lastAck = id;
        consumer.write(`ACK\nid:${id}\n\n\0`);
      }
    }
    if (received >= count) resolve();
  });
});

const producer = await open();
const frame = Buffer.from(`SEND\ndestination:/queue/bench\ncontent-length:${size}\n\n${'x'.repeat(size)}\0`);
const batch = Buffer.concat(Array.from({ length: 100 }, () => frame));
let sent = 0;
while (sent < count) {
  if (!producer.write(batch)) await new Promise((r) => producer.once('drain', r));
  sent += 100;
}
const tSent = process.hrtime.bigint();
await done;
const t1 = process.hrtime.bigint();
const secs = Number(t1 - t0) / 1e9;
console.log(
  JSON.stringify({
    count,
    size,
    ack,
    publishSecs: Number(tSent - t0) / 1e9,
    totalSecs: secs,
    msgsPerSec: Math.round(count / secs),
  }),
);
consumer.destroy();
producer.destroy();
await adapter.close({ drainMs: 0 });
await broker.close();
