/**
 * The Redis store on a replication group through `--storage redis-sentinel://...`: a broker
 * keeps serving across a kill -9 and a SIGSTOP of the Redis primary. amqplib publishes
 * persistent messages with confirms while the primary goes; publishing resumes once Sentinel
 * has promoted a replica, and a broker started afresh on the group afterwards (so everything
 * comes from the new primary, not from the first broker's memory) delivers every confirmed
 * message (after a kill) or every one published after the failover (after a pause).
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '@junction/server';
import { ConfirmingPublisher, startRedisGroup, until, type RedisGroup } from '@junction/testkit';

let group: RedisGroup;
const brokers: BrokerHandle[] = [];
const start = async (): Promise<BrokerHandle> => {
  const b = await startBroker({ ports: { amqp: 0 }, storage: group.url });
  brokers.push(b);
  return b;
};

beforeAll(async () => {
  group = await startRedisGroup({ password: 'sentinel test' });
}, 60_000);
afterAll(async () => {
  for (const b of brokers.splice(0)) await b.close();
  await group?.cleanup();
});

const WINDOW = 100;
const BEFORE = 2_000; // confirms before the fault
const AFTER = 2_000; // confirms after the new primary is known

/**
 * Publishes with confirms through a broker on the group while `fault` takes the primary away
 * (resolving with its port); once the Sentinels name another, `afterFailover` runs and the
 * publisher goes on for AFTER more confirms. Then a fresh broker must deliver every confirmed one.
 */
async function publishThroughFailover(
  what: string,
  fault: () => Promise<number>,
  afterFailover: (oldPort: number) => Promise<void>,
): Promise<{ lost: number[]; sentBeforeFailover: (id: number) => boolean }> {
  const broker = await start();
  const conn = await amqp.connect(broker.amqpUrl!);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('orders', { durable: true });
  await ch.purgeQueue('orders');

  const pub = new ConfirmingPublisher(ch, 'orders', WINDOW);
  const { confirmed, confirmTimes, publishedAt } = pub;
  let killedAt = 0;
  let newPrimaryAt = 0;
  let confirmsAtNewPrimary = 0;
  const failover = (async () => {
    await until(() => confirmed.size >= BEFORE, 'confirms before the fault', 20_000);
    killedAt = Date.now();
    const old = await fault();
    await group.waitForNewPrimary(old, 30_000);
    newPrimaryAt = Date.now();
    confirmsAtNewPrimary = confirmed.size;
    await afterFailover(old);
  })();
  let failed: unknown;
  failover.catch((err: unknown) => (failed = err));
  await pub.runUntil(
    () => !!failed || (newPrimaryAt > 0 && confirmed.size >= confirmsAtNewPrimary + AFTER),
    60_000,
  );
  await failover;
  await until(() => pub.inFlight === 0, 'the last confirms', 20_000);
  await conn.close();

  const gap = pub.longestGap();
  const resumed = confirmTimes.find((t) => t > newPrimaryAt) ?? Infinity;
  console.log(
    `sentinel failover (${what}): ${pub.published} published, ${confirmed.size} confirmed, ${pub.nacked} nacked; ` +
      `failover ${newPrimaryAt - killedAt} ms, longest confirm gap ${gap} ms, first confirm ${resumed - newPrimaryAt} ms after the new primary`,
  );
  expect(confirmed.size).toBeGreaterThanOrEqual(BEFORE + AFTER);

  // A broker that has never seen these messages reads them from the new primary.
  await broker.close();
  brokers.splice(brokers.indexOf(broker), 1);
  const fresh = await start();
  const conn2 = await amqp.connect(fresh.amqpUrl!);
  const ch2 = await conn2.createChannel();
  const delivered = new Set<number>();
  await ch2.consume(
    'orders',
    (m) => {
      if (m) delivered.add(Number(m.properties.messageId));
    },
    { noAck: true },
  );
  const missing = (): number[] => [...confirmed].filter((id) => !delivered.has(id));
  const drainDeadline = Date.now() + 30_000;
  while (missing().length > 0 && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 50));
  await conn2.close();
  const lost = missing();
  if (lost.length > 0) console.log(`sentinel failover (${what}): ${lost.length} confirmed messages lost`);
  return { lost, sentBeforeFailover: (id) => publishedAt[id]! < newPrimaryAt };
}

describe('Redis store on Sentinel', () => {
  it('kill -9 of the Redis primary: confirms resume after the failover and nothing confirmed is lost', async () => {
    // The killed server comes back as a replica, so the next test starts with two again.
    const { lost } = await publishThroughFailover(
      'kill -9',
      () => group.killPrimary(),
      (old) => group.restart(old),
    );
    expect(lost).toEqual([]);
  }, 120_000);

  // Without WAIT this is Redis's split-brain window (../shared/research/multinode.md §3.5): the
  // writes the broker had sent into the paused primary are answered when it wakes, while a
  // replica still follows it, and its demotion then discards them. Measured here: 2-199 (up to
  // two publisher windows) lost in 9 of 11 runs. What must hold already: the broker moves to the
  // promoted replica, and nothing published after the failover is lost. Mirrored queues
  // (WAIT on every replica Sentinel may promote) are what must close the window.
  it('SIGSTOP of the Redis primary: confirms resume on the promoted replica; only writes sent to the paused one can be lost', async () => {
    // A paused primary never closes its connections: only Sentinel's word moves the broker.
    const { lost, sentBeforeFailover } = await publishThroughFailover(
      'SIGSTOP',
      () => group.pausePrimary(),
      async (old) => group.resume(old),
    );
    expect(lost.filter((id) => !sentBeforeFailover(id))).toEqual([]);
  }, 120_000);
});
