/**
 * Definitions in RabbitMQ's export format (GET/POST /api/definitions), so topologies move
 * both ways between RabbitMQ and Junction. Password hashes use RabbitMQ's
 * rabbit_password_hashing_sha256, the format the core stores.
 *
 * An import is all or nothing: it is first applied to a scratch broker holding a copy of
 * the current definitions; only if that succeeds is it applied to the real broker.
 */
import { Broker, type FieldTable } from '@junction/core';
import type { Exchange, Vhost } from '@junction/core/internal';
import { badRequest } from './http.js';

export const HASHING_ALGORITHM = 'rabbit_password_hashing_sha256';
export const RABBIT_VERSION = '3.13.0';
export const PRODUCT_VERSION = '0.1.0';

export interface RabbitDefinitions {
  rabbit_version?: string;
  rabbitmq_version?: string;
  product_name?: string;
  product_version?: string;
  users: {
    name: string;
    password_hash: string;
    hashing_algorithm: string;
    /**
     * A plain password on import (RabbitMQ's definitions accept one in place of the hash): the
     * user gets SCRAM-SHA-256 keys too, which a hash alone cannot give. Never exported.
     */
    password?: string;
    tags: string[];
    /** RabbitMQ's user limits; absent on import: the user's limits are left as they are. */
    limits?: Record<string, number>;
  }[];
  vhosts: {
    name: string;
    description?: string;
    tags?: string[];
    metadata?: { description?: string; tags?: string[] };
    limits?: unknown[];
  }[];
  permissions: { user: string; vhost: string; configure: string; write: string; read: string }[];
  topic_permissions: unknown[];
  parameters: unknown[];
  global_parameters: unknown[];
  policies: {
    vhost: string;
    name: string;
    pattern: string;
    'apply-to': 'queues' | 'exchanges' | 'all';
    definition: FieldTable;
    priority: number;
  }[];
  queues: { name: string; vhost: string; durable: boolean; auto_delete: boolean; arguments: FieldTable }[];
  exchanges: {
    name: string;
    vhost: string;
    type: string;
    durable: boolean;
    auto_delete: boolean;
    internal: boolean;
    arguments: FieldTable;
  }[];
  bindings: {
    source: string;
    vhost: string;
    destination: string;
    destination_type: 'queue' | 'exchange';
    routing_key: string;
    arguments: FieldTable;
  }[];
}

/** Vhost metadata the core does not keep (description, tags). */
export type VhostMeta = Map<string, { description: string; tags: string[] }>;

/** A vhost's name, description and tags as RabbitMQ lists them (both flat and under `metadata`). */
export function vhostIdentity(meta: VhostMeta, name: string) {
  const m = meta.get(name) ?? { description: '', tags: [] };
  return {
    name,
    description: m.description,
    tags: m.tags,
    metadata: { description: m.description, tags: m.tags },
  };
}

/** An exchange's declaration, as definitions export it and the API lists it. */
export function exchangeDeclaration(v: Vhost, x: Exchange) {
  return {
    name: x.name,
    vhost: v.name,
    type: x.type.name,
    durable: x.options.durable,
    auto_delete: x.options.autoDelete,
    internal: x.options.internal,
    arguments: x.options.arguments,
  };
}

/** The runtime parameter component RabbitMQ keeps vhost limits in. */
export const VHOST_LIMITS = 'vhost-limits';

const BUILTIN_EXCHANGES = new Set(['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']);

export function isBuiltinExchange(name: string): boolean {
  return BUILTIN_EXCHANGES.has(name);
}

export function exportDefinitions(broker: Broker, meta: VhostMeta, vhostFilter?: string): RabbitDefinitions {
  const vhosts = [...broker.vhosts.values()].filter(
    (v) => vhostFilter === undefined || v.name === vhostFilter,
  );
  const defs: RabbitDefinitions = {
    rabbit_version: RABBIT_VERSION,
    rabbitmq_version: RABBIT_VERSION,
    product_name: 'Junction',
    product_version: PRODUCT_VERSION,
    users: [],
    vhosts: [],
    permissions: [],
    topic_permissions: [],
    parameters: [],
    global_parameters: [],
    policies: [],
    queues: [],
    exchanges: [],
    bindings: [],
  };
  if (vhostFilter === undefined) {
    defs.users = broker.users.list().map((u) => ({
      name: u.name,
      password_hash: u.passwordHash,
      hashing_algorithm: HASHING_ALGORITHM,
      tags: [...u.tags],
      limits: { ...broker.userLimits(u.name) },
    }));
    defs.vhosts = vhosts.map((v) => ({ ...vhostIdentity(meta, v.name), limits: [] }));
    defs.permissions = broker.users
      .allPermissions()
      .map((p) => ({ user: p.user, vhost: p.vhost, ...p.permission }));
  }
  for (const v of vhosts) {
    // RabbitMQ exports vhost limits as the vhost's runtime parameter `vhost-limits/limits`.
    if (v.limits.size > 0)
      defs.parameters.push({
        vhost: v.name,
        component: VHOST_LIMITS,
        name: 'limits',
        value: v.limits.toJSON(),
      });
    for (const p of v.policies.list()) {
      defs.policies.push({
        vhost: v.name,
        name: p.name,
        pattern: p.pattern,
        'apply-to': p.applyTo,
        definition: p.definition,
        priority: p.priority,
      });
    }
    for (const q of v.queues.values()) {
      if (q.options.exclusiveOwner !== null) continue;
      defs.queues.push({
        name: q.name,
        vhost: v.name,
        durable: q.options.durable,
        auto_delete: q.options.autoDelete,
        arguments: q.options.arguments,
      });
    }
    for (const x of v.exchanges.values()) {
      if (isBuiltinExchange(x.name)) continue;
      defs.exchanges.push(exchangeDeclaration(v, x));
    }
    for (const b of v.bindings()) {
      if (b.destination.kind === 'queue' && v.queues.get(b.destination.name)?.options.exclusiveOwner !== null)
        continue;
      defs.bindings.push({
        source: b.source,
        vhost: v.name,
        destination: b.destination.name,
        destination_type: b.destination.kind,
        routing_key: b.routingKey,
        arguments: b.args,
      });
    }
  }
  return defs;
}

// ---- parsing -----------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function list(body: Obj, key: string): Obj[] {
  const v = body[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badRequest(`definitions: '${key}' must be an array`);
  return v.map((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e))
      throw badRequest(`definitions: ${key}[${i}] must be an object`);
    return e as Obj;
  });
}

function str(o: Obj, key: string, where: string, dflt?: string): string {
  const v = o[key];
  if ((v === undefined || v === null) && dflt !== undefined) return dflt;
  if (typeof v !== 'string') throw badRequest(`definitions: ${where}: '${key}' must be a string`);
  return v;
}

function bool(o: Obj, key: string, where: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw badRequest(`definitions: ${where}: '${key}' must be a boolean`);
}

function table(o: Obj, key: string, where: string): FieldTable {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw badRequest(`definitions: ${where}: '${key}' must be an object`);
  return v as FieldTable;
}

/** `{"max-connections": 10, ...}`: integers (names are checked when applied). */
function limitTable(v: unknown, where: string): Record<string, number> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest(`${where} must be an object`);
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [k, n] of Object.entries(v)) {
    if (typeof n !== 'number' || !Number.isSafeInteger(n))
      throw badRequest(`${where}: '${k}' must be an integer`);
    out[k] = n;
  }
  return out;
}

/** The vhost-limits parameters of an import: vhost -> its whole set of limits. */
export function vhostLimitParameters(
  defs: RabbitDefinitions,
): { vhost: string; limits: Record<string, number> }[] {
  const out: { vhost: string; limits: Record<string, number> }[] = [];
  defs.parameters.forEach((p, i) => {
    const o = p as Obj;
    if (o['component'] !== VHOST_LIMITS) return;
    const where = `definitions: parameters[${i}]`;
    out.push({ vhost: str(o, 'vhost', where), limits: limitTable(o['value'], `${where}: 'value'`) });
  });
  return out;
}

/** RabbitMQ 3.8 writes tags as "a,b"; 3.9+ as ["a", "b"]. */
export function parseTags(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return v.split(/[\s,]+/).filter((t) => t !== '');
  if (Array.isArray(v) && v.every((t) => typeof t === 'string'))
    return (v as string[]).filter((t) => t !== '');
  throw badRequest(`${where}: 'tags' must be a string or an array of strings`);
}

export function checkHashingAlgorithm(v: unknown, where: string): void {
  if (v === undefined || v === null || v === HASHING_ALGORITHM) return;
  throw badRequest(`${where}: unsupported hashing_algorithm '${String(v)}' (only ${HASHING_ALGORITHM})`);
}

export function parseApplyTo(v: unknown, where: string): 'queues' | 'exchanges' | 'all' {
  if (v === undefined || v === null) return 'all';
  if (v === 'queues' || v === 'exchanges' || v === 'all') return v;
  throw badRequest(`${where}: 'apply-to' must be queues, exchanges or all`);
}

export function parseDefinitions(body: Obj): RabbitDefinitions {
  return {
    users: list(body, 'users').map((u, i) => {
      const where = `users[${i}]`;
      checkHashingAlgorithm(u['hashing_algorithm'], `definitions: ${where}`);
      return {
        name: str(u, 'name', where),
        password_hash: str(u, 'password_hash', where, ''),
        hashing_algorithm: HASHING_ALGORITHM,
        ...(u['password'] === undefined || u['password'] === null
          ? {}
          : { password: str(u, 'password', where) }),
        tags: parseTags(u['tags'], `definitions: ${where}`),
        ...(u['limits'] === undefined || u['limits'] === null
          ? {}
          : { limits: limitTable(u['limits'], `definitions: ${where}: 'limits'`) }),
      };
    }),
    vhosts: list(body, 'vhosts').map((v, i) => {
      const where = `vhosts[${i}]`;
      const metadata = (
        typeof v['metadata'] === 'object' && v['metadata'] !== null ? v['metadata'] : {}
      ) as Obj;
      return {
        name: str(v, 'name', where),
        description:
          typeof v['description'] === 'string'
            ? v['description']
            : typeof metadata['description'] === 'string'
              ? metadata['description']
              : '',
        tags: parseTags(v['tags'] ?? metadata['tags'], `definitions: ${where}`),
      };
    }),
    permissions: list(body, 'permissions').map((p, i) => {
      const where = `permissions[${i}]`;
      return {
        user: str(p, 'user', where),
        vhost: str(p, 'vhost', where),
        configure: str(p, 'configure', where),
        write: str(p, 'write', where),
        read: str(p, 'read', where),
      };
    }),
    topic_permissions: list(body, 'topic_permissions'),
    parameters: list(body, 'parameters'),
    global_parameters: list(body, 'global_parameters'),
    policies: list(body, 'policies').map((p, i) => {
      const where = `policies[${i}]`;
      const priority = p['priority'] ?? 0;
      if (typeof priority !== 'number' || !Number.isInteger(priority))
        throw badRequest(`definitions: ${where}: 'priority' must be an integer`);
      return {
        vhost: str(p, 'vhost', where),
        name: str(p, 'name', where),
        pattern: str(p, 'pattern', where),
        'apply-to': parseApplyTo(p['apply-to'], `definitions: ${where}`),
        definition: table(p, 'definition', where),
        priority,
      };
    }),
    queues: list(body, 'queues').map((q, i) => {
      const where = `queues[${i}]`;
      return {
        name: str(q, 'name', where),
        vhost: str(q, 'vhost', where),
        durable: bool(q, 'durable', where, true),
        auto_delete: bool(q, 'auto_delete', where, false),
        arguments: table(q, 'arguments', where),
      };
    }),
    exchanges: list(body, 'exchanges').map((x, i) => {
      const where = `exchanges[${i}]`;
      return {
        name: str(x, 'name', where),
        vhost: str(x, 'vhost', where),
        type: str(x, 'type', where),
        durable: bool(x, 'durable', where, true),
        auto_delete: bool(x, 'auto_delete', where, false),
        internal: bool(x, 'internal', where, false),
        arguments: table(x, 'arguments', where),
      };
    }),
    bindings: list(body, 'bindings').map((b, i) => {
      const where = `bindings[${i}]`;
      const t = str(b, 'destination_type', where);
      if (t !== 'queue' && t !== 'exchange')
        throw badRequest(`definitions: ${where}: 'destination_type' must be queue or exchange`);
      return {
        source: str(b, 'source', where),
        vhost: str(b, 'vhost', where),
        destination: str(b, 'destination', where),
        destination_type: t,
        routing_key: str(b, 'routing_key', where, ''),
        arguments: table(b, 'arguments', where),
      };
    }),
  };
}

// ---- applying ----------------------------------------------------------------------------

/** Applies parsed definitions in dependency order. `defaultVhost` fills in missing vhost fields (per-vhost import). */
async function apply(broker: Broker, defs: RabbitDefinitions, meta: VhostMeta | null): Promise<void> {
  const vhost = (name: string, what: string): Vhost => {
    const v = broker.vhosts.get(name);
    if (!v) throw badRequest(`definitions: ${what} refers to unknown vhost '${name}'`);
    return v;
  };
  for (const v of defs.vhosts) {
    await broker.addVhost(v.name);
    meta?.set(v.name, { description: v.description ?? '', tags: v.tags ?? [] });
  }
  for (const u of defs.users)
    await broker.putUser(
      u.name,
      u.password !== undefined
        ? { password: u.password, tags: u.tags }
        : { passwordHash: u.password_hash, tags: u.tags },
    );
  for (const p of defs.permissions) {
    vhost(p.vhost, `permission for '${p.user}'`);
    if (!broker.users.get(p.user))
      throw badRequest(`definitions: permission refers to unknown user '${p.user}'`);
    await broker.setPermission(p.vhost, p.user, { configure: p.configure, write: p.write, read: p.read });
  }
  for (const p of defs.policies) {
    await vhost(p.vhost, `policy '${p.name}'`).setPolicy({
      name: p.name,
      pattern: p.pattern,
      applyTo: p['apply-to'],
      priority: p.priority,
      definition: p.definition,
    });
  }
  for (const x of defs.exchanges) {
    if (isBuiltinExchange(x.name)) continue;
    const v = vhost(x.vhost, `exchange '${x.name}'`);
    if (!broker.exchangeTypes.has(x.type))
      throw badRequest(`definitions: exchange '${x.name}' has unknown type '${x.type}'`);
    await v.declareExchange({
      name: x.name,
      type: x.type,
      durable: x.durable,
      autoDelete: x.auto_delete,
      internal: x.internal,
      arguments: x.arguments,
    });
  }
  for (const q of defs.queues) {
    const v = vhost(q.vhost, `queue '${q.name}'`);
    await v.declareQueue(
      {
        name: q.name,
        durable: q.durable,
        autoDelete: q.auto_delete,
        exclusive: false,
        arguments: q.arguments,
      },
      'definitions-import',
    );
  }
  for (const b of defs.bindings) {
    const v = vhost(b.vhost, 'binding');
    const dest =
      b.destination_type === 'queue' ? v.queues.get(b.destination) : v.exchanges.get(b.destination);
    if (!dest)
      throw badRequest(
        `definitions: binding refers to unknown ${b.destination_type} '${b.destination}' in vhost '${b.vhost}'`,
      );
    if (!v.exchanges.has(b.source))
      throw badRequest(`definitions: binding refers to unknown exchange '${b.source}' in vhost '${b.vhost}'`);
    await v.bind(b.source, dest, b.routing_key, b.arguments);
  }
  // Limits last, so that an import's own queues are not refused by the limits it sets. As
  // RabbitMQ's set_vhost_limits / set_user_limits, a set of limits replaces the previous one.
  for (const { vhost: name, limits } of vhostLimitParameters(defs)) {
    const v = vhost(name, 'vhost-limits parameter');
    for (const known of Object.keys(v.limits.toJSON()))
      if (!(known in limits)) await broker.setVhostLimit(name, known, null);
    for (const [k, n] of Object.entries(limits)) await broker.setVhostLimit(name, k, n);
  }
  for (const u of defs.users) {
    if (!u.limits) continue;
    for (const known of Object.keys(broker.userLimits(u.name)))
      if (!(known in u.limits)) await broker.setUserLimit(u.name, known, null);
    for (const [k, n] of Object.entries(u.limits)) await broker.setUserLimit(u.name, k, n);
  }
}

/** Rewrites every object's vhost (POST /api/definitions/{vhost}: a single-vhost import). */
export function intoVhost(defs: RabbitDefinitions, vhost: string): RabbitDefinitions {
  return {
    ...defs,
    users: [],
    vhosts: [],
    permissions: [],
    policies: defs.policies.map((p) => ({ ...p, vhost })),
    queues: defs.queues.map((q) => ({ ...q, vhost })),
    exchanges: defs.exchanges.map((x) => ({ ...x, vhost })),
    bindings: defs.bindings.map((b) => ({ ...b, vhost })),
    parameters: defs.parameters.map((p) => ({ ...(p as Obj), vhost })),
  };
}

/** Validates on a scratch copy of the broker, then applies for real: all or nothing. */
export async function importDefinitions(
  broker: Broker,
  defs: RabbitDefinitions,
  meta: VhostMeta,
): Promise<void> {
  const scratch = await Broker.start({
    defaultUser: null,
    exchangeTypes: broker.exchangeTypes.names().map((n) => broker.exchangeTypes.get(n)),
  });
  try {
    await apply(scratch, exportDefinitions(broker, meta), null);
    await apply(scratch, defs, null);
  } catch (err) {
    if (err instanceof Error && err.name === 'HttpError') throw err;
    throw badRequest(`definitions: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await scratch.close();
  }
  await apply(broker, defs, meta);
}
