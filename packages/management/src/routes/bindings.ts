/** Bindings between an exchange and a queue or exchange: list, create, delete. */
import type { FieldTable } from '@junction/core';
import type { Vhost } from '@junction/core/internal';
import { propertiesKey, vhostBindings, type BindingJson } from '../format.js';
import { forbidden, notFound, optObject, optString, readJson, sendStatus, type Ctx } from '../http.js';
import { exchangeName, json, list, noContent, type Routes } from '../scope.js';

export const bindingsRoutes: Routes = (router, api) => {
  router.on('GET', '/api/bindings', (c) => list(c, api.visibleVhosts(api.who(c)).flatMap(vhostBindings)));
  router.on('GET', '/api/bindings/:vhost', (c) => list(c, vhostBindings(api.vhostOf(c))));
  const bindingEnds = (c: Ctx, kind: 'q' | 'e'): { v: Vhost; source: string; dest: string } => {
    const v = api.vhostOf(c);
    const source = exchangeName(c.params['source']!);
    const dest = kind === 'q' ? c.params['dest']! : exchangeName(c.params['dest']!);
    if (!v.exchanges.has(source))
      throw notFound(`exchange '${c.params['source']}' in vhost '${v.name}' not found`);
    if (kind === 'q' ? !v.queues.has(dest) : !v.exchanges.has(dest)) {
      throw notFound(
        `${kind === 'q' ? 'queue' : 'exchange'} '${c.params['dest']}' in vhost '${v.name}' not found`,
      );
    }
    return { v, source, dest };
  };
  const bindingsBetween = (v: Vhost, source: string, kind: 'q' | 'e', dest: string): BindingJson[] => {
    const type = kind === 'q' ? 'queue' : 'exchange';
    return vhostBindings(v).filter(
      (b) => b.source === source && b.destination_type === type && b.destination === dest,
    );
  };
  for (const kind of ['q', 'e'] as const) {
    const base = `/api/bindings/:vhost/e/:source/${kind}/:dest`;
    router.on('GET', base, (c) => {
      const { v, source, dest } = bindingEnds(c, kind);
      list(c, bindingsBetween(v, source, kind, dest));
    });
    router.on('POST', base, async (c) => {
      const { v, source, dest } = bindingEnds(c, kind);
      const body = await readJson(c.req);
      const routingKey = optString(body, 'routing_key') ?? '';
      const args = (optObject(body, 'arguments') ?? {}) as FieldTable;
      await api.withSession(c, v.name, (s) =>
        kind === 'q'
          ? s.bindQueue(dest, source, routingKey, args)
          : s.bindExchange(dest, source, routingKey, args),
      );
      const key = propertiesKey(routingKey, args);
      sendStatus(c.res, 201, { location: encodeURIComponent(key) });
    });
    const findBinding = (c: Ctx): { v: Vhost; source: string; dest: string; b: BindingJson } => {
      const { v, source, dest } = bindingEnds(c, kind);
      const b = bindingsBetween(v, source, kind, dest).find((x) => x.properties_key === c.params['props']);
      if (!b) throw notFound(`binding '${c.params['props']}' not found`);
      return { v, source, dest, b };
    };
    router.on('GET', `${base}/:props`, (c) => json(c, findBinding(c).b));
    router.on('DELETE', `${base}/:props`, async (c) => {
      const { v, source, dest, b } = findBinding(c);
      if (source === '') throw forbidden('operation not permitted on the default exchange');
      await api.withSession(c, v.name, (s) =>
        kind === 'q'
          ? s.unbindQueue(dest, source, b.routing_key, b.arguments)
          : s.unbindExchange(dest, source, b.routing_key, b.arguments),
      );
      noContent(c);
    });
  }
};
