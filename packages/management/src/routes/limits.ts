/**
 * Vhost and user limits, as RabbitMQ's API has them: `GET /api/vhost-limits[/{vhost}]`,
 * `PUT|DELETE /api/vhost-limits/{vhost}/{name}` with `{"value": N}` (administrators, or
 * policymakers with access to the vhost), `GET /api/user-limits[/{user}]` and
 * `PUT|DELETE /api/user-limits/{user}/{name}` (administrators). A negative value clears a
 * limit, as in RabbitMQ.
 */
import type { Vhost } from '@junction/core/internal';
import { badRequest, notFound, readJson, type Ctx } from '../http.js';
import { list, noContent, type Routes } from '../scope.js';

export const limitsRoutes: Routes = (router, api) => {
  const vhostRows = (vhosts: Vhost[]) =>
    vhosts.filter((v) => v.limits.size > 0).map((v) => ({ vhost: v.name, value: v.limits.toJSON() }));
  router.on('GET', '/api/vhost-limits', (c) => list(c, vhostRows(api.visibleVhosts(api.who(c)))));
  router.on('GET', '/api/vhost-limits/:vhost', (c) => list(c, vhostRows([api.vhostOf(c)])));
  router.on('PUT', '/api/vhost-limits/:vhost/:name', async (c) => {
    const v = api.vhostOf(c);
    api.requirePolicymaker(c, v);
    await api.broker.setVhostLimit(v.name, c.params['name']!, await limitValue(c));
    noContent(c);
  });
  router.on('DELETE', '/api/vhost-limits/:vhost/:name', async (c) => {
    const v = api.vhostOf(c);
    api.requirePolicymaker(c, v);
    await api.broker.setVhostLimit(v.name, c.params['name']!, null);
    noContent(c);
  });

  const userRows = (names: string[]) =>
    names
      .map((user) => ({ user, value: api.broker.userLimits(user) }))
      .filter((r) => Object.keys(r.value).length > 0);
  const userOf = (c: Ctx): string => {
    const name = c.params['user']!;
    if (!api.broker.users.get(name)) throw notFound(`user '${name}' not found`);
    return name;
  };
  router.on('GET', '/api/user-limits', (c) => {
    api.requireAdmin(c);
    list(c, userRows(api.broker.users.list().map((u) => u.name)));
  });
  router.on('GET', '/api/user-limits/:user', (c) => {
    api.requireAdmin(c);
    list(c, userRows([userOf(c)]));
  });
  router.on('PUT', '/api/user-limits/:user/:name', async (c) => {
    api.requireAdmin(c);
    const user = userOf(c);
    await api.broker.setUserLimit(user, c.params['name']!, await limitValue(c));
    noContent(c);
  });
  router.on('DELETE', '/api/user-limits/:user/:name', async (c) => {
    api.requireAdmin(c);
    await api.broker.setUserLimit(userOf(c), c.params['name']!, null);
    noContent(c);
  });
};

/** `{"value": N}`: an integer (RabbitMQ also takes its decimal string form). */
async function limitValue(c: Ctx): Promise<number> {
  const body = await readJson(c.req);
  const v = body['value'];
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw badRequest("'value' must be an integer");
  return n;
}
