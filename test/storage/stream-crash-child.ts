/**
 * The process stream-crash.test.ts kills: opens a stream on a durable store and appends from
 * two deduplicating producers at once, printing each confirmed sequence as a JSON line
 * (stdout to a pipe is synchronous on Linux, so a line printed is a line the test reads).
 * Each life resumes every producer a few sequences before its last stored one, so the
 * resends exercise dedup across a crash.
 *
 * argv: lmdb <dir> [filler] | redis <url>. With a filler file (on the same small disk as the
 * data), the first append that fails (the disk is full) deletes it, prints `disk full`, and
 * the producers go on with the same sequences; 500 confirms later the child prints `done`
 * and exits.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { LmdbStore } from '@junction/storage-lmdb';
import { RedisStore } from '@junction/storage-redis';
import type { Store } from '@junction/core';
import {
  CRASH_KEY_PREFIX,
  CRASH_PRODUCERS,
  CRASH_REF,
  CRASH_SETTINGS,
  crashBody,
} from './stream-crash-shape.js';

const [kind, where, filler] = process.argv.slice(2);
let afterFull: number | undefined;
const store: Store =
  kind === 'lmdb'
    ? new LmdbStore({ dir: where! })
    : new RedisStore({ url: where!, keyPrefix: CRASH_KEY_PREFIX });
await store.open();
const log = await store.openStream(CRASH_REF, CRASH_SETTINGS);
const print = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
print({ msg: 'ready', next: log.nextOffset });

async function produce(name: string, seed: number): Promise<never> {
  let seq = Math.max(1, (log.lastProducerSequence(name) ?? 0) - 2);
  for (let i = seed; ; i++) {
    const n = 1 + (i % 17);
    const entries = Array.from({ length: n }, (_, k) => ({
      timestamp: Date.now(),
      message: { exchange: '', routingKey: name, properties: {}, body: crashBody(name, seq + k) },
    }));
    try {
      await log.append(entries, { name, firstSequence: seq });
    } catch (err) {
      if (!filler) throw err;
      if (existsSync(filler)) {
        unlinkSync(filler);
        afterFull = 0;
        print({ msg: 'disk full', error: (err as Error).message });
      } else if (afterFull !== 0) throw err; // full again, or failed for another reason
      continue; // the same sequences again (the other producer's append failed in the same write)
    }
    seq += n;
    print({ msg: 'confirmed', producer: name, upTo: seq - 1 });
    if (afterFull !== undefined && (afterFull += 1) >= 500) {
      print({ msg: 'done' });
      process.exit(0);
    }
  }
}

await Promise.all(CRASH_PRODUCERS.map((p, i) => produce(p, i * 5)));
