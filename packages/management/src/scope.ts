/**
 * What every route module shares: the broker and the request's principal, the management
 * tags' rules (who may see which vhost and connection), vhost lookup, core sessions opened
 * as the HTTP user, and the answer helpers.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Broker, ConnectionSnapshot, Principal, ProtocolAdapter, Session } from '@junction/core';
import type { Queue, Vhost } from '@junction/core/internal';
import type { ClusterView } from './cluster-view.js';
import type { VhostMeta } from './definitions.js';
import { forbidden, notFound, sendJson, sendStatus, unauthorized, type Ctx, type Router } from './http.js';
import { listQuery } from './list.js';
import { NODE_NAME } from './format.js';
import type { MessageStats } from './stats.js';

/** What the resource alarms watch: bytes used and allowed (memory), free and the free limit (disk). */
export interface Resources {
  memUsed?: number;
  memLimit?: number;
  diskFree?: number;
  diskFreeLimit?: number;
}

export interface ApiContext {
  broker: Broker;
  adapters: () => Iterable<ProtocolAdapter>;
  stats: MessageStats;
  vhostMeta: VhostMeta;
  /** Listening addresses of the protocol adapters, for /api/overview. */
  listeners?: () => { protocol: string; port: number; ip_address: string }[];
  resources?: () => Resources;
  /** The management listener's port, for /api/overview contexts. */
  port: () => number;
  log: Logger;
  /** In cluster mode: the nodes and queue owners. */
  cluster?: ClusterView;
}

/** A route module: registers its routes on the router. */
export type Routes = (router: Router, s: Scope) => void;

let httpConnectionCounter = 0;

/** `amq.default` in a URL is the default exchange, as in RabbitMQ. */
export const exchangeName = (n: string): string => (n === 'amq.default' ? '' : n);

export const isAdmin = (p: Principal): boolean => p.tags.includes('administrator');
export const isMonitor = (p: Principal): boolean => isAdmin(p) || p.tags.includes('monitoring');

export class Scope {
  readonly broker: Broker;
  /** The principal of the request being handled, set by authentication before dispatch. */
  readonly principals = new WeakMap<IncomingMessage, Principal>();

  constructor(readonly ctx: ApiContext) {
    this.broker = ctx.broker;
  }

  who(c: Ctx): Principal {
    const p = this.principals.get(c.req);
    if (!p) throw unauthorized();
    return p;
  }

  requireAdmin(c: Ctx): Principal {
    const p = this.who(c);
    if (!isAdmin(p)) throw forbidden('Not administrator user');
    return p;
  }

  requireMonitor(c: Ctx): Principal {
    const p = this.who(c);
    if (!isMonitor(p)) throw forbidden('Not monitor user');
    return p;
  }

  /** Administrators, or policymakers with access to `vhost` (policies and vhost limits). */
  requirePolicymaker(c: Ctx, vhost: Vhost): Principal {
    const p = this.who(c);
    if (isAdmin(p)) return p;
    if (p.tags.includes('policymaker') && this.broker.users.hasVhostAccess(vhost.name, p.username)) return p;
    throw forbidden('Not policymaker user');
  }

  seesVhost(p: Principal, vhost: string): boolean {
    return isMonitor(p) || this.broker.users.hasVhostAccess(vhost, p.username);
  }

  visibleVhosts(p: Principal): Vhost[] {
    return [...this.broker.vhosts.values()].filter((v) => this.seesVhost(p, v.name));
  }

  /** The vhost named in the path: 404 if unknown, 403 if the user may not see it. */
  /** The node a queue lives on: its owner in a cluster (empty while it has none), else this one. */
  queueNode(v: Vhost, q: Queue): string {
    const cluster = this.ctx.cluster;
    return cluster ? (cluster.queueOwner(v.name, q.name) ?? '') : NODE_NAME;
  }

  vhostOf(c: Ctx, name = c.params['vhost']!): Vhost {
    const v = this.broker.vhosts.get(name);
    if (!v) throw notFound(`vhost '${name}' not found`);
    if (!this.seesVhost(this.who(c), name))
      throw forbidden(`access to vhost '${name}' refused for user '${this.who(c).username}'`);
    return v;
  }

  /** The path's vhost, or every vhost the user sees when the path names none. */
  vhostsFor(c: Ctx): Vhost[] {
    return c.params['vhost'] !== undefined ? [this.vhostOf(c)] : this.visibleVhosts(this.who(c));
  }

  /** Runs `fn` on a core session of an internal connection opened as the HTTP user. */
  async withSession<T>(c: Ctx, vhost: string, fn: (s: Session) => Promise<T>): Promise<T> {
    if (!this.broker.vhosts.has(vhost)) throw notFound(`vhost '${vhost}' not found`);
    const req = c.req;
    const conn = this.broker.connect(
      this.who(c),
      vhost,
      {
        id: `http-${++httpConnectionCounter}`,
        protocol: 'http',
        protocolVersion: 'HTTP/1.1',
        remoteAddress: req.socket.remoteAddress ?? '',
        remotePort: req.socket.remotePort ?? 0,
        localPort: req.socket.localPort ?? 0,
      },
      { close: async () => {} },
    );
    try {
      return await fn(conn.openSession());
    } finally {
      await conn.close();
    }
  }

  /** Every protocol connection, with the adapter that owns it. */
  snapshots(): { adapter: ProtocolAdapter; snap: ConnectionSnapshot }[] {
    const out: { adapter: ProtocolAdapter; snap: ConnectionSnapshot }[] = [];
    for (const adapter of this.ctx.adapters())
      for (const snap of adapter.connections()) out.push({ adapter, snap });
    return out;
  }

  seesConnection(p: Principal, s: ConnectionSnapshot): boolean {
    return isMonitor(p) || s.user === p.username;
  }
}

export const created = (c: Ctx, existed: boolean): void => sendStatus(c.res, existed ? 204 : 201);
export const noContent = (c: Ctx): void => sendStatus(c.res, 204);
export const json = (c: Ctx, body: unknown, status = 200): void => sendJson(c.res, status, body);
/** A list answer, with RabbitMQ's filter, sort, columns and pagination query parameters. */
export const list = (c: Ctx, rows: object[]): void =>
  sendJson(c.res, 200, listQuery(rows as Record<string, unknown>[], c.query));
