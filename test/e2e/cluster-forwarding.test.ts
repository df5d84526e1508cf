/**
 * Forwarding and proxy consumers (core/src/cluster): two brokers in one process, each with its
 * own vhost and memory store and an AMQP listener, connected by the in-process node channel.
 * A queue declared on A is put in B's vhost as a RemoteQueue owned by A; amqplib publishes and
 * consumes on B (and on A) as it would on a local queue.
 */
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '@junction/core';
import { NodePeer, RemoteQueue, inProcessChannels, type ChannelPair } from '@junction/core/internal';
import { closeAll, startAmqpServer, testLog, until, type TestServer } from '@junction/testkit';

/** Durable, so persistent messages are written; writes wait while the gate is shut. */
class GatedStore extends MemoryStore {
  override readonly capabilities = { durable: true };
  shut = false;
  waiting = 0;
  private readonly opened: (() => void)[] = [];

  override async enqueue(records: Parameters<MemoryStore['enqueue']>[0]): Promise<void> {
    if (this.shut) {
      this.waiting++;
      await new Promise<void>((r) => this.opened.push(r));
      this.waiting--;
    }
    return super.enqueue(records);
  }

  release(): void {
    this.shut = false;
    for (const r of this.opened.splice(0)) r();
  }
}

interface Nodes {
  a: TestServer;
  b: TestServer;
  storeA: GatedStore;
  pair: ChannelPair;
  /** B's peer for A (over the current channel). */
  onB: NodePeer;
  remote(name: string, limits?: ConstructorParameters<typeof RemoteQueue>[0]['limits']): RemoteQueue;
  /** A new channel between the nodes (after a cut); returns B's peer for A. */
  relink(): NodePeer;
}

const opened: { close(): Promise<void> }[] = [];
const connections: amqp.ChannelModel[] = [];

afterEach(async () => {
  await closeAll(connections.splice(0).map((c) => () => c.close()));
  for (const s of opened.splice(0)) await s.close();
});

async function twoNodes(): Promise<Nodes> {
  const storeA = new GatedStore();
  const a = await startAmqpServer({}, { store: storeA, logger: testLog() });
  opened.push(a);
  const b = await startAmqpServer({}, { logger: testLog() });
  opened.push(b);
  const log = testLog();
  const link = (): { pair: ChannelPair; onB: NodePeer } => {
    const pair = inProcessChannels('A', 'B');
    new NodePeer(pair.a, { vhost: (n) => a.broker.vhosts.get(n), log });
    const onB = new NodePeer(pair.b, { vhost: (n) => b.broker.vhosts.get(n), log });
    return { pair, onB };
  };
  const nodes: Nodes = {
    a,
    b,
    storeA,
    ...link(),
    remote(name, limits) {
      const q = a.broker.vhost('/').queues.get(name)!;
      const rq = new RemoteQueue({ vhost: '/', name, options: q.options, type: q.type, log, limits });
      b.broker.vhost('/').replaceQueue(rq);
      rq.setOwner(nodes.onB);
      return rq;
    },
    relink() {
      const l = link();
      nodes.pair = l.pair;
      nodes.onB = l.onB;
      return l.onB;
    },
  };
  return nodes;
}

async function connect(server: TestServer): Promise<amqp.ChannelModel> {
  const c = await amqp.connect(server.amqpUrl);
  connections.push(c);
  return c;
}

/** Publishes with a confirm; resolves true (ack) or false (nack). */
function publishConfirmed(
  ch: amqp.ConfirmChannel,
  queue: string,
  body: string,
  opts: amqp.Options.Publish = {},
) {
  return new Promise<boolean>((resolve) => {
    ch.publish('', queue, Buffer.from(body), { persistent: true, ...opts }, (err) => resolve(!err));
  });
}

describe('forwarded publishes', () => {
  it('confirms a publish on B only once the owner A committed it', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('orders', { durable: true });
    n.remote('orders');
    const chB = await (await connect(n.b)).createConfirmChannel();
    n.storeA.shut = true;
    let confirmed: boolean | undefined;
    const done = publishConfirmed(chB, 'orders', 'o-1').then((ok) => (confirmed = ok));
    await until(() => n.storeA.waiting > 0, "A's store write of the forwarded publish");
    // The write is held on A: B's publisher has no confirm yet.
    await new Promise((r) => setTimeout(r, 100));
    expect(confirmed).toBeUndefined();
    n.storeA.release();
    expect(await done).toBe(true);
    const got = await chA.get('orders', { noAck: true });
    expect(got && got.content.toString()).toBe('o-1');
  });

  it('applies TTL and dead-lettering of the owner to messages published on B', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('dead', { durable: true });
    await chA.assertQueue('short', {
      durable: true,
      arguments: { 'x-message-ttl': 50, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dead' },
    });
    n.remote('short');
    const chB = await (await connect(n.b)).createConfirmChannel();
    expect(await publishConfirmed(chB, 'short', 'expires')).toBe(true);
    const got = await until(() => chA.get('dead', { noAck: true }), 'the dead-lettered message on A');
    expect(got.content.toString()).toBe('expires');
    const death = (got.properties.headers?.['x-death'] as { reason: string; queue: string }[])[0]!;
    expect([death.reason, death.queue]).toEqual(['expired', 'short']);
  });

  it('nacks a publish a reject-publish limit on the owner refuses', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('small', { arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    n.remote('small');
    const chB = await (await connect(n.b)).createConfirmChannel();
    expect(await publishConfirmed(chB, 'small', 'first')).toBe(true);
    expect(await publishConfirmed(chB, 'small', 'second')).toBe(false);
  });
});

describe('proxy consumers', () => {
  it('delivers to consumers on both nodes, each message once', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('work');
    n.remote('work');
    const chB = await (await connect(n.b)).createConfirmChannel();
    const seen: string[] = [];
    const onB: string[] = [];
    await chA.consume('work', (m) => m && seen.push(m.content.toString()), { noAck: true });
    const consumerB = await (await connect(n.b)).createChannel();
    await consumerB.prefetch(5);
    await consumerB.consume('work', (m) => {
      if (!m) return;
      seen.push(m.content.toString());
      onB.push(m.content.toString());
      consumerB.ack(m);
    });
    const all = Array.from({ length: 40 }, (_, i) => `m${i}`);
    await Promise.all(all.map((b) => publishConfirmed(chB, 'work', b)));
    await until(() => seen.length === 40, 'all 40 deliveries');
    expect([...seen].sort()).toEqual([...all].sort());
    expect(onB.length).toBeGreaterThan(0);
  });

  it('delivers a priority queue in priority order to a consumer on B', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('prio', { arguments: { 'x-max-priority': 9 } });
    n.remote('prio');
    const chB = await (await connect(n.b)).createConfirmChannel();
    for (const [body, priority] of [
      ['low', 1],
      ['high', 9],
      ['mid', 5],
    ] as const)
      expect(await publishConfirmed(chB, 'prio', body, { priority })).toBe(true);
    const c = await (await connect(n.b)).createChannel();
    await c.prefetch(1);
    const got: string[] = [];
    await c.consume('prio', (m) => {
      if (!m) return;
      got.push(m.content.toString());
      c.ack(m);
    });
    await until(() => got.length === 3, 'three deliveries');
    expect(got).toEqual(['high', 'mid', 'low']);
  });

  it('keeps consumer priorities and single active consumer across nodes', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('sac', { arguments: { 'x-single-active-consumer': true } });
    await chA.assertQueue('cprio');
    n.remote('sac');
    n.remote('cprio');
    const chB = await (await connect(n.b)).createConfirmChannel();
    const consumerB = await (await connect(n.b)).createChannel();
    const byNode = { a: [] as string[], b: [] as string[] };
    const tagB = await consumerB.consume('sac', (m) => m && byNode.b.push(m.content.toString()), {
      noAck: true,
    });
    await until(async () => (await chA.checkQueue('sac')).consumerCount === 1, "B's proxy consumer on A");
    await chA.consume('sac', (m) => m && byNode.a.push(m.content.toString()), { noAck: true });
    for (let i = 0; i < 10; i++) expect(await publishConfirmed(chB, 'sac', `s${i}`)).toBe(true);
    await until(() => byNode.b.length === 10, "10 deliveries to B's active consumer");
    expect(byNode.a).toEqual([]);
    await consumerB.cancel(tagB.consumerTag);
    expect(await publishConfirmed(chB, 'sac', 'after')).toBe(true);
    await until(() => byNode.a.length === 1, "A's consumer, active after B's cancel");

    // Consumer priorities: B's consumer (x-priority 10) is served before A's (0) while it has credit.
    const high: string[] = [];
    const low: string[] = [];
    await chA.consume('cprio', (m) => m && low.push(m.content.toString()), { noAck: true });
    await consumerB.consume('cprio', (m) => m && high.push(m.content.toString()), {
      noAck: true,
      arguments: { 'x-priority': 10 },
    });
    await until(async () => (await chA.checkQueue('cprio')).consumerCount === 2, 'both consumers on A');
    for (let i = 0; i < 10; i++) expect(await publishConfirmed(chB, 'cprio', `p${i}`)).toBe(true);
    await until(() => high.length === 10, "10 deliveries to B's high-priority consumer");
    expect(low).toEqual([]);
  });

  it('never gives a consumer on B with prefetch 10 more than 10 unacked', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createConfirmChannel();
    await chA.assertQueue('credit');
    const rq = n.remote('credit');
    for (let i = 0; i < 100; i++) chA.sendToQueue('credit', Buffer.from(`c${i}`));
    await chA.waitForConfirms();
    const c = await (await connect(n.b)).createChannel();
    await c.prefetch(10);
    const held: amqp.ConsumeMessage[] = [];
    let most = 0;
    let total = 0;
    await c.consume('credit', (m) => {
      if (!m) return;
      held.push(m);
      total++;
      most = Math.max(most, held.length);
    });
    await until(() => held.length === 10, 'the first 10 deliveries');
    await new Promise((r) => setTimeout(r, 200));
    expect(held.length).toBe(10);
    await until(() => rq.stats().unacked === 10, "A's count of B's unacked");
    // Ack one at a time, from the event loop: each ack lets exactly one more through.
    while (total < 100) {
      const m = held.shift();
      if (m) c.ack(m);
      await new Promise((r) => setTimeout(r, 1));
      expect(held.length).toBeLessThanOrEqual(10);
    }
    expect(most).toBe(10);
  });
});

describe('the channel to the owner goes down', () => {
  it("requeues B's unacked on A (redelivered), holds B's publishes and sends them when it returns", async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createConfirmChannel();
    await chA.assertQueue('jobs', { durable: true });
    const rq = n.remote('jobs');
    for (let i = 0; i < 5; i++) chA.sendToQueue('jobs', Buffer.from(`j${i}`), { persistent: true });
    await chA.waitForConfirms();
    const c = await (await connect(n.b)).createChannel();
    const onB: amqp.ConsumeMessage[] = [];
    await c.consume('jobs', (m) => m && onB.push(m));
    await until(() => onB.length === 5, 'five deliveries on B');

    n.pair.cut('test cut');
    const qA = n.a.broker.vhost('/').queues.get('jobs')!;
    await until(() => qA.messageCount === 5, "B's unacked requeued on A");
    const again = await chA.get('jobs', { noAck: true });
    expect(again && again.fields.redelivered).toBe(true);

    const chB = await (await connect(n.b)).createConfirmChannel();
    const outcomes: boolean[] = [];
    const sent = ['h0', 'h1', 'h2'].map((b) =>
      publishConfirmed(chB, 'jobs', b).then((ok) => outcomes.push(ok)),
    );
    await until(() => rq.heldCount === 3, 'three held publishes');
    await new Promise((r) => setTimeout(r, 100));
    expect(outcomes).toEqual([]);
    // B's acks of what A requeued go nowhere (A redelivers them).
    for (const m of onB) c.ack(m);

    rq.setOwner(n.relink());
    await Promise.all(sent);
    expect(outcomes).toEqual([true, true, true]);
    // The consumer on B is attached to A again (no cancel) and gets the rest, in order.
    await until(() => onB.length === 5 + 4 + 3, 'the requeued and the held ones on B again');
    expect(onB.slice(5).map((m) => m.content.toString())).toEqual(['j1', 'j2', 'j3', 'j4', 'h0', 'h1', 'h2']);
    expect(onB.slice(5, 9).every((m) => m.fields.redelivered)).toBe(true);
  });

  it('nacks held publishes with a reason once the bound passes without an owner', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('lonely', { durable: true });
    const rq = n.remote('lonely', { holdMs: 300 });
    n.pair.cut('test cut');
    const chB = await (await connect(n.b)).createConfirmChannel();
    const started = Date.now();
    expect(await publishConfirmed(chB, 'lonely', 'never')).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(rq.heldCount).toBe(0);
    expect((await chA.checkQueue('lonely')).messageCount).toBe(0);
  });
});
