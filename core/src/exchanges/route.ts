/**
 * The routing walk, once for every exchange type (CONVENTIONS #2): exchange-to-exchange
 * bindings with a visited set (cycles are legal and must terminate), alternate-exchange
 * when an exchange routes nowhere, and RabbitMQ's sender-selected distribution (CC/BCC
 * headers add routing keys).
 */
import type { DirectSubscription } from '../direct-subscription.js';
import type { FieldValue } from '../message.js';
import type { Queue } from '../queues/queue-type.js';
import type { Destination, Routable } from './exchange-type.js';
import type { Exchange } from './exchange.js';

export interface RoutingScope {
  readonly exchanges: ReadonlyMap<string, Exchange>;
  readonly queues: ReadonlyMap<string, Queue>;
}

/** Where a message goes: queues, and direct subscriptions (bound only from exchange indexes). */
export type RouteTarget = Queue | DirectSubscription;

export function route(scope: RoutingScope, exchange: Exchange, msg: Routable): RouteTarget[] {
  const cc = extraKeys(msg.properties.headers?.['CC'], msg.properties.headers?.['BCC']);
  // Fast path: the default exchange binds every queue by its name.
  if (exchange.name === '' && cc === null) {
    const q = scope.queues.get(msg.routingKey);
    return q ? [q] : [];
  }
  const out = new Set<RouteTarget>();
  walk(scope, exchange, msg, out, new Set());
  // Each extra key is a routing of its own through the whole graph.
  if (cc)
    for (const key of cc)
      walk(scope, exchange, { routingKey: key, properties: msg.properties }, out, new Set());
  return [...out];
}

function walk(
  scope: RoutingScope,
  exchange: Exchange,
  msg: Routable,
  out: Set<RouteTarget>,
  visited: Set<Exchange>,
): void {
  if (visited.has(exchange)) return;
  visited.add(exchange);
  const before = out.size;
  if (exchange.name === '') {
    const q = scope.queues.get(msg.routingKey);
    if (q) out.add(q);
  } else {
    const dests = new Set<Destination>();
    exchange.index.match(msg, dests);
    for (const d of dests) {
      if (d.kind === 'queue') out.add(d as Queue);
      else if (d.kind === 'direct') out.add(d as DirectSubscription);
      else walk(scope, d as Exchange, msg, out, visited);
    }
  }
  if (out.size === before && exchange.alternateExchange !== undefined) {
    const ae = scope.exchanges.get(exchange.alternateExchange);
    if (ae && !visited.has(ae)) walk(scope, ae, msg, out, visited);
  }
}

function extraKeys(cc: FieldValue, bcc: FieldValue): string[] | null {
  if (cc === undefined && bcc === undefined) return null;
  const keys: string[] = [];
  for (const v of [cc, bcc]) if (Array.isArray(v)) for (const k of v) if (typeof k === 'string') keys.push(k);
  return keys.length ? keys : null;
}
