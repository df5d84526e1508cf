/** Connections, channels and consumers: listing (each user sees their own, monitors all) and closing. */
import type { ConnectionSnapshot, Principal, ProtocolAdapter } from '@junction/core';
import type { Vhost } from '@junction/core/internal';
import { connectionJson, connectionName, NODE_NAME } from '../format.js';
import { forbidden, notFound, type Ctx } from '../http.js';
import { isAdmin, isMonitor, json, list, noContent, type Routes } from '../scope.js';

export const connectionsRoutes: Routes = (router, api) => {
  const findConnection = (c: Ctx): { adapter: ProtocolAdapter; snap: ConnectionSnapshot } => {
    const name = c.params['name']!;
    const found = api.snapshots().find(({ snap }) => connectionName(snap) === name || snap.id === name);
    if (!found || !api.seesConnection(api.who(c), found.snap))
      throw notFound(`connection '${name}' not found`);
    return found;
  };

  function channels(p: Principal, filter?: (s: ConnectionSnapshot) => boolean): Record<string, unknown>[] {
    const snaps = new Map(api.snapshots().map(({ snap }) => [snap.id, snap]));
    const out: Record<string, unknown>[] = [];
    for (const conn of api.broker.connections.values()) {
      const snap = snaps.get(conn.id);
      if (!snap || !api.seesConnection(p, snap) || (filter && !filter(snap))) continue;
      const connName = connectionName(snap);
      let number = 0;
      for (const s of conn.sessions) {
        number++;
        out.push({
          name: `${connName} (${number})`,
          number,
          node: NODE_NAME,
          user: conn.username,
          vhost: conn.vhost,
          consumer_count: s.consumerCount,
          messages_unacknowledged: s.unackedCount,
          state: 'running',
          connection_details: { name: connName, peer_host: snap.remoteAddress, peer_port: snap.remotePort },
        });
      }
    }
    return out;
  }

  function consumers(p: Principal, vhosts: Vhost[]): Record<string, unknown>[] {
    const snaps = new Map(api.snapshots().map(({ snap }) => [snap.id, snap]));
    const out: Record<string, unknown>[] = [];
    for (const v of vhosts) {
      for (const q of v.queues.values()) {
        for (const cons of q.consumers.all()) {
          const snap = snaps.get(cons.owner.connectionId);
          if (
            !isMonitor(p) &&
            snap &&
            snap.user !== p.username &&
            !api.broker.users.hasVhostAccess(v.name, p.username)
          )
            continue;
          out.push({
            consumer_tag: cons.tag,
            queue: { name: q.name, vhost: v.name },
            channel_details: snap
              ? {
                  connection_name: connectionName(snap),
                  peer_host: snap.remoteAddress,
                  peer_port: snap.remotePort,
                  user: snap.user ?? '',
                }
              : { connection_name: cons.owner.connectionId },
            ack_required: !cons.spec.noAck,
            exclusive: cons.spec.exclusive,
            prefetch_count: cons.spec.prefetch,
            priority: cons.spec.priority,
            arguments: cons.spec.arguments,
            active: q.consumers.active === undefined || q.consumers.active === cons,
            activity_status:
              q.consumers.active === undefined || q.consumers.active === cons ? 'up' : 'waiting',
          });
        }
      }
    }
    return out;
  }

  router.on('GET', '/api/connections', (c) => {
    const p = api.who(c);
    list(
      c,
      api
        .snapshots()
        .filter(({ snap }) => api.seesConnection(p, snap))
        .map(({ snap }) => connectionJson(snap)),
    );
  });
  router.on('GET', '/api/connections/:name', (c) => json(c, connectionJson(findConnection(c).snap)));
  router.on('GET', '/api/connections/:name/channels', (c) => {
    const { snap } = findConnection(c);
    list(
      c,
      channels(api.who(c), (s) => s.id === snap.id),
    );
  });
  router.on('DELETE', '/api/connections/:name', async (c) => {
    const { adapter, snap } = findConnection(c);
    const p = api.who(c);
    if (!isAdmin(p) && snap.user !== p.username) throw forbidden('Not administrator user');
    const reason = c.req.headers['x-reason'];
    await adapter.closeConnection(
      snap.id,
      typeof reason === 'string' ? reason : 'Closed via management plugin',
    );
    noContent(c);
  });
  router.on('GET', '/api/vhosts/:vhost/connections', (c) => {
    const v = api.vhostOf(c);
    const p = api.who(c);
    list(
      c,
      api
        .snapshots()
        .filter(({ snap }) => snap.vhost === v.name && api.seesConnection(p, snap))
        .map(({ snap }) => connectionJson(snap)),
    );
  });
  router.on('GET', '/api/channels', (c) => list(c, channels(api.who(c))));
  router.on('GET', '/api/vhosts/:vhost/channels', (c) => {
    const v = api.vhostOf(c);
    list(
      c,
      channels(api.who(c), (s) => s.vhost === v.name),
    );
  });
  router.on('GET', '/api/consumers', (c) => list(c, consumers(api.who(c), api.visibleVhosts(api.who(c)))));
  router.on('GET', '/api/consumers/:vhost', (c) => list(c, consumers(api.who(c), [api.vhostOf(c)])));
};
