/**
 * `node packages/bench/dist/forwarding.js [--seconds 5] [--body 1024] [--window 200] [--rounds 3] [--only case]`:
 * confirmed publishes per second into one queue, through the core's session API (no protocol
 * client): `local`, a publisher on the queue's own node; `in-process`, a publisher on node B
 * into a queue owned by node A, forwarded over the in-process node channel (core/src/cluster).
 * Persistent messages, a store that reports itself durable (so the store write and its promise
 * run) but keeps them in memory, a no-ack consumer on the owner so the queue stays short, and
 * `window` publishes awaiting their confirm at once. Rounds alternate between the cases.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Broker, MemoryStore, type Session } from '@junction/core';
import { NodePeer, RemoteQueue, inProcessChannels } from '@junction/core/internal';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    body: { type: 'string', default: '1024' },
    window: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const body = Buffer.alloc(Number(values.body), 'x');
const window = Number(values.window);
const rounds = Number(values.rounds);
const log = pino({ level: 'silent' });

class DurableMemoryStore extends MemoryStore {
  override readonly capabilities = { durable: true };
}

async function session(broker: Broker, id: string): Promise<Session> {
  const info = { id, protocol: 'internal' as const, remoteAddress: '127.0.0.1', remotePort: 1, localPort: 2 };
  const principal = await broker.authenticate({ username: 'guest', password: 'guest' }, info);
  return broker.connect(principal, '/', info, { close: async () => {} }).openSession();
}

/** Publishes for `seconds` with `window` unconfirmed at most; returns confirms per second. */
function run(publisher: Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const end = Date.now() + seconds * 1000;
    let confirmed = 0;
    let outstanding = 0;
    let done = false;
    const msg = { exchange: '', routingKey: 'bench', properties: { deliveryMode: 2 }, body };
    const started = Date.now();
    const pump = (): void => {
      while (!done && outstanding < window) {
        outstanding++;
        publisher.publish(msg, undefined, (o) => {
          outstanding--;
          if (!o.ok) {
            done = true;
            reject(new Error('a publish was nacked'));
            return;
          }
          confirmed++;
          if (Date.now() >= end) {
            if (!done) {
              done = true;
              resolve(confirmed / ((Date.now() - started) / 1000));
            }
            return;
          }
          pump();
        });
      }
    };
    pump();
  });
}

async function main(): Promise<void> {
  const a = await Broker.start({ store: new DurableMemoryStore(), logger: log });
  const b = await Broker.start({ store: new DurableMemoryStore(), logger: log });
  const ownerSession = await session(a, 'owner');
  await ownerSession.declareQueue({ name: 'bench', durable: true });
  await ownerSession.consume('bench', { noAck: true }, { deliver: () => true, cancelled: () => undefined });
  const pair = inProcessChannels('A', 'B');
  new NodePeer(pair.a, { vhost: (n) => a.vhosts.get(n), log });
  const onB = new NodePeer(pair.b, { vhost: (n) => b.vhosts.get(n), log });
  const q = a.vhost('/').queues.get('bench')!;
  const rq = new RemoteQueue({ vhost: '/', name: 'bench', options: q.options, type: q.type, log });
  b.vhost('/').replaceQueue(rq);
  rq.setOwner(onB);
  const cases: [string, Session][] = [
    ['local', await session(a, 'local')],
    ['in-process', await session(b, 'remote')],
  ];
  if (values.only !== undefined) cases.splice(0, cases.length, ...cases.filter(([n]) => n === values.only));
  const results = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, s] of cases) results.get(name)!.push(await run(s));
  }
  process.stdout.write(
    `| case | confirmed msg/s (${body.length} B, window ${window}, median of ${rounds} x ${seconds} s) | rounds |\n|---|---|---|\n`,
  );
  for (const [name, rates] of results) {
    const sorted = [...rates].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    process.stdout.write(`| ${name} | ${Math.round(median)} | ${rates.map(Math.round).join(', ')} |\n`);
  }
  pair.cut('bench done');
  await a.close();
  await b.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
