/**
 * Forwarding and proxy consumers (core/src/cluster): two brokers in one process, each with its
 * own vhost and memory store and an AMQP listener, connected by the in-process node channel.
 * A queue declared on A is put in B's vhost as a RemoteQueue owned by A; amqplib publishes and
 * consumes on B (and on A) as it would on a local queue. The last test runs over the
 * authenticated node link (@junction/cluster) on loopback instead.
 */
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkChannels, NodeLink } from '@junction/cluster';
import { MemoryStore } from '@junction/core';
import {
  NodePeer,
  RemoteQueue,
  decodeReply,
  encodeFrame,
  inProcessChannels,
  type ChannelPair,
  type NodePeerOptions,
} from '@junction/core/internal';
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

/** Two brokers with AMQP listeners, closed after the test; A's store is `storeA`. */
async function twoBrokers(storeA: MemoryStore): Promise<{ a: TestServer; b: TestServer }> {
  const a = await startAmqpServer({}, { store: storeA, logger: testLog() });
  opened.push(a);
  const b = await startAmqpServer({}, { logger: testLog() });
  opened.push(b);
  return { a, b };
}

async function twoNodes(limits: NodePeerOptions['limits'] = {}): Promise<Nodes> {
  const storeA = new GatedStore();
  const { a, b } = await twoBrokers(storeA);
  const log = testLog();
  const link = (): { pair: ChannelPair; onB: NodePeer } => {
    const pair = inProcessChannels('A', 'B');
    new NodePeer(pair.a, { vhost: (n) => a.broker.vhosts.get(n), log, limits });
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

describe('ownership moves and bounds', () => {
  it('publishes what B held into its own queue when B becomes the owner, and moves its consumers there', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('moving', { durable: true });
    const rq = n.remote('moving');
    const c = await (await connect(n.b)).createChannel();
    const got: string[] = [];
    await c.consume('moving', (m) => m && got.push(m.content.toString()), { noAck: true });
    n.pair.cut('owner lost');
    const chB = await (await connect(n.b)).createConfirmChannel();
    const sent = Promise.all(['t0', 't1'].map((b) => publishConfirmed(chB, 'moving', b)));
    await until(() => rq.heldCount === 2, 'two held publishes');
    // B takes the queue over (as after a lease takeover): a local queue in the remote one's place.
    const vb = n.b.broker.vhost('/');
    const local = vb.buildQueue('moving', rq.options, false);
    await local.open();
    vb.replaceQueue(local);
    expect(await sent).toEqual([true, true]);
    await until(() => got.length === 2, "the held publishes at B's consumer, now local");
    expect(got).toEqual(['t0', 't1']);
  });

  it("refuses a publish past maxPending at once, and a consumer past the owner's maxProxyConsumers", async () => {
    const n = await twoNodes({ maxProxyConsumers: 1 });
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('bounded', { durable: true });
    const rq = n.remote('bounded', { maxPending: 2 });
    const c = await (await connect(n.b)).createChannel();
    await c.consume('bounded', () => undefined);
    await until(async () => (await chA.checkQueue('bounded')).consumerCount === 1, 'the first proxy on A');
    let cancelled = false;
    await c.consume('bounded', (m) => {
      if (m === null) cancelled = true;
    });
    await until(() => cancelled, 'basic.cancel for the consumer over the limit');

    n.pair.cut('owner lost');
    const chB = await (await connect(n.b)).createConfirmChannel();
    const held = [publishConfirmed(chB, 'bounded', 'p0'), publishConfirmed(chB, 'bounded', 'p1')];
    await until(() => rq.heldCount === 2, 'two held publishes');
    // On a channel of its own: confirms of one channel go out in publish order.
    const other = await (await connect(n.b)).createConfirmChannel();
    expect(await publishConfirmed(other, 'bounded', 'p2')).toBe(false);
    rq.setOwner(n.relink());
    expect(await Promise.all(held)).toEqual([true, true]);
  });

  it('cancels a consumer on B (basic.cancel) when the queue is deleted on its owner', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('doomed');
    n.remote('doomed');
    const c = await (await connect(n.b)).createChannel();
    let cancelled = false;
    await c.consume('doomed', (m) => {
      if (m === null) cancelled = true;
    });
    await until(async () => (await chA.checkQueue('doomed')).consumerCount === 1, "B's proxy on A");
    await chA.deleteQueue('doomed');
    await until(() => cancelled, 'basic.cancel on B');
  });
});

describe('bad input from a node', () => {
  it('answers a malformed request with an error and drops a malformed message, and keeps serving', async () => {
    const n = await twoNodes();
    const chA = await (await connect(n.a)).createChannel();
    await chA.assertQueue('sturdy');
    const rq = n.remote('sturdy');
    // B's raw end of the channel, bypassing its NodePeer: bytes that are no frame, and frames
    // of no known kind or with fields of the wrong type.
    const raw = n.pair.b;
    const refused = async (bytes: Buffer) => decodeReply(await raw.request(bytes)).ok === false;
    expect(await refused(Buffer.from([0xc1, 0xff, 0x00]))).toBe(true);
    expect(await refused(encodeFrame({ t: 'nonsense' } as never))).toBe(true);
    expect(await refused(encodeFrame({ t: 'enq', v: '/', q: 'sturdy', ps: 'many' } as never))).toBe(true);
    expect(await refused(encodeFrame({ t: 'sub', v: '/', q: 'sturdy', id: 'x' } as never))).toBe(true);
    const bodyless = decodeReply(
      await raw.request(
        encodeFrame({ t: 'enq', v: '/', q: 'sturdy', ps: [{ m: { b: 42 }, ttl: null }] } as never),
      ),
    );
    expect(bodyless.ok && 'each' in bodyless && bodyless.each.map((e) => e.ok)).toEqual([false]);
    raw.send(Buffer.from('not msgpack at all'));
    raw.send(encodeFrame({ t: 'stl', id: 99, o: 'ack', d: 'x' } as never));
    const chB = await (await connect(n.b)).createConfirmChannel();
    expect(await publishConfirmed(chB, 'sturdy', 'still fine')).toBe(true);
    expect(rq.ownerNode).toBe('A');
    expect((await chA.checkQueue('sturdy')).messageCount).toBe(1);
  });
});

describe('over the node link', () => {
  it('forwards confirmed publishes and serves a consumer on B through a TCP node link, and requeues on link loss', async () => {
    const { a, b } = await twoBrokers(new MemoryStore());
    const log = testLog();
    const secret = 'forwarding test secret, 32 bytes';
    const linkA = new NodeLink({ nodeId: 'a', secret, log });
    const linkB = new NodeLink({ nodeId: 'b', secret, log });
    opened.push({ close: () => linkA.close() }, { close: () => linkB.close() });
    const portA = (await linkA.listen('127.0.0.1', 0)).port;
    const portB = (await linkB.listen('127.0.0.1', 0)).port;
    new LinkChannels(linkA).onChannel(
      (ch) => new NodePeer(ch, { vhost: (v) => a.broker.vhosts.get(v), log }),
    );
    const peersOnB = new Map<string, NodePeer>();
    new LinkChannels(linkB).onChannel((ch) =>
      peersOnB.set(ch.peer, new NodePeer(ch, { vhost: (v) => b.broker.vhosts.get(v), log })),
    );
    linkA.connect('b', '127.0.0.1', portB);
    linkB.connect('a', '127.0.0.1', portA);
    const peerA = await until(() => peersOnB.get('a')?.open && peersOnB.get('a'), "B's channel to A");

    const chA = await (await connect(a)).createChannel();
    await chA.assertQueue('linked', { durable: true, arguments: { 'x-max-priority': 5 } });
    const q = a.broker.vhost('/').queues.get('linked')!;
    const rq = new RemoteQueue({ vhost: '/', name: 'linked', options: q.options, type: q.type, log });
    b.broker.vhost('/').replaceQueue(rq);
    rq.setOwner(peerA);

    const chB = await (await connect(b)).createConfirmChannel();
    const bodies = Array.from({ length: 50 }, (_, i) => `l${i}`);
    expect(await Promise.all(bodies.map((x) => publishConfirmed(chB, 'linked', x)))).toEqual(
      bodies.map(() => true),
    );
    expect((await chA.checkQueue('linked')).messageCount).toBe(50);
    const c = await (await connect(b)).createChannel();
    await c.prefetch(10);
    const got: amqp.ConsumeMessage[] = [];
    await c.consume('linked', (m) => m && got.push(m));
    await until(() => got.length === 10, 'ten deliveries on B over the link');
    expect(got.map((m) => m.content.toString())).toEqual(bodies.slice(0, 10));

    // The link goes (A's node link closes): A requeues B's ten, flagged redelivered.
    await linkA.close();
    await until(() => q.messageCount === 50, "B's unacked requeued on A");
    const first = await chA.get('linked', { noAck: true });
    expect(first && [first.content.toString(), first.fields.redelivered]).toEqual(['l0', true]);
  });
});
