/** Queues: list, declare, delete, purge, get messages, and their bindings. */
import type { FieldTable } from '@junction/core';
import type { Vhost } from '@junction/core/internal';
import { queueJson, vhostBindings } from '../format.js';
import { badRequest, notFound, optBool, optInt, optObject, optString, readJson, type Ctx } from '../http.js';
import { getResultJson } from '../messages.js';
import { created, json, list, noContent, type Routes } from '../scope.js';

export const queuesRoutes: Routes = (router, api) => {
  const listQueues = (c: Ctx): void =>
    list(
      c,
      api
        .vhostsFor(c)
        .flatMap((v) =>
          [...v.queues.values()].map((q) => queueJson(v, q, api.ctx.stats, api.queueNode(v, q))),
        ),
    );
  router.on('GET', '/api/queues', listQueues);
  router.on('GET', '/api/queues/:vhost', listQueues);
  const queueOf = (c: Ctx): { v: Vhost; name: string } => {
    const v = api.vhostOf(c);
    const name = c.params['name']!;
    if (!v.queues.has(name)) throw notFound(`queue '${name}' in vhost '${v.name}' not found`);
    return { v, name };
  };
  router.on('GET', '/api/queues/:vhost/:name', (c) => {
    const { v, name } = queueOf(c);
    const q = v.queues.get(name)!;
    json(c, queueJson(v, q, api.ctx.stats, api.queueNode(v, q)));
  });
  router.on('PUT', '/api/queues/:vhost/:name', async (c) => {
    const v = api.vhostOf(c);
    const name = c.params['name']!;
    if (name === '') throw badRequest('queue name must not be empty');
    const body = await readJson(c.req);
    const decl = {
      name,
      durable: optBool(body, 'durable', true),
      autoDelete: optBool(body, 'auto_delete', false),
      exclusive: false,
      arguments: (optObject(body, 'arguments') ?? {}) as FieldTable,
    };
    const existed = v.queues.has(name);
    await api.withSession(c, v.name, (s) => s.declareQueue(decl));
    created(c, existed);
  });
  router.on('DELETE', '/api/queues/:vhost/:name', async (c) => {
    const { v, name } = queueOf(c);
    const opts = {
      ifEmpty: c.query.get('if-empty') === 'true',
      ifUnused: c.query.get('if-unused') === 'true',
    };
    await api.withSession(c, v.name, (s) => s.deleteQueue(name, opts));
    noContent(c);
  });
  router.on('DELETE', '/api/queues/:vhost/:name/contents', async (c) => {
    const { v, name } = queueOf(c);
    await api.withSession(c, v.name, (s) => s.purgeQueue(name));
    noContent(c);
  });
  router.on('POST', '/api/queues/:vhost/:name/get', async (c) => {
    const { v, name } = queueOf(c);
    const body = await readJson(c.req);
    const count = optInt(body, 'count', 1, 1);
    const ackmode = optString(body, 'ackmode') ?? 'ack_requeue_true';
    const modes = ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'];
    if (!modes.includes(ackmode)) throw badRequest(`'ackmode' must be one of ${modes.join(', ')}`);
    const encoding = optString(body, 'encoding') ?? 'auto';
    if (encoding !== 'auto' && encoding !== 'base64')
      throw badRequest("'encoding' must be 'auto' or 'base64'");
    const truncate =
      body['truncate'] === undefined || body['truncate'] === null
        ? undefined
        : optInt(body, 'truncate', 0, 0);
    const out = await api.withSession(c, v.name, async (s) => {
      const results = [];
      for (let i = 0; i < count; i++) {
        const r = await s.get(name);
        if (!r) break;
        api.ctx.stats.count('get', v.name, name);
        api.ctx.stats.count('deliver_get', v.name, name);
        results.push(r);
      }
      // Settle after taking them all, so `count` messages are distinct (as RabbitMQ does).
      const outcome =
        ackmode === 'ack_requeue_false' ? 'ack' : ackmode === 'reject_requeue_false' ? 'reject' : 'requeue';
      for (const r of results) s.settle(r.deliveryTag, outcome);
      return results.map((r) => getResultJson(r, encoding, truncate));
    });
    json(c, out);
  });
  router.on('GET', '/api/queues/:vhost/:name/bindings', (c) => {
    const { v, name } = queueOf(c);
    list(
      c,
      vhostBindings(v).filter((b) => b.destination_type === 'queue' && b.destination === name),
    );
  });
};
