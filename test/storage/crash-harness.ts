/**
 * Nothing confirmed is lost: the broker runs as its own process on a durable store,
 * several publishers send persistent messages with confirms while a consumer acks some,
 * and the broker is killed with SIGKILL at a random moment. After a restart on the same
 * data every confirmed message is there (unless a consumer acked it), messages that had
 * been delivered come back flagged redelivered, and queues, bindings and users survive.
 * Twenty kill points per backend, each life starting from what the previous one left.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom, spawnLogged } from '@junction/testkit';
import type { CrashBackend } from './crash-backends.js';

const main = fileURLToPath(new URL('../../packages/server/src/main.ts', import.meta.url));
const KILLS = 20;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

export interface Running {
  child: ChildProcess;
  amqpUrl: string;
  httpUrl: string;
  /** Every listener's port, as the broker's start line gives them (arguments may turn on more). */
  ports: Record<string, number>;
  /** The broker's pid as it sees itself (1 when it is PID 1 of its own pid namespace). */
  pid: number;
  exited: Promise<number | null>;
}

/**
 * The broker as a child process on loopback ports; `prefix` runs it under another command
 * (e.g. `unshare --pid --fork`), with the same arguments and environment.
 */
export async function startBrokerProcess(storageArgs: string[], prefix: string[] = []): Promise<Running> {
  const command = [
    process.execPath,
    [
      '--conditions=@junction/source',
      '--import',
      'tsx',
      main,
      'start',
      '--amqp-port',
      '0',
      '--amqp-host',
      '127.0.0.1',
      '--mqtt-port',
      'off',
      '--stomp-port',
      'off',
      '--http-port',
      '0',
      // A small in-memory window, so fifo's tail pages to the store within a life.
      '--queue-memory-messages',
      '100',
      '--http-host',
      '127.0.0.1',
      ...storageArgs,
    ],
  ] as const;
  const p = spawnLogged([...prefix, command[0], ...command[1]], {
    env: { ...process.env, JUNCTION_LOG_LEVEL: 'info' },
  });
  const { child, exited } = p;
  children.push(child);
  const started = await p.line('Junction started', 60_000);
  const ports = started['ports'] as Record<string, number>;
  const pid = started['pid'] as number;
  return {
    child,
    exited,
    pid,
    ports,
    amqpUrl: `amqp://guest:guest@127.0.0.1:${ports['amqp']}`,
    httpUrl: `http://127.0.0.1:${ports['http']}`,
  };
}

const admin = {
  authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`,
  'content-type': 'application/json',
};

/**
 * Every message goes to both queues: `orders` (priorities: a delivery mark per message) and
 * `fifo` (a plain queue: one "delivered through" mark per turn, and a small in-memory window,
 * so its tail pages to the store).
 */
const QUEUES = ['orders', 'fifo'] as const;
type QueueName = (typeof QUEUES)[number];

/** What the test knows about each message id it published, and per queue what its consumer did. */
export interface Ledger {
  confirmed: Set<number>;
  acked: Record<QueueName, Set<number>>;
  delivered: Record<QueueName, Set<number>>;
}

export const freshLedger = (): Ledger => ({
  confirmed: new Set(),
  acked: { orders: new Set(), fifo: new Set() },
  delivered: { orders: new Set(), fifo: new Set() },
});

/** Drains each queue after a restart, checking the ledger; returns how many came back. */
export async function verify(url: string, ledger: Ledger, published: number): Promise<number> {
  let n = 0;
  for (const queue of QUEUES) n += await verifyQueue(url, queue, ledger, published);
  await probeBindings(url);
  return n;
}

async function verifyQueue(
  url: string,
  queue: QueueName,
  ledger: Ledger,
  published: number,
): Promise<number> {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  const seen = new Map<number, boolean>();
  const twice: number[] = [];
  // Nothing else consumes yet: the queue's depth is everything that survived.
  const { messageCount } = await ch.checkQueue(queue);
  await ch.prefetch(1000);
  await new Promise<void>((resolve) => {
    if (messageCount === 0) return resolve();
    void ch.consume(queue, (m) => {
      if (!m) return;
      const id = Number(m.content.toString());
      if (seen.has(id)) twice.push(id);
      seen.set(id, m.fields.redelivered);
      ch.ack(m);
      if (seen.size + twice.length === messageCount) resolve();
    });
  });
  expect(twice, `messages found twice in ${queue}`).toEqual([]);
  for (const id of ledger.confirmed) {
    if (!ledger.acked[queue].has(id))
      expect(seen.has(id), `confirmed message ${id} lost from ${queue}`).toBe(true);
  }
  for (const [id, redelivered] of seen) {
    // Acked messages may come back (the ack may not have been stored); unknown ones may not.
    expect(id >= 1 && id < published, `message ${id} in ${queue} was never published`).toBe(true);
    if (ledger.delivered[queue].has(id))
      expect(redelivered, `message ${id} was delivered from ${queue} before the crash`).toBe(true);
  }
  // Channel first: amqplib's connection.close can overtake frames still queued on a channel
  // (seen here: the broker got the close before acks sent earlier); close-ok flushes them.
  await ch.close();
  await conn.close();
  return seen.size;
}

/** The bindings survived: a publish through the topic exchange still reaches every queue. */
async function probeBindings(url: string): Promise<void> {
  const conn = await amqp.connect(url);
  const cch = await conn.createConfirmChannel();
  cch.publish('events', 'order.check', Buffer.from('probe'), { persistent: true, mandatory: true });
  const returned = new Promise<boolean>((r) => cch.once('return', () => r(true)));
  await cch.waitForConfirms();
  expect(await Promise.race([returned, new Promise<boolean>((r) => setTimeout(() => r(false), 50))])).toBe(
    false,
  );
  for (const queue of QUEUES) {
    const probe = await cch.get(queue, { noAck: true });
    expect(probe && probe.content.toString(), `probe through the binding to ${queue}`).toBe('probe');
  }
  await conn.close();
}

export async function oneLife(
  url: string,
  httpUrl: string,
  ledger: Ledger,
  nextId: { n: number },
  r: () => number,
  kill: () => void,
): Promise<void> {
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  const ch = await conn.createChannel();
  await ch.assertExchange('events', 'topic', { durable: true });
  await ch.assertQueue('orders', { durable: true, arguments: { 'x-max-priority': 5 } });
  await ch.bindQueue('orders', 'events', 'order.#');
  await ch.assertQueue('fifo', { durable: true });
  await ch.bindQueue('fifo', 'events', 'order.#');
  const put = await fetch(`${httpUrl}/api/users/auditor`, {
    method: 'PUT',
    headers: admin,
    body: JSON.stringify({ password: 'pw', tags: 'monitoring' }),
  });
  expect([201, 204]).toContain(put.status);
  // On each queue a consumer that acks every other message it gets.
  const cons = await amqp.connect(url);
  cons.on('error', () => {});
  for (const queue of QUEUES) {
    const cch = await cons.createChannel();
    await cch.prefetch(50);
    await cch.consume(queue, (m) => {
      if (!m) return;
      const id = Number(m.content.toString());
      ledger.delivered[queue].add(id);
      if (id % 2 === 0) {
        ledger.acked[queue].add(id); // the ack may or may not reach the store before the kill
        cch.ack(m);
      }
    });
  }
  const publishers = await Promise.all(
    Array.from({ length: 3 }, async () => {
      const c = await amqp.connect(url);
      c.on('error', () => {});
      const pch = await c.createConfirmChannel();
      pch.on('error', () => {});
      return pch;
    }),
  );
  let killed = false;
  // Publishes in flight when the broker dies never get a confirm: release their waiters.
  const waiting = new Set<() => void>();
  const killAfter = 30 + Math.floor(r() * 250);
  setTimeout(() => {
    killed = true;
    kill();
    for (const w of waiting) w();
  }, killAfter);
  await Promise.all(
    publishers.map(async (pch) => {
      while (!killed) {
        const id = nextId.n++;
        await new Promise<void>((resolve) => {
          waiting.add(resolve);
          pch.publish(
            'events',
            `order.${id}`,
            Buffer.from(String(id)),
            { persistent: true, priority: id % 6 },
            (err) => {
              // A confirm that arrived is a promise kept, however close to the kill it came.
              if (!err) ledger.confirmed.add(id);
              waiting.delete(resolve);
              resolve();
            },
          );
        });
      }
    }),
  );
}

/** The crash suite for one backend; each backend's runs in its own file, so they run in parallel. */
export function crashSuite(backend: CrashBackend): void {
  describe(`crash recovery: ${backend.name}`, () => {
    let fx: Awaited<ReturnType<CrashBackend['fresh']>> | undefined;
    afterAll(async () => {
      await fx?.cleanup();
    });

    it(`loses no confirmed message over ${KILLS} SIGKILLs at random moments`, async () => {
      fx = await backend.fresh();
      let ledger = freshLedger();
      const nextId = { n: 1 };
      const r = seededRandom(backend.seed);
      let recovered = 0;
      for (let life = 0; life < KILLS; life++) {
        const b = await startBrokerProcess(fx.args);
        if (life > 0) {
          recovered += await verify(b.amqpUrl, ledger, nextId.n);
          ledger = freshLedger();
          // Users survive too.
          const who = await fetch(`${b.httpUrl}/api/whoami`, {
            headers: { authorization: `Basic ${Buffer.from('auditor:pw').toString('base64')}` },
          });
          expect(who.status).toBe(200);
        }
        await oneLife(b.amqpUrl, b.httpUrl, ledger, nextId, r, () => b.child.kill('SIGKILL'));
        await b.exited;
      }
      const last = await startBrokerProcess(fx.args);
      recovered += await verify(last.amqpUrl, ledger, nextId.n);
      last.child.kill('SIGTERM');
      expect(await last.exited).toBe(0);
      // The kills hit real traffic: many messages were confirmed and recovered.
      expect(recovered).toBeGreaterThan(KILLS * 10);
    }, 240_000);
  });
}
