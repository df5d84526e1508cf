/**
 * The `mirrored` queue type on a Redis replication group (primary, 2 replicas, 3 Sentinels,
 * `appendfsync always`): amqplib publishes persistent messages with confirms into a mirrored
 * queue while a fault hits the group, and a broker started afresh afterwards (everything read
 * from whichever server the Sentinels name then) must hold every confirmed message.
 *   - kill -9 of the primary (restarted as a replica afterwards);
 *   - SIGSTOP of the primary until the Sentinels name another, then SIGCONT: the case that
 *     loses confirmed messages on a classic queue (sentinel-failover.test.ts) and with plain
 *     `WAIT 1` (../shared/research/multinode.md §3.5), since a replica may still follow the
 *     paused primary when it wakes and acknowledge the writes the broker had sent into it;
 *   - kill -9 of one replica: confirms go on (the replica leaves the set Sentinel could promote).
 * And the type is refused (406) on stores that keep one copy.
 *
 * One run per fault here; `npm run test:mirrored -- --runs N` repeats each (MIRRORED_RUNS) and
 * prints the per-fault table (runs, confirmed, lost, nacked, longest confirm gap).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '@junction/server';
import { ConfirmingPublisher, startRedisGroup, until, type RedisGroup } from '@junction/testkit';

const RUNS = Math.max(1, Math.min(100, Number(process.env.MIRRORED_RUNS ?? 1) || 1));
const MIRRORED = { 'x-queue-type': 'mirrored' };
const WINDOW = 100;
const BEFORE = 1_000; // confirms before the fault
const AFTER = 1_000; // confirms once the fault is over (new primary named, or replica gone)

interface RunFigures {
  fault: string;
  confirmed: number;
  nacked: number;
  lost: number;
  /** Longest stretch without a confirm (the fault's, in practice). */
  gapMs: number;
}
const figures: RunFigures[] = [];

let group: RedisGroup;
const brokers = new Set<BrokerHandle>();
const start = async (storage: string): Promise<BrokerHandle> => {
  const b = await startBroker({ ports: { amqp: 0 }, storage });
  brokers.add(b);
  return b;
};
const stop = async (b: BrokerHandle): Promise<void> => {
  brokers.delete(b);
  await b.close();
};

afterAll(async () => {
  for (const b of [...brokers]) await stop(b);
});

/**
 * Publishes with confirms into a fresh mirrored queue while `fault` runs (it resolves once the
 * fault is over for the publisher: a new primary named, a replica gone), then AFTER more
 * confirms; then reads the queue back through a new broker and returns the run's figures.
 */
async function publishThrough(run: string, fault: () => Promise<void>): Promise<RunFigures> {
  await group.waitForReplicas(2);
  const queue = `mirrored-${run}`;
  const broker = await start(group.url);
  const conn = await amqp.connect(broker.amqpUrl!);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true, arguments: MIRRORED });

  const pub = new ConfirmingPublisher(ch, queue, WINDOW);
  let faultAt = 0;
  let overAt = 0;
  let confirmsWhenOver = 0;
  const faulting = (async () => {
    await until(() => pub.confirmed.size >= BEFORE, 'confirms before the fault', 30_000);
    faultAt = Date.now();
    await fault();
    overAt = Date.now();
    confirmsWhenOver = pub.confirmed.size;
  })();
  let failed: unknown;
  faulting.catch((err: unknown) => (failed = err));
  await pub.runUntil(
    () => !!failed || (overAt > 0 && pub.confirmed.size >= confirmsWhenOver + AFTER),
    90_000,
  );
  await faulting;
  // Every publish settles within the gate's bound (10 s) after its write was answered.
  await until(() => pub.inFlight === 0, 'the last confirms or nacks', 40_000);
  await conn.close();
  await stop(broker);

  // A broker that has never seen these messages reads them from the current primary.
  const fresh = await start(group.url);
  const conn2 = await amqp.connect(fresh.amqpUrl!);
  const ch2 = await conn2.createChannel();
  const present = new Set<number>();
  await ch2.consume(queue, (m) => m && present.add(Number(m.properties.messageId)), { noAck: true });
  const missing = (): number[] => [...pub.confirmed].filter((id) => !present.has(id));
  const drainDeadline = Date.now() + 30_000;
  while (missing().length > 0 && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 50));
  await ch2.deleteQueue(queue);
  await conn2.close();
  await stop(fresh);

  const r: RunFigures = {
    fault: run.replace(/-\d+$/, ''),
    confirmed: pub.confirmed.size,
    nacked: pub.nacked,
    lost: missing().length,
    gapMs: pub.longestGap(),
  };
  figures.push(r);
  console.log(
    `mirrored ${run}: ${pub.published} published, ${r.confirmed} confirmed, ${r.nacked} nacked, ${r.lost} lost; ` +
      `fault over after ${overAt - faultAt} ms, longest confirm gap ${r.gapMs} ms`,
  );
  expect(pub.confirmed.size).toBeGreaterThanOrEqual(BEFORE + AFTER);
  return r;
}

function table(rows: readonly RunFigures[]): string {
  const byFault = new Map<string, RunFigures[]>();
  for (const r of rows) byFault.set(r.fault, [...(byFault.get(r.fault) ?? []), r]);
  const range = (xs: number[]): string => `${Math.min(...xs)}-${Math.max(...xs)}`;
  return [...byFault]
    .map(
      ([fault, rs]) =>
        `  ${fault}: ${rs.length} runs, confirmed ${range(rs.map((r) => r.confirmed))}, ` +
        `lost ${rs.reduce((n, r) => n + r.lost, 0)} (in ${rs.filter((r) => r.lost > 0).length} runs), ` +
        `nacked ${range(rs.map((r) => r.nacked))}, longest confirm gap ${range(rs.map((r) => r.gapMs))} ms`,
    )
    .join('\n');
}

describe('mirrored queue on a Redis replication group', () => {
  beforeAll(async () => {
    group = await startRedisGroup({ password: 'mirrored test' });
  }, 60_000);
  afterAll(async () => {
    await group?.cleanup();
    if (figures.length > 0) console.log(`mirrored queue, per fault:\n${table(figures)}`);
  });

  it('a policy `queue-type: mirrored` makes a queue declared without x-queue-type mirrored', async () => {
    const b = await startBroker({ ports: { amqp: 0, http: 0 }, storage: group.url });
    brokers.add(b);
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    const api = (path: string, init?: RequestInit): Promise<Response> =>
      fetch(`${b.httpUrl}/api/${path}`, {
        ...init,
        headers: { ...auth, 'content-type': 'application/json' },
      });
    const put = await api('policies/%2F/ha', {
      method: 'PUT',
      body: JSON.stringify({
        pattern: '^ha\\.',
        'apply-to': 'queues',
        definition: { 'queue-type': 'mirrored' },
      }),
    });
    expect(put.status, await put.text()).toBeLessThan(300);
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('ha.orders', { durable: true });
    await ch.assertQueue('plain.orders', { durable: true });
    const typeOf = async (q: string): Promise<unknown> =>
      ((await (await api(`queues/%2F/${q}`)).json()) as { type: unknown }).type;
    expect(await typeOf('ha.orders')).toBe('mirrored');
    expect(await typeOf('plain.orders')).toBe('classic');
    // Its publishes are confirmed through the gate (the group is healthy).
    ch.sendToQueue('ha.orders', Buffer.from('x'), { persistent: true });
    await ch.waitForConfirms();
    for (const q of ['ha.orders', 'plain.orders']) await ch.deleteQueue(q);
    await conn.close();
    await stop(b);
  });

  for (let run = 1; run <= RUNS; run++) {
    it(`kill -9 of the Redis primary: nothing confirmed is lost (run ${run})`, async () => {
      const r = await publishThrough(`kill-primary-${run}`, async () => {
        const old = await group.killPrimary();
        await group.waitForNewPrimary(old, 30_000);
        await group.restart(old);
      });
      expect(r.lost).toBe(0);
    }, 180_000);

    it(`SIGSTOP of the Redis primary until a failover, then SIGCONT: nothing confirmed is lost (run ${run})`, async () => {
      const r = await publishThrough(`pause-primary-${run}`, async () => {
        const old = await group.pausePrimary();
        try {
          await group.waitForNewPrimary(old, 30_000);
        } finally {
          group.resume(old);
        }
      });
      expect(r.lost).toBe(0);
    }, 180_000);

    it(`kill -9 of one replica: confirms go on and nothing confirmed is lost (run ${run})`, async () => {
      let killed = 0;
      const r = await publishThrough(`kill-replica-${run}`, async () => {
        killed = await group.killReplica();
      });
      // The publisher got AFTER more confirms with the replica dead; it comes back for the next test.
      await group.restart(killed);
      expect(r.lost).toBe(0);
    }, 180_000);
  }
});

describe('mirrored queue on a store that keeps one copy', () => {
  for (const storage of ['embedded', 'memory']) {
    it(`is refused with 406 on the ${storage} store, with the reason`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'junction-mirrored-'));
      const b = await startBroker({ ports: { amqp: 0 }, storage, config: { dataDir: dir } });
      brokers.add(b);
      try {
        const conn = await amqp.connect(b.amqpUrl!);
        const ch = await conn.createChannel();
        const closed = new Promise<Error>((r) => ch.once('error', r));
        await expect(ch.assertQueue('m', { durable: true, arguments: MIRRORED })).rejects.toThrow(
          /PRECONDITION_FAILED - a mirrored queue needs a store that replicates/,
        );
        expect(String(await closed)).toMatch(/406/);
        // The connection stays usable; a classic queue of the same name is fine.
        const ch2 = await conn.createChannel();
        await ch2.assertQueue('m', { durable: true });
        await conn.close();
      } finally {
        await stop(b);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
