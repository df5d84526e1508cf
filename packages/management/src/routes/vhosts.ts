/** Virtual hosts: list, create (with description and tags), delete, and their permissions. */
import type { Vhost } from '@junction/core/internal';
import { parseTags, vhostIdentity } from '../definitions.js';
import { NODE_NAME } from '../format.js';
import { badRequest, notFound, optString, readJson } from '../http.js';
import { created, json, list, noContent, type Routes } from '../scope.js';
import { permissionJson } from './users.js';

export const vhostsRoutes: Routes = (router, api) => {
  const vhostJson = (v: Vhost): Record<string, unknown> => {
    let ready = 0;
    let unacked = 0;
    for (const q of v.queues.values()) {
      const s = q.stats();
      ready += s.ready;
      unacked += s.unacked;
    }
    return {
      ...vhostIdentity(api.ctx.vhostMeta, v.name),
      default_queue_type: 'classic',
      tracing: false,
      messages: ready + unacked,
      messages_ready: ready,
      messages_unacknowledged: unacked,
      message_stats: api.ctx.stats.vhost(v.name).messageStats(),
      cluster_state: { [NODE_NAME]: 'running' },
    };
  };
  router.on('GET', '/api/vhosts', (c) => list(c, api.visibleVhosts(api.who(c)).map(vhostJson)));
  router.on('GET', '/api/vhosts/:vhost', (c) => json(c, vhostJson(api.vhostOf(c))));
  router.on('PUT', '/api/vhosts/:vhost', async (c) => {
    api.requireAdmin(c);
    const name = c.params['vhost']!;
    if (name === '') throw badRequest('vhost name must not be empty');
    const body = await readJson(c.req);
    const description = optString(body, 'description');
    const tags = body['tags'] === undefined ? undefined : parseTags(body['tags'], 'vhost');
    const existed = api.broker.vhosts.has(name);
    await api.broker.addVhost(name);
    const prev = api.ctx.vhostMeta.get(name) ?? { description: '', tags: [] };
    api.ctx.vhostMeta.set(name, { description: description ?? prev.description, tags: tags ?? prev.tags });
    created(c, existed);
  });
  router.on('DELETE', '/api/vhosts/:vhost', async (c) => {
    api.requireAdmin(c);
    const name = c.params['vhost']!;
    if (!api.broker.vhosts.has(name)) throw notFound(`vhost '${name}' not found`);
    await api.broker.deleteVhost(name);
    api.ctx.vhostMeta.delete(name);
    noContent(c);
  });
  router.on('GET', '/api/vhosts/:vhost/permissions', (c) => {
    api.requireAdmin(c);
    const v = api.vhostOf(c);
    list(
      c,
      api.broker.users
        .allPermissions()
        .filter((p) => p.vhost === v.name)
        .map(permissionJson),
    );
  });
};
