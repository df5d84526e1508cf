/**
 * `node packages/bench/dist/stream-log.js [--seconds N] [--body BYTES]`: the stream logs of
 * the durable stores measured directly (no broker, no protocol), so a stream scenario's figure
 * over AMQP can be split into store and the rest. Per store: appends of one entry each with 64
 * in flight (what a confirming publisher's stream of publishes becomes: group commit), appends
 * of 100 entries awaited one after the other, and a read of everything from offset 0 in pages
 * of 1,000. Redis is a private redis-server with AOF and appendfsync always, as in the storage
 * tests; the embedded store writes to a temp dir.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Store, StreamAppend, StreamLog } from '@junction/core';
import { LmdbStore } from '@junction/storage-lmdb';
import { RedisStore } from '@junction/storage-redis';
import { startRedisServer } from './peers.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, body: { type: 'string', default: '1024' } },
});
const seconds = Number(values.seconds);
const body = Buffer.alloc(Number(values.body), 0x61);
const IN_FLIGHT = 64;
const BATCH = 100;
const PAGE = 1000;

const entry = (): StreamAppend => ({
  timestamp: Date.now(),
  message: { exchange: '', routingKey: 'bench', properties: { deliveryMode: 2 }, body },
});

/** Runs `op` with `parallel` loops for the window; returns entries per second. */
async function rate(parallel: number, perOp: number, op: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < end) {
        await op();
        n += perOp;
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

async function measure(name: string, store: Store): Promise<string[]> {
  await store.open();
  const log: StreamLog = await store.openStream(
    { vhost: '/', queue: 'bench' },
    { maxSegmentBytes: 64 * 2 ** 20 },
  );
  const single = await rate(IN_FLIGHT, 1, () => log.append([entry()]));
  const batch = Array.from({ length: BATCH }, entry);
  const batched = await rate(1, BATCH, () => log.append(batch));
  const total = log.nextOffset;
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let read = 0;
  for (let at = 0; at < total;) {
    const got = await log.read(at, PAGE);
    if (got.length === 0) break;
    read += got.length;
    at = got[got.length - 1]!.offset + 1;
  }
  const readRate = read / ((performance.now() - t0) / 1000);
  const rssGrowth = (process.memoryUsage().rss - rss0) / 2 ** 20;
  await log.close();
  await store.close();
  const k = (v: number): string => `${Math.round(v).toLocaleString('en')}`;
  return [name, k(single), k(batched), k(readRate), `${read.toLocaleString('en')}`, rssGrowth.toFixed(0)];
}

const rows: string[][] = [];
const dir = mkdtempSync(join(tmpdir(), 'junction-stream-bench-'));
try {
  rows.push(await measure('embedded', new LmdbStore({ dir: join(dir, 'lmdb') })));
  mkdirSync(join(dir, 'redis'));
  const redis = await startRedisServer(join(dir, 'redis'));
  try {
    rows.push(await measure('redis', new RedisStore({ url: redis.url })));
  } finally {
    await redis.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`stream log, ${body.length} B entries, ${seconds} s windows\n`);
console.log(
  '| store | append 1/call, 64 in flight (entries/s) | append 100/call (entries/s) | read from 0 (entries/s) | entries read | RSS growth while reading (MiB) |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
