/** Policies: list, set (administrators, or policymakers with access to the vhost), delete. */
import type { FieldTable } from '@junction/core';
import { parseApplyTo } from '../definitions.js';
import { badRequest, notFound, optInt, optObject, optString, readJson, type Ctx } from '../http.js';
import { created, json, list, noContent, type Routes } from '../scope.js';

export const policiesRoutes: Routes = (router, api) => {
  const policyJson = (
    vhost: string,
    p: { name: string; pattern: string; applyTo: string; priority: number; definition: FieldTable },
  ) => ({
    vhost,
    name: p.name,
    pattern: p.pattern,
    'apply-to': p.applyTo,
    definition: p.definition,
    priority: p.priority,
  });
  const listPolicies = (c: Ctx): void =>
    list(
      c,
      api.vhostsFor(c).flatMap((v) => v.policies.list().map((p) => policyJson(v.name, p))),
    );
  router.on('GET', '/api/policies', listPolicies);
  router.on('GET', '/api/policies/:vhost', listPolicies);
  const policyOf = (c: Ctx) => {
    const v = api.vhostOf(c);
    const p = v.policies.list().find((x) => x.name === c.params['name']);
    if (!p) throw notFound(`policy '${c.params['name']}' in vhost '${v.name}' not found`);
    return { v, p };
  };
  router.on('GET', '/api/policies/:vhost/:name', (c) => {
    const { v, p } = policyOf(c);
    json(c, policyJson(v.name, p));
  });
  router.on('PUT', '/api/policies/:vhost/:name', async (c) => {
    const v = api.vhostOf(c);
    api.requirePolicymaker(c, v);
    const name = c.params['name']!;
    const body = await readJson(c.req);
    const pattern = optString(body, 'pattern');
    if (pattern === undefined) throw badRequest("'pattern' is required");
    const definition = optObject(body, 'definition');
    if (definition === undefined) throw badRequest("'definition' is required");
    const existed = v.policies.list().some((p) => p.name === name);
    await v.setPolicy({
      name,
      pattern,
      applyTo: parseApplyTo(body['apply-to'], 'policy'),
      priority: optInt(body, 'priority', 0, -2147483648),
      definition: definition as FieldTable,
    });
    created(c, existed);
  });
  router.on('DELETE', '/api/policies/:vhost/:name', async (c) => {
    const { v, p } = policyOf(c);
    api.requirePolicymaker(c, v);
    await v.deletePolicy(p.name);
    noContent(c);
  });
};
