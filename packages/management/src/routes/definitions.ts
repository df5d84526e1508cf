/** Definitions export and import in RabbitMQ's format (administrators only). */
import {
  VHOST_LIMITS,
  exportDefinitions,
  importDefinitions,
  intoVhost,
  parseDefinitions,
} from '../definitions.js';
import { readJson } from '../http.js';
import { json, noContent, type Routes } from '../scope.js';

export const definitionsRoutes: Routes = (router, api) => {
  /** Runtime parameters (shovels, federation) but vhost limits, and topic permissions, have no Junction equivalent yet. */
  const warnIgnored = (defs: ReturnType<typeof parseDefinitions>): void => {
    const parameters = defs.parameters.filter(
      (p) => (p as Record<string, unknown>)['component'] !== VHOST_LIMITS,
    );
    const ignored = { parameters: parameters.length, topic_permissions: defs.topic_permissions.length };
    if (ignored.parameters + ignored.topic_permissions > 0)
      api.ctx.log.warn(ignored, 'definitions import: ignored unsupported items');
  };
  router.on('GET', '/api/definitions', (c) => {
    api.requireAdmin(c);
    json(c, exportDefinitions(api.broker, api.ctx.vhostMeta));
  });
  router.on('GET', '/api/definitions/:vhost', (c) => {
    api.requireAdmin(c);
    json(c, exportDefinitions(api.broker, api.ctx.vhostMeta, api.vhostOf(c).name));
  });
  router.on('POST', '/api/definitions', async (c) => {
    api.requireAdmin(c);
    const defs = parseDefinitions(await readJson(c.req));
    await importDefinitions(api.broker, defs, api.ctx.vhostMeta);
    warnIgnored(defs);
    noContent(c);
  });
  router.on('POST', '/api/definitions/:vhost', async (c) => {
    api.requireAdmin(c);
    const v = api.vhostOf(c);
    const defs = intoVhost(parseDefinitions(await readJson(c.req)), v.name);
    await importDefinitions(api.broker, defs, api.ctx.vhostMeta);
    noContent(c);
  });
};
