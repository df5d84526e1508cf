/** Exchanges: list, declare, delete, publish, and their bindings. */
import { createMessage, type FieldTable } from '@junction/core';
import type { Vhost } from '@junction/core/internal';
import { exchangeJson, vhostBindings } from '../format.js';
import { badRequest, notFound, optBool, optObject, optString, readJson, type Ctx } from '../http.js';
import { payloadFromJson, propertiesFromJson } from '../messages.js';
import { created, exchangeName, json, list, noContent, type Routes } from '../scope.js';

export const exchangesRoutes: Routes = (router, api) => {
  const listExchanges = (c: Ctx): void =>
    list(
      c,
      api.vhostsFor(c).flatMap((v) => [...v.exchanges.values()].map((x) => exchangeJson(v, x))),
    );
  router.on('GET', '/api/exchanges', listExchanges);
  router.on('GET', '/api/exchanges/:vhost', listExchanges);
  const exchangeOf = (c: Ctx): { v: Vhost; name: string } => {
    const v = api.vhostOf(c);
    const name = exchangeName(c.params['name']!);
    if (!v.exchanges.has(name))
      throw notFound(`exchange '${c.params['name']}' in vhost '${v.name}' not found`);
    return { v, name };
  };
  router.on('GET', '/api/exchanges/:vhost/:name', (c) => {
    const { v, name } = exchangeOf(c);
    json(c, exchangeJson(v, v.exchanges.get(name)!));
  });
  router.on('PUT', '/api/exchanges/:vhost/:name', async (c) => {
    const v = api.vhostOf(c);
    const name = exchangeName(c.params['name']!);
    const body = await readJson(c.req);
    const type = optString(body, 'type');
    if (type === undefined) throw badRequest("'type' is required");
    if (!api.broker.exchangeTypes.has(type)) throw badRequest(`unknown exchange type '${type}'`);
    const decl = {
      name,
      type,
      durable: optBool(body, 'durable', true),
      autoDelete: optBool(body, 'auto_delete', false),
      internal: optBool(body, 'internal', false),
      arguments: (optObject(body, 'arguments') ?? {}) as FieldTable,
    };
    const existed = v.exchanges.has(name);
    await api.withSession(c, v.name, (s) => s.declareExchange(decl));
    created(c, existed);
  });
  router.on('DELETE', '/api/exchanges/:vhost/:name', async (c) => {
    const { v, name } = exchangeOf(c);
    await api.withSession(c, v.name, (s) =>
      s.deleteExchange(name, { ifUnused: c.query.get('if-unused') === 'true' }),
    );
    noContent(c);
  });
  router.on('POST', '/api/exchanges/:vhost/:name/publish', async (c) => {
    const { v, name } = exchangeOf(c);
    const body = await readJson(c.req);
    const properties = propertiesFromJson(optObject(body, 'properties') ?? {});
    const routingKey = optString(body, 'routing_key') ?? '';
    const payload = payloadFromJson(body['payload'] ?? '', body['payload_encoding']);
    const routed = await api.withSession(
      c,
      v.name,
      (s) =>
        new Promise<boolean>((resolve, reject) => {
          try {
            s.publish(createMessage(name, routingKey, payload, properties), { mandatory: true }, (o) => {
              if (o.ok) api.ctx.stats.count('confirm', v.name, undefined);
              resolve(o.ok && o.returned === undefined);
            });
          } catch (err) {
            reject(err as Error);
          }
        }),
    );
    json(c, { routed });
  });
  router.on('GET', '/api/exchanges/:vhost/:name/bindings/source', (c) => {
    const { v, name } = exchangeOf(c);
    list(
      c,
      vhostBindings(v).filter((b) => b.source === name),
    );
  });
  router.on('GET', '/api/exchanges/:vhost/:name/bindings/destination', (c) => {
    const { v, name } = exchangeOf(c);
    list(
      c,
      vhostBindings(v).filter((b) => b.destination_type === 'exchange' && b.destination === name),
    );
  });
};
