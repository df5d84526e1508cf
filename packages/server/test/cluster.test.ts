/**
 * Cluster mode end to end: three `junction start --cluster-node-name ...` processes on one
 * Redis replication group (startRedisGroup). The third reaches the primary through a TCP
 * proxy, so the test can cut it off from Redis while its clients stay connected.
 */
import amqp, { type Channel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startJunctionNodes,
  startRedisGroup,
  startTcpProxy,
  until,
  type JunctionNode,
  type JunctionNodes,
  type RedisGroup,
  type TcpProxy,
} from '@junction/testkit';

let group: RedisGroup;
let proxy: TcpProxy;
let cluster: JunctionNodes;

beforeAll(async () => {
  group = await startRedisGroup();
  proxy = await startTcpProxy(await group.primaryPort());
  cluster = await startJunctionNodes({
    count: 3,
    storage: (i) => (i === 2 ? `redis://127.0.0.1:${proxy.port}` : group.url),
  });
}, 120_000);
afterAll(async () => {
  await cluster?.cleanup();
  await proxy?.close();
  await group?.cleanup();
}, 30_000);

interface NodeRow {
  name: string;
  node_name: string;
  state: string;
  running: boolean;
  link_address: string;
  self: boolean;
}

/** Whether a passive check (checkQueue, checkExchange) succeeds on a node, on a channel of its own. */
async function passive(n: JunctionNode, check: (ch: Channel) => Promise<unknown>): Promise<boolean> {
  const conn = await amqp.connect(n.amqpUrl);
  conn.on('error', () => undefined); // a failed check closes the channel, which is the answer
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await check(ch);
    return true;
  } catch {
    return false;
  } finally {
    await conn.close();
  }
}

const nodesSeenBy = async (i: number): Promise<NodeRow[]> =>
  (await cluster.nodes[i]!.api('/api/nodes')).body as NodeRow[];

describe('cluster mode', () => {
  it('every node joins the registry and /api/nodes on each lists all three, running, with link addresses', async () => {
    const ids = cluster.nodes.map((n) => n.id).sort();
    expect(new Set(ids).size).toBe(3);
    for (const n of cluster.nodes) expect(n.id).toMatch(new RegExp(`^${n.name}-[0-9a-f]{8}$`));
    for (let i = 0; i < 3; i++) {
      const rows = await until(
        async () => {
          const r = await nodesSeenBy(i);
          return r.filter((n) => n.state === 'running').length === 3 && r;
        },
        `node ${i + 1} to see three running nodes`,
        15_000,
      );
      expect(rows.map((r) => r.name)).toEqual(ids);
      expect(rows.filter((r) => r.self).map((r) => r.name)).toEqual([cluster.nodes[i]!.id]);
      for (const r of rows) {
        const n = cluster.nodes.find((x) => x.id === r.name)!;
        expect(r).toMatchObject({
          node_name: n.name,
          running: true,
          link_address: `127.0.0.1:${n.linkPort}`,
        });
      }
      expect((await cluster.nodes[i]!.api('/readyz')).status).toBe(200);
      expect((await cluster.nodes[i]!.api('/livez')).status).toBe(200);
    }
  }, 60_000);

  it('definitions made on one node are seen on every node: declare, bind, policy, user, delete', async () => {
    const [a, b, c] = cluster.nodes as [JunctionNode, JunctionNode, JunctionNode];
    const conn = await amqp.connect(a.amqpUrl);
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange('orders.x', 'topic', { durable: true });
      await ch.assertQueue('orders.eu', { durable: true });
      await ch.bindQueue('orders.eu', 'orders.x', 'eu.#');
      for (const n of [b, c]) {
        await until(
          async () => (await n.api('/api/queues/%2F/orders.eu')).status === 200,
          `orders.eu on ${n.name}`,
          10_000,
        );
        await until(
          async () =>
            ((await n.api('/api/bindings/%2F/e/orders.x/q/orders.eu')).body as { routing_key: string }[])?.[0]
              ?.routing_key === 'eu.#',
          `the binding on ${n.name}`,
          10_000,
        );
        expect(await passive(n, (ch) => ch.checkQueue('orders.eu'))).toBe(true);
        expect(await passive(n, (ch) => ch.checkExchange('orders.x'))).toBe(true);
      }
      // Management on another node, seen on a third: a policy and a user who can then log in there.
      expect(
        (
          await b.api('/api/policies/%2F/eu-ttl', 'PUT', {
            pattern: '^orders\\.',
            definition: { 'message-ttl': 60000 },
            'apply-to': 'queues',
          })
        ).status,
      ).toBeLessThan(300);
      expect(
        (await b.api('/api/users/ops', 'PUT', { password: 'ops-secret', tags: 'management' })).status,
      ).toBeLessThan(300);
      expect(
        (await b.api('/api/permissions/%2F/ops', 'PUT', { configure: '.*', write: '.*', read: '.*' })).status,
      ).toBeLessThan(300);
      await until(
        async () => (await c.api('/api/policies/%2F/eu-ttl')).status === 200,
        'the policy on node 3',
        10_000,
      );
      await until(
        async () => {
          try {
            await (await amqp.connect(`amqp://ops:ops-secret@127.0.0.1:${a.ports.amqp}`)).close();
            return true;
          } catch {
            return false;
          }
        },
        'user ops logging in on node 1',
        10_000,
      );
      await ch.deleteQueue('orders.eu');
      for (const n of [b, c])
        await until(
          async () => !(await passive(n, (ch) => ch.checkQueue('orders.eu'))),
          `orders.eu gone on ${n.name}`,
          10_000,
        );
    } finally {
      await conn.close();
    }
  }, 60_000);

  it('durable queues are spread by placement, each loaded by its owner; kill -9 of an owner: another takes its queues with their messages', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `spread-${i}`);
    const a = cluster.nodes[0]!;
    const conn = await amqp.connect(a.amqpUrl);
    const ch = await conn.createChannel();
    for (const q of names) await ch.assertQueue(q, { durable: true });
    await conn.close();
    const owners = await until(
      async () => {
        const rows = (await a.api('/api/queues/%2F')).body as { name: string; node: string }[];
        const mine = rows.filter((r) => names.includes(r.name));
        return (
          mine.length === names.length &&
          mine.every((r) => r.node !== '') &&
          new Map(mine.map((r) => [r.name, r.node]))
        );
      },
      'an owner for every queue',
      20_000,
    );
    const perNode = new Map<string, number>();
    for (const o of owners.values()) perNode.set(o, (perNode.get(o) ?? 0) + 1);
    console.log(
      `[cluster] 6 queues declared on node 1 are owned ${JSON.stringify(Object.fromEntries(perNode))}`,
    );
    expect(perNode.size).toBe(3);
    // The owner holds the queue; the others a stand-in (no messages of their own).
    const victimId = owners.get('spread-1')!;
    const victim = cluster.nodes.findIndex((n) => n.id === victimId);
    const owner = cluster.nodes[victim]!;
    const pc = await amqp.connect(owner.amqpUrl);
    const pch = await pc.createConfirmChannel();
    for (let i = 0; i < 100; i++) pch.sendToQueue('spread-1', Buffer.from(`m${i}`), { persistent: true });
    await pch.waitForConfirms();
    await pc.close();
    const survivor = cluster.nodes[(victim + 1) % 3]!;
    await cluster.kill(victim);
    const killedAt = Date.now();
    const newOwner = await until(
      async () => {
        const r = (await survivor.api('/api/queues/%2F/spread-1')).body as { node: string };
        return r.node !== '' && r.node !== victimId && r.node;
      },
      'another owner of spread-1',
      20_000,
    );
    console.log(
      `[cluster] spread-1 owned again ${Date.now() - killedAt} ms after kill -9 of its owner (lease 5000 ms)`,
    );
    const served = cluster.nodes.find((n) => n.id === newOwner)!;
    const cc = await amqp.connect(served.amqpUrl);
    const cch = await cc.createChannel();
    const got: string[] = [];
    await until(
      async () => {
        const m = await cch.get('spread-1', { noAck: true });
        if (m) got.push(m.content.toString());
        return got.length === 100;
      },
      'the 100 confirmed messages from the new owner',
      20_000,
    );
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    await cc.close();
    // The killed node shows down; started again it is a new incarnation and joins.
    await until(
      async () =>
        (await nodesSeenBy(cluster.nodes.indexOf(survivor))).find((r) => r.name === victimId)?.state ===
        'down',
      'the killed node shown down',
      15_000,
    );
    const again = await cluster.restart(victim);
    expect(again.id).not.toBe(victimId);
    await until(
      async () =>
        (await nodesSeenBy(cluster.nodes.indexOf(survivor))).find((r) => r.name === again.id)?.state ===
        'running',
      'the new incarnation running',
      15_000,
    );
  }, 120_000);

  it('a node cut off from Redis says so: /readyz 503 with the reason, a log line, and back to 200 after the heal', async () => {
    const cut = cluster.nodes[2]!;
    proxy.cut();
    try {
      const res = await until(
        async () => {
          const r = await cut.api('/readyz');
          return r.status === 503 && r;
        },
        'readyz 503 on the cut-off node',
        20_000,
      );
      expect(res.body).toMatchObject({ status: 'unavailable' });
      expect(String((res.body as { reason: string }).reason)).toMatch(/no heartbeat answered by Redis/);
      await cut.process.line('lost contact with Redis: not ready, not confirming', 5000);
      expect((await cut.api('/livez')).status).toBe(200);
      // The others see it leave the live list once its registry lease lapses.
      await until(
        async () => (await nodesSeenBy(0)).find((r) => r.name === cut.id)?.state === 'down',
        'node 1 to see node 3 down',
        20_000,
      );
    } finally {
      proxy.heal();
    }
    await until(async () => (await cut.api('/readyz')).status === 200, 'readyz 200 after the heal', 30_000);
    await cut.process.line('Redis reachable again: ready', 5000);
  }, 90_000);
});
