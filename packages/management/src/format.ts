/** RabbitMQ-shaped JSON for broker objects (same field names as the RabbitMQ management API). */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Binding, ConnectionSnapshot, FieldTable } from '@junction/core';
import type { Exchange, Queue, Vhost } from '@junction/core/internal';
import { exchangeDeclaration } from './definitions.js';
import type { MessageStats } from './stats.js';

export const NODE_NAME = `junction@${hostname()}`;

/** @param node the queue's owner in a cluster; this node's name otherwise. */
export function queueJson(
  v: Vhost,
  q: Queue,
  stats: MessageStats,
  node: string = NODE_NAME,
): Record<string, unknown> {
  const policy = v.policies.match('queues', q.name);
  const s = q.stats();
  return {
    name: q.name,
    vhost: v.name,
    type: q.type.name,
    node,
    durable: q.options.durable,
    auto_delete: q.options.autoDelete,
    exclusive: q.options.exclusiveOwner !== null,
    owner_pid_details: q.options.exclusiveOwner === null ? undefined : { name: q.options.exclusiveOwner },
    arguments: q.options.arguments,
    policy: policy?.name ?? null,
    effective_policy_definition: policy?.definition ?? {},
    messages: s.ready + s.unacked,
    messages_ready: s.ready,
    messages_unacknowledged: s.unacked,
    message_bytes_ready: s.readyBytes,
    consumers: s.consumers,
    active_consumers:
      s.singleActiveConsumer === undefined ? s.consumers : s.singleActiveConsumer === null ? 0 : 1,
    single_active_consumer_tag: s.singleActiveConsumer,
    message_stats: stats.queue(v.name, q.name).messageStats(),
    state: 'running',
  };
}

export function exchangeJson(v: Vhost, x: Exchange): Record<string, unknown> {
  const policy = v.policies.match('exchanges', x.name);
  return {
    ...exchangeDeclaration(v, x),
    policy: policy?.name ?? null,
    user_who_performed_action: 'rmq-internal',
  };
}

/** RabbitMQ's properties_key: the routing key alone, or "key~hash" when the binding has arguments. */
export function propertiesKey(routingKey: string, args: FieldTable): string {
  const hasArgs = Object.keys(args).length > 0;
  if (!hasArgs) return routingKey === '' ? '~' : routingKey.replace(/~/g, '%7E');
  const hash = createHash('sha256').update(stableJson(args)).digest('base64url').slice(0, 22);
  return `${routingKey.replace(/~/g, '%7E')}~${hash}`;
}

function stableJson(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return JSON.stringify(v.toString('base64'));
  if (v instanceof Date) return String(v.getTime());
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export interface BindingJson {
  source: string;
  vhost: string;
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
  arguments: FieldTable;
  properties_key: string;
}

export function bindingJson(vhost: string, b: Binding): BindingJson {
  return {
    source: b.source,
    vhost,
    destination: b.destination.name,
    destination_type: b.destination.kind,
    routing_key: b.routingKey,
    arguments: b.args,
    properties_key: propertiesKey(b.routingKey, b.args),
  };
}

/** Every binding in a vhost, including the implicit default-exchange binding of each queue (as RabbitMQ lists them). */
export function vhostBindings(v: Vhost): BindingJson[] {
  const out: BindingJson[] = [];
  for (const q of v.queues.values()) {
    out.push({
      source: '',
      vhost: v.name,
      destination: q.name,
      destination_type: 'queue',
      routing_key: q.name,
      arguments: {},
      properties_key: propertiesKey(q.name, {}),
    });
  }
  for (const b of v.bindings()) out.push(bindingJson(v.name, b));
  return out;
}

export function connectionName(c: ConnectionSnapshot): string {
  return `${c.remoteAddress}:${c.remotePort} -> ${c.id}`;
}

export function connectionJson(c: ConnectionSnapshot): Record<string, unknown> {
  return {
    name: connectionName(c),
    id: c.id,
    node: NODE_NAME,
    type: 'network',
    protocol: c.protocolVersion,
    user: c.user ?? '',
    vhost: c.vhost ?? '',
    peer_host: c.remoteAddress,
    peer_port: c.remotePort,
    port: c.localPort,
    connected_at: c.connectedAt,
    channels: c.channels ?? 0,
    client_properties: c.clientProperties ?? {},
    client_id: c.clientId,
    ...(c.subscriptions
      ? {
          subscriptions: c.subscriptions.map((s) => ({
            filter: s.filter,
            qos: s.qos,
            kind: s.kind,
            queue: s.queue,
            messages: s.waiting,
          })),
        }
      : {}),
    state: c.state,
    recv_oct: c.bytesIn,
    send_oct: c.bytesOut,
    ...tlsJson(c),
  };
}

/** RabbitMQ's TLS fields of a connection (ssl, ssl_protocol, ssl_cipher, peer_cert_*). */
function tlsJson(c: ConnectionSnapshot): Record<string, unknown> {
  const tls = c.tls;
  if (!tls) return { ssl: false };
  const peer = tls.peerCertificate;
  return {
    ssl: true,
    ssl_protocol: tls.protocol,
    ssl_cipher: tls.cipher,
    peer_cert_subject: peer?.subject ?? null,
    peer_cert_issuer: peer?.issuer ?? null,
    peer_cert_validity: peer ? `${peer.validFrom} - ${peer.validTo}` : null,
    peer_cert_subject_alt_name: peer?.subjectAltName ?? null,
  };
}
