/**
 * Definitions another node wrote to the shared store, applied to this broker's memory and
 * nothing written back (the store has them already). Every apply is idempotent and takes
 * the stored value as the truth, so a full reload (reconcile) is the same code: each stored
 * definition put, each one memory has and the store does not deleted. A cluster node runs
 * this from the store's change feed; a single node never does.
 */
import { storedUser } from './auth/users.js';
import type { Broker } from './broker.js';
import { definitionIdentity } from './storage/identity.js';
import type {
  BindingDefinition,
  DefinitionChange,
  Definitions,
  ExchangeDefinition,
  QueueDefinition,
} from './storage/store.js';
import type { Vhost } from './vhost.js';

/** What the mirror needs of the broker beyond its public face. */
export interface MirrorAccess {
  readonly broker: Broker;
  /** Creates the vhost in memory if it is not there (nothing stored). */
  vhostFor(name: string): Vhost;
  /** Closes its connections and forgets it (nothing stored). */
  forgetVhost(name: string): Promise<void>;
  setUserLimits(user: string, limits: Record<string, number> | undefined): void;
}

type Kind = DefinitionChange['kind'];
/** Puts in dependency order (a binding needs its queue, a queue its vhost); deletes the other way. */
const PUT_ORDER: readonly Kind[] = ['vhost', 'user', 'permission', 'policy', 'exchange', 'queue', 'binding'];

export async function applyStoredChanges(
  m: MirrorAccess,
  changes: readonly DefinitionChange[],
): Promise<void> {
  const touchedPolicies = new Set<Vhost>();
  for (const c of changes) {
    try {
      await applyOne(m, c, touchedPolicies);
    } catch (err) {
      // One definition this broker cannot take (a type it does not have) must not stop the rest.
      m.broker.log.warn(
        { err, change: { op: c.op, kind: c.kind } },
        'definition from another node not applied',
      );
    }
  }
  for (const v of touchedPolicies) v.reapplyPolicies();
}

/** The changes that make memory match `defs`, the stored definitions in full. */
export function reconcileChanges(m: MirrorAccess, defs: Definitions): DefinitionChange[] {
  const stored = new Map<string, DefinitionChange>();
  const add = (kind: Kind, value: object): void => {
    stored.set(key(kind, value), { op: 'put', kind, value } as DefinitionChange);
  };
  for (const v of defs.vhosts) add('vhost', v);
  for (const u of defs.users) add('user', u);
  for (const p of defs.permissions) add('permission', p);
  for (const p of defs.policies) add('policy', p);
  for (const x of defs.exchanges) add('exchange', x);
  for (const q of defs.queues) add('queue', q);
  for (const b of defs.bindings) add('binding', b);
  const deletes: DefinitionChange[] = [];
  for (const [k, del] of currentKeys(m.broker)) if (!stored.has(k)) deletes.push(del);
  const rank = (c: DefinitionChange): number => PUT_ORDER.indexOf(c.kind);
  return [
    ...deletes.sort((a, b) => rank(b) - rank(a)),
    ...[...stored.values()].sort((a, b) => rank(a) - rank(b)),
  ];
}

function key(kind: Kind, value: object): string {
  return `${kind}\u0000${definitionIdentity(kind, value as Record<string, unknown>)}`;
}

/** What memory holds that the store would hold too, as the delete of each. */
function currentKeys(broker: Broker): Map<string, DefinitionChange> {
  const out = new Map<string, DefinitionChange>();
  const del = (kind: Kind, k: Record<string, unknown>): void => {
    out.set(key(kind, k), { op: 'delete', kind, key: k } as DefinitionChange);
  };
  for (const u of broker.users.list()) del('user', { name: u.name });
  for (const p of broker.users.allPermissions()) del('permission', { vhost: p.vhost, user: p.user });
  for (const v of broker.vhosts.values()) {
    del('vhost', { name: v.name });
    for (const p of v.policies.list()) del('policy', { vhost: v.name, name: p.name });
    for (const x of v.exchanges.values())
      if (x.durable && !v.isBuiltinExchange(x.name)) del('exchange', { vhost: v.name, name: x.name });
    for (const q of v.queues.values()) if (q.stored) del('queue', { vhost: v.name, name: q.name });
    for (const b of v.storedBindings())
      del('binding', v.bindingDefinition(b) as unknown as Record<string, unknown>);
  }
  return out;
}

async function applyOne(m: MirrorAccess, c: DefinitionChange, policies: Set<Vhost>): Promise<void> {
  const { broker } = m;
  if (c.op === 'put') {
    switch (c.kind) {
      case 'vhost': {
        const v = m.vhostFor(c.value.name);
        v.limits.replace(c.value.limits);
        return;
      }
      case 'user': {
        broker.users.put(storedUser(c.value));
        m.setUserLimits(c.value.name, c.value.limits);
        return;
      }
      case 'permission':
        if (broker.vhosts.has(c.value.vhost))
          broker.users.setPermission(c.value.vhost, c.value.user, c.value);
        return;
      case 'policy': {
        const v = broker.vhosts.get(c.value.vhost);
        if (!v) return;
        const { vhost: _vhost, ...p } = c.value;
        if (JSON.stringify(v.policies.get(p.name)) === JSON.stringify(p)) return;
        v.policies.put(p);
        policies.add(v);
        return;
      }
      case 'exchange':
        return putExchange(broker.vhosts.get(c.value.vhost), c.value);
      case 'queue':
        return putQueue(broker.vhosts.get(c.value.vhost), c.value);
      case 'binding':
        return putBinding(broker.vhosts.get(c.value.vhost), c.value);
    }
  }
  switch (c.kind) {
    case 'vhost':
      return m.forgetVhost(c.key.name);
    case 'user':
      broker.users.delete(c.key.name);
      m.setUserLimits(c.key.name, undefined);
      return;
    case 'permission':
      broker.users.clearPermission(c.key.vhost, c.key.user);
      return;
    case 'policy': {
      const v = broker.vhosts.get(c.key.vhost);
      if (v?.policies.delete(c.key.name)) policies.add(v);
      return;
    }
    case 'exchange':
      return broker.vhosts.get(c.key.vhost)?.forgetExchange(c.key.name);
    case 'queue': {
      const v = broker.vhosts.get(c.key.vhost);
      const q = v?.queues.get(c.key.name);
      if (v && q) await v.removeQueue(q, { alreadyStored: true });
      return;
    }
    case 'binding':
      return broker.vhosts.get(c.key.vhost)?.forgetBinding(c.key);
  }
}

function putExchange(v: Vhost | undefined, x: ExchangeDefinition): void {
  if (!v || v.exchanges.has(x.name)) return;
  v.restoreExchange(x.name, x.type, {
    durable: true,
    autoDelete: x.autoDelete,
    internal: x.internal,
    arguments: x.arguments,
  });
}

async function putQueue(v: Vhost | undefined, q: QueueDefinition): Promise<void> {
  if (!v || v.queues.has(q.name)) return;
  await v.adoptStoredQueue(q);
}

async function putBinding(v: Vhost | undefined, b: BindingDefinition): Promise<void> {
  if (!v) return;
  const dest = b.destinationType === 'queue' ? v.queues.get(b.destination) : v.exchanges.get(b.destination);
  if (!dest || !v.exchanges.has(b.source)) return;
  await v.bind(b.source, dest, b.routingKey, b.arguments, { alreadyStored: true });
}
