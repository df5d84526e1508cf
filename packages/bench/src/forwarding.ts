/**
 * `node packages/bench/dist/forwarding.js [--seconds 5] [--body 1024] [--window 200] [--rounds 3] [--only case]`:
 * confirmed publishes per second into one queue, through the core's session API (no protocol
 * client): `local`, a publisher on the queue's own node; `in-process`, a publisher on node B
 * into a queue owned by node A, forwarded over the in-process node channel (core/src/cluster);
 * Persistent messages, a store that reports itself durable (so the store write and its promise
 * run) but keeps them in memory, a no-ack consumer on the owner so the queue stays short, and
 * `window` publishes awaiting their confirm at once; `over-link`, the same through the
 * authenticated TCP node link (@junction/cluster) on loopback. Rounds alternate between the cases.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Broker, MemoryStore, type Session } from '@junction/core';
import { NodePeer, RemoteQueue, inProcessChannels } from '@junction/core/internal';
import { LinkChannels, NodeLink } from '@junction/cluster';

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
const log = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

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

/** A broker whose queue `bench` is a RemoteQueue owned by `owner`. */
async function remoteNode(owner: Broker): Promise<{ node: Broker; rq: RemoteQueue }> {
  const node = await Broker.start({ store: new DurableMemoryStore(), logger: log });
  const q = owner.vhost('/').queues.get('bench')!;
  const rq = new RemoteQueue({ vhost: '/', name: 'bench', options: q.options, type: q.type, log });
  node.vhost('/').replaceQueue(rq);
  return { node, rq };
}

async function main(): Promise<void> {
  const a = await Broker.start({ store: new DurableMemoryStore(), logger: log });
  const ownerSession = await session(a, 'owner');
  await ownerSession.declareQueue({ name: 'bench', durable: true });
  await ownerSession.consume('bench', { noAck: true }, { deliver: () => true, cancelled: () => undefined });
  const vhostOf = (broker: Broker) => (n: string) => broker.vhosts.get(n);

  const pair = inProcessChannels('A', 'B');
  new NodePeer(pair.a, { vhost: vhostOf(a), log });
  const b = await remoteNode(a);
  b.rq.setOwner(new NodePeer(pair.b, { vhost: vhostOf(b.node), log }));

  // Over the link: every channel that comes up (a reconnect after missed heartbeats on a
  // saturated loop, too) becomes the remote queue's owner channel, as the server wires it.
  const secret = 'bench cluster secret, 32 bytes..';
  const linkA = new NodeLink({ nodeId: 'a', secret, log });
  const linkC = new NodeLink({ nodeId: 'c', secret, log });
  const portA = (await linkA.listen('127.0.0.1', 0)).port;
  const portC = (await linkC.listen('127.0.0.1', 0)).port;
  new LinkChannels(linkA).onChannel((ch) => new NodePeer(ch, { vhost: vhostOf(a), log }));
  const c = await remoteNode(a);
  new LinkChannels(linkC).onChannel((ch) => c.rq.setOwner(new NodePeer(ch, { vhost: vhostOf(c.node), log })));
  linkA.connect('c', '127.0.0.1', portC);
  linkC.connect('a', '127.0.0.1', portA);
  const deadline = Date.now() + 10_000;
  while (c.rq.ownerNode === null) {
    if (Date.now() > deadline) throw new Error('the node link did not come up within 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }

  const cases: [string, Session][] = [
    ['local', await session(a, 'local')],
    ['in-process', await session(b.node, 'in-process')],
    ['over-link', await session(c.node, 'over-link')],
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
  await linkA.close();
  await linkC.close();
  for (const broker of [a, b.node, c.node]) await broker.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
