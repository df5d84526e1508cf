/**
 * Store format 2 and the one-time conversion of format-1 data (what Junction wrote before the
 * keys moved under per-queue hash tags). It runs inside open(), like RabbitMQ's schema and
 * message-store upgrades on boot: an operator upgrades the binary and starts it, nothing else.
 * The steps are safe to interrupt anywhere (kill -9, a lost connection): the next open()
 * finishes them.
 *
 *   1. Lock: `P migrating` = a random token (SET NX PX, renewed as it goes), so of several nodes
 *      opening the same data one converts and the others wait for it.
 *   2. Copy: every new-layout queue key a cut-short earlier run may have left is deleted, then
 *      each queue's entries (`qz:`/`qh:` with the bodies `m:<id>` they reference) are written
 *      into the queue's `{v/q}:z`/`:h`, and each stream's keys are COPYed to `{v/q}:st:...`.
 *      The old keys are not touched, so a crash here loses nothing: format is still 1.
 *   3. Switch: one script sets `format` 2 and `legacy` 1 if the lock is still this run's. From
 *      here on only the new keys are read; a run that lost its lock (paused past it) cannot
 *      switch over a copy another run is still making.
 *   4. Clean up: the old keys are deleted in batches, then `legacy` goes. A crash here leaves
 *      `legacy` 1 and the next open() deletes the rest.
 *
 * Downgrading is not possible after step 3: an older Junction refuses format 2 with a message
 * naming it (it checks the format). Back up (BGSAVE, or copy the AOF) before upgrading.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { QueueKeys } from './keys.js';

/** Bumped on any incompatible change of the layout in scripts.ts. */
export const FORMAT_VERSION = 2;

export type MigrationStep =
  | { step: 'start'; from: number }
  | { step: 'queue'; vhost: string; queue: string; entries: number }
  | { step: 'stream'; vhost: string; queue: string; keys: number }
  | { step: 'switched' }
  | { step: 'cleanup'; deleted: number }
  | { step: 'done' };

/** How long the lock lives without a renewal, and how long an opener waits for another's run. */
const LOCK_MS = 5_000;
const WAIT_FOR_OTHER_MS = 10 * 60_000;
const PAGE = 500;

/** KEYS: lock, meta. ARGV: token. Sets format 2 only if this run still holds the lock. */
const SWITCH = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'format', '2', 'legacy', '1')
redis.call('DEL', KEYS[1])
return 1
`;

/** KEYS: lock. ARGV: token, ms. Renews the lock if it is still this run's. */
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

class MigrationLostLockError extends Error {}

/** Brings the data under `prefix` to FORMAT_VERSION (a fresh store just gets the marker). */
export async function migrateFormat(
  redis: Redis | Cluster,
  prefix: string,
  onStep: (step: MigrationStep) => void = () => {},
): Promise<void> {
  const meta = `${prefix}meta`;
  const deadline = Date.now() + WAIT_FOR_OTHER_MS;
  for (;;) {
    const [format, legacy] = await redis.hmget(meta, 'format', 'legacy');
    if (format === null) {
      if ((await redis.hsetnx(meta, 'format', String(FORMAT_VERSION))) === 1) return;
      continue; // another opener created it meanwhile: read what it wrote
    }
    const version = Number(format);
    if (!(version <= FORMAT_VERSION))
      throw new Error(
        `written by a newer Junction (store format ${format}; this version reads up to ${FORMAT_VERSION})`,
      );
    if (version === FORMAT_VERSION) {
      if (legacy === '1') await cleanUp(redis, prefix, onStep);
      return;
    }
    if (version !== 1) throw new Error(`store format ${format} is not one this version converts`);
    const token = randomBytes(12).toString('hex');
    if ((await redis.set(`${prefix}migrating`, token, 'PX', LOCK_MS, 'NX')) === 'OK') {
      onStep({ step: 'start', from: version });
      try {
        await copyToFormat2(redis, prefix, token, onStep);
      } catch (err) {
        // Paused past the lock: another run has it now; wait for that one like any other opener.
        if (err instanceof MigrationLostLockError) continue;
        throw err;
      }
      await cleanUp(redis, prefix, onStep);
      return;
    }
    if (Date.now() > deadline)
      throw new Error(
        `another Junction has been converting this store to format ${FORMAT_VERSION} for too long`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Steps 2 and 3. */
async function copyToFormat2(
  redis: Redis | Cluster,
  prefix: string,
  token: string,
  onStep: (step: MigrationStep) => void,
): Promise<void> {
  const lock = `${prefix}migrating`;
  const renew = async (): Promise<void> => {
    if ((await redis.eval(RENEW, 1, lock, token, String(LOCK_MS))) !== 1)
      throw new MigrationLostLockError(
        'the store format conversion lost its lock to another run; it stopped',
      );
  };
  // What an earlier run cut short left in the new layout is stale: nothing else writes it in format 1.
  for await (const keys of scan(redis, `${glob(prefix)}{*`)) {
    const stale = keys.filter((k) => /\}:(?:z|h|st:.*)$/.test(k));
    if (stale.length > 0) await redis.unlink(...stale);
  }
  for await (const keys of scan(redis, `${glob(prefix)}qz:*`)) {
    for (const zk of keys) {
      const [vhost, queue] = JSON.parse(zk.slice(prefix.length + 3)) as [string, string];
      const entries = await copyQueue(redis, prefix, zk, new QueueKeys(prefix, { vhost, queue }), renew);
      onStep({ step: 'queue', vhost, queue, entries });
    }
  }
  const streams = new Map<string, string[]>();
  for await (const keys of scan(redis, `${glob(prefix)}st{*`))
    for (const k of keys) {
      const base = k.slice(0, k.lastIndexOf('}') + 1);
      let list = streams.get(base);
      if (!list) streams.set(base, (list = []));
      list.push(k);
    }
  for (const [base, keys] of streams) {
    // The format-1 tag is JSON [vhost, queue] with braces written \u007b / \u007d: still JSON.
    const [vhost, queue] = JSON.parse(base.slice(prefix.length + 3, -1)) as [string, string];
    const to = new QueueKeys(prefix, { vhost, queue }).stream;
    for (const k of keys) await redis.copy(k, to + k.slice(base.length), 'REPLACE');
    await renew();
    onStep({ step: 'stream', vhost, queue, keys: keys.length });
  }
  if ((await redis.eval(SWITCH, 2, lock, `${prefix}meta`, token)) !== 1)
    throw new MigrationLostLockError(
      'the store format conversion lost its lock before switching; it stopped',
    );
  onStep({ step: 'switched' });
}

/** One queue's entries, paged by score, with the bodies they reference; returns how many. */
async function copyQueue(
  redis: Redis | Cluster,
  prefix: string,
  zk: string,
  to: QueueKeys,
  renew: () => Promise<void>,
): Promise<number> {
  const hk = `${prefix}qh:${zk.slice(prefix.length + 3)}`;
  let after = '-inf';
  let copied = 0;
  for (;;) {
    const ids = await redis.zrangebyscore(zk, after, '+inf', 'LIMIT', 0, PAGE);
    if (ids.length === 0) return copied;
    const read = redis.pipeline();
    read.hmget(hk, ...ids.flatMap((id) => [`e:${id}`, `d:${id}`]));
    for (const id of ids) read.hgetBuffer(`${prefix}m:${id}`, 'v');
    const replies = (await read.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed) throw failed[0]!;
    const fields = replies[0]![1] as (string | null)[];
    const write = redis.pipeline();
    ids.forEach((id, i) => {
      const body = replies[i + 1]![1] as Buffer | null;
      if (!body) return; // an entry without its body could not be delivered in format 1 either
      write.zadd(to.entries, id, id);
      write.hset(
        to.records,
        `e:${id}`,
        fields[2 * i] ?? '0',
        `d:${id}`,
        fields[2 * i + 1] ?? '0',
        `b:${id}`,
        body,
      );
      copied++;
    });
    const written = (await write.exec()) ?? [];
    const writeFailed = written.find(([err]) => err);
    if (writeFailed) throw writeFailed[0]!;
    await renew();
    if (ids.length < PAGE) return copied;
    after = `(${ids[ids.length - 1]!}`;
  }
}

/** Step 4: deletes the format-1 keys, then the legacy mark. */
async function cleanUp(
  redis: Redis | Cluster,
  prefix: string,
  onStep: (step: MigrationStep) => void,
): Promise<void> {
  for (const pattern of ['qz:*', 'qh:*', 'm:*', 'st{*'])
    for await (const keys of scan(redis, glob(prefix) + pattern)) {
      if (keys.length === 0) continue;
      await redis.unlink(...keys);
      onStep({ step: 'cleanup', deleted: keys.length });
    }
  await redis.hdel(`${prefix}meta`, 'legacy');
  onStep({ step: 'done' });
}

/** SCAN MATCH pattern, a batch of keys at a time (a key may come twice; every use is idempotent). */
async function* scan(redis: Redis | Cluster, pattern: string): AsyncIterable<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', PAGE);
    cursor = next;
    yield keys;
  } while (cursor !== '0');
}

/** The prefix with SCAN's glob characters escaped. */
function glob(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
