/** Overview, nodes, whoami and the health checks. */
import { availableParallelism, hostname } from 'node:os';
import { createMessage } from '@junction/core';
import { PRODUCT_VERSION, RABBIT_VERSION } from '../definitions.js';
import { NODE_NAME } from '../format.js';
import { HttpError, notFound } from '../http.js';
import { isMonitor, json, type Routes } from '../scope.js';

export const overviewRoutes: Routes = (router, api) => {
  router.on('GET', '/api/overview', (c) => {
    const p = api.who(c);
    const vhosts = api.visibleVhosts(p);
    let ready = 0;
    let unacked = 0;
    let queues = 0;
    let exchanges = 0;
    let consumerCount = 0;
    for (const v of vhosts) {
      queues += v.queues.size;
      exchanges += v.exchanges.size;
      for (const q of v.queues.values()) {
        const s = q.stats();
        ready += s.ready;
        unacked += s.unacked;
        consumerCount += s.consumers;
      }
    }
    const conns = api.snapshots().filter(({ snap }) => api.seesConnection(p, snap));
    json(c, {
      management_version: PRODUCT_VERSION,
      rates_mode: 'basic',
      product_name: 'Junction',
      product_version: PRODUCT_VERSION,
      rabbitmq_version: RABBIT_VERSION,
      node: NODE_NAME,
      cluster_name: NODE_NAME,
      exchange_types: api.broker.exchangeTypes
        .names()
        .map((name) => ({ name, description: '', enabled: true })),
      message_stats: isMonitor(p)
        ? api.ctx.stats.global.messageStats()
        : mergeStats(vhosts.map((v) => api.ctx.stats.vhost(v.name).messageStats())),
      queue_totals: { messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked },
      object_totals: {
        connections: conns.length,
        channels: conns.reduce((n, { snap }) => n + (snap.channels ?? 0), 0),
        exchanges,
        queues,
        consumers: consumerCount,
      },
      listeners: (api.ctx.listeners?.() ?? []).map((l) => ({ node: NODE_NAME, ...l })),
      // Publishers are blocked while any is on (memory high watermark, disk free limit).
      alarms: alarms(),
      // Set once the store failed and became read-only (writes refused until a restart).
      store_failure: api.broker.storeFailure?.message ?? null,
      contexts: [
        { node: NODE_NAME, description: 'Junction Management', path: '/', port: String(api.ctx.port()) },
      ],
    });
  });

  router.on('GET', '/api/nodes', async (c) => {
    api.requireMonitor(c);
    json(c, await allNodes());
  });
  router.on('GET', '/api/nodes/:name', async (c) => {
    api.requireMonitor(c);
    const found = (await allNodes()).find((n) => n['name'] === c.params['name']);
    if (!found) throw notFound(`node '${c.params['name']}' not found`);
    json(c, found);
  });
  /** This node alone; in a cluster every node of the registry, by id, this one with its own readings. */
  async function allNodes(): Promise<Record<string, unknown>[]> {
    const cluster = api.ctx.cluster;
    if (!cluster) return [nodeJson()];
    return (await cluster.nodes()).map((n) => ({
      ...(n.self ? nodeJson() : { type: 'disc' }),
      name: n.id,
      node_name: n.name,
      running: n.state === 'running',
      state: n.state,
      link_address: n.address,
      queues_owned: n.queues,
      lease_left_ms: n.leaseLeftMs,
      self: n.self,
      link: n.self ? null : (n.link ?? 'unknown'),
    }));
  }
  function nodeJson(): Record<string, unknown> {
    const mem = process.memoryUsage();
    const r = api.ctx.resources?.() ?? {};
    const on = api.broker.activeAlarms();
    return {
      name: NODE_NAME,
      type: 'disc',
      running: true,
      os_pid: String(process.pid),
      host: hostname(),
      uptime: Math.round(process.uptime() * 1000),
      processors: availableParallelism(),
      mem_used: mem.rss,
      mem_heap_used: mem.heapUsed,
      mem_limit: r.memLimit ?? 0,
      mem_alarm: on.has('memory'),
      disk_free: r.diskFree ?? 0,
      disk_free_limit: r.diskFreeLimit ?? 0,
      disk_free_alarm: on.has('disk'),
      run_queue: 0,
      partitions: [],
      exchange_types: api.broker.exchangeTypes
        .names()
        .map((name) => ({ name, description: '', enabled: true })),
    };
  }
  router.on('GET', '/api/cluster-name', (c) => json(c, { name: NODE_NAME }));
  router.on('GET', '/api/extensions', (c) => json(c, []));
  router.on('GET', '/api/whoami', (c) => {
    const p = api.who(c);
    json(c, { name: p.username, tags: [...p.tags] });
  });

  router.on('GET', '/api/aliveness-test/:vhost', async (c) => {
    const v = api.vhostOf(c);
    const ok = await api.withSession(c, v.name, async (s) => {
      await s.declareQueue({ name: 'aliveness-test', durable: false, autoDelete: false });
      const outcome = await new Promise<boolean>((resolve) =>
        s.publish(createMessage('', 'aliveness-test', Buffer.from('test_message')), {}, (o) => resolve(o.ok)),
      );
      const got = outcome ? await s.get('aliveness-test', { noAck: true }) : null;
      return got !== null;
    });
    if (!ok) throw new HttpError(503, 'failed', 'aliveness test message was not delivered');
    json(c, { status: 'ok' });
  });
  // As RabbitMQ: 503 with the alarms in effect, so a readiness check can look at them.
  router.on('GET', '/api/health/checks/alarms', (c) => {
    const on = alarms();
    if (on.length === 0) return json(c, { status: 'ok' });
    json(c, { status: 'failed', reason: 'resource alarm(s) in effect in the cluster', alarms: on }, 503);
  });
  function alarms(): { node: string; resource: string; reason: string }[] {
    return [...api.broker.activeAlarms()].map(([resource, reason]) => ({
      node: NODE_NAME,
      resource,
      reason,
    }));
  }
  router.on('GET', '/api/health/checks/virtual-hosts', (c) => json(c, { status: 'ok' }));
};

function mergeStats(
  all: Record<string, number | { rate: number }>[],
): Record<string, number | { rate: number }> {
  const out: Record<string, number | { rate: number }> = {};
  for (const s of all) {
    for (const [k, v] of Object.entries(s)) {
      const prev = out[k];
      if (typeof v === 'number') out[k] = (typeof prev === 'number' ? prev : 0) + v;
      else out[k] = { rate: (typeof prev === 'object' ? prev.rate : 0) + v.rate };
    }
  }
  return out;
}
