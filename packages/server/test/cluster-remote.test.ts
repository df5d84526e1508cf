/**
 * Serving a queue through a node that does not own it: publishes with confirms on one
 * non-owner node and a consumer on another both go over the node link to the owner; after
 * kill -9 of the owner a surviving node takes the queue and the consumer gets the rest.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startJunctionNodes,
  startRedis,
  until,
  type JunctionNodes,
  type RedisServer,
} from '@junction/testkit';

let redis: RedisServer;
let cluster: JunctionNodes;

beforeAll(async () => {
  redis = await startRedis();
  cluster = await startJunctionNodes({ count: 3, storage: redis.url });
}, 120_000);
afterAll(async () => {
  await cluster?.cleanup();
  await redis?.cleanup();
}, 30_000);

const N = 200;

describe('cluster: a queue served through non-owner nodes', () => {
  it('publishes confirmed and consumed on two non-owner nodes; after kill -9 of the owner the consumer gets the rest', async () => {
    const first = cluster.nodes[0]!;
    const setup = await amqp.connect(first.amqpUrl);
    await (await setup.createChannel()).assertQueue('remote-q', { durable: true });
    await setup.close();
    const ownerId = await until(
      async () => {
        const r = (await first.api('/api/queues/%2F/remote-q')).body as { node?: string };
        return typeof r.node === 'string' && r.node !== '' && r.node;
      },
      'an owner for remote-q',
      20_000,
    );
    const ownerIx = cluster.nodes.findIndex((n) => n.id === ownerId);
    const [pubNode, subNode] = cluster.nodes.filter((_, i) => i !== ownerIx) as [
      (typeof cluster.nodes)[number],
      (typeof cluster.nodes)[number],
    ];

    const got = new Set<string>();
    const sc = await amqp.connect(subNode.amqpUrl);
    const sch = await sc.createChannel();
    await sch.prefetch(50);
    await sch.consume('remote-q', (m) => {
      if (!m) return;
      got.add(m.content.toString());
      sch.ack(m);
    });

    const pc = await amqp.connect(pubNode.amqpUrl);
    const pch = await pc.createConfirmChannel();
    const publish = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) pch.sendToQueue('remote-q', Buffer.from(`m${i}`), { persistent: true });
      await pch.waitForConfirms();
    };
    const t0 = performance.now();
    await publish(0, N);
    console.log(
      `[cluster-remote] ${N} confirmed through a non-owner node in ${Math.round(performance.now() - t0)} ms`,
    );
    await until(async () => got.size === N, `the ${N} messages at the consumer on a non-owner node`, 20_000);

    // kill -9 of the owner: a survivor takes the queue (publisher or consumer node), the
    // consumer re-attaches, the publisher's publishes are held meanwhile, not nacked.
    await cluster.kill(ownerIx);
    const killedAt = Date.now();
    await publish(N, 2 * N);
    console.log(
      `[cluster-remote] ${N} more confirmed ${Date.now() - killedAt} ms after kill -9 of the owner`,
    );
    await until(async () => got.size === 2 * N, `all ${2 * N} messages after the takeover`, 30_000);
    for (let i = 0; i < 2 * N; i++) expect(got.has(`m${i}`)).toBe(true);
    await pc.close();
    await sc.close();
  }, 120_000);
});
