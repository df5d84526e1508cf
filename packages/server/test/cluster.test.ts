/**
 * Cluster mode end to end: three `junction start --cluster-node-name ...` processes on one
 * Redis replication group (startRedisGroup). The third reaches the primary through a TCP
 * proxy, so the test can cut it off from Redis while its clients stay connected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startJunctionNodes,
  startRedisGroup,
  startTcpProxy,
  until,
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

  it('kill -9 of a node: the others show it down within its lease; a restart joins as a new incarnation', async () => {
    const dead = cluster.nodes[1]!;
    await cluster.kill(1);
    const killedAt = Date.now();
    await until(
      async () => (await nodesSeenBy(0)).find((r) => r.name === dead.id)?.state === 'down',
      'node 1 to see node 2 down',
      15_000,
    );
    const downAfterMs = Date.now() - killedAt;
    console.log(`[cluster] a killed node was shown down ${downAfterMs} ms after kill -9 (lease 5000 ms)`);
    const again = await cluster.restart(1);
    expect(again.id).not.toBe(dead.id);
    expect(again.name).toBe(dead.name);
    await until(
      async () => (await nodesSeenBy(0)).find((r) => r.name === again.id)?.state === 'running',
      'node 1 to see the new incarnation of node 2',
      15_000,
    );
  }, 90_000);
});
