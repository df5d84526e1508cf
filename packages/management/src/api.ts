/**
 * The /api routes, shaped like RabbitMQ's management API. Every change to queues,
 * exchanges, bindings and messages goes through a core Session opened for the HTTP user,
 * so AMQP permissions and semantics apply exactly as for a client.
 */
import { availableParallelism, hostname } from 'node:os';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import {
  BrokerError,
  createMessage,
  type Broker,
  type ConnectionSnapshot,
  type FieldTable,
  type Principal,
  type ProtocolAdapter,
  type Session,
} from '@junction/core';
import type { Vhost } from '@junction/core/internal';
import {
  checkHashingAlgorithm,
  exportDefinitions,
  importDefinitions,
  intoVhost,
  parseApplyTo,
  parseDefinitions,
  parseTags,
  HASHING_ALGORITHM,
  PRODUCT_VERSION,
  RABBIT_VERSION,
  type VhostMeta,
} from './definitions.js';
import {
  connectionJson,
  connectionName,
  exchangeJson,
  NODE_NAME,
  propertiesKey,
  queueJson,
  vhostBindings,
  type BindingJson,
} from './format.js';
import {
  HttpError,
  Router,
  badRequest,
  forbidden,
  notFound,
  optBool,
  optInt,
  optObject,
  optString,
  readJson,
  sendJson,
  sendStatus,
  unauthorized,
  type Ctx,
} from './http.js';
import { listQuery } from './list.js';
import { getResultJson, payloadFromJson, propertiesFromJson } from './messages.js';
import type { MessageStats } from './stats.js';

export interface ApiContext {
  broker: Broker;
  adapters: () => Iterable<ProtocolAdapter>;
  stats: MessageStats;
  vhostMeta: VhostMeta;
  /** Listening addresses of the protocol adapters, for /api/overview. */
  listeners?: () => { protocol: string; port: number; ip_address: string }[];
  /** The management listener's port, for /api/overview contexts. */
  port: () => number;
  log: Logger;
}

const MANAGEMENT_TAGS = ['administrator', 'monitoring', 'policymaker', 'management'];
let httpConnectionCounter = 0;

/** `amq.default` in a URL is the default exchange, as in RabbitMQ. */
const exchangeName = (n: string): string => (n === 'amq.default' ? '' : n);

export function createApi(ctx: ApiContext): {
  router: Router;
  authenticate(req: IncomingMessage): Promise<Principal>;
} {
  const { broker, stats, vhostMeta } = ctx;
  const router = new Router();
  // The principal of the request being handled, set by the server before dispatch.
  const principals = new WeakMap<IncomingMessage, Principal>();

  // ---- authentication and authorization --------------------------------------------------

  async function authenticate(req: IncomingMessage): Promise<Principal> {
    const header = req.headers.authorization;
    if (!header?.startsWith('Basic ')) throw unauthorized('Not authorised: credentials required');
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw unauthorized();
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    let p: Principal;
    try {
      p = await broker.authenticate(
        { username, password },
        {
          id: 'http-auth',
          protocol: 'http',
          remoteAddress: req.socket.remoteAddress ?? '',
          remotePort: req.socket.remotePort ?? 0,
          localPort: req.socket.localPort ?? 0,
        },
      );
    } catch (err) {
      if (err instanceof BrokerError)
        throw unauthorized(
          /localhost/.test(err.message) ? err.message.replace(/^ACCESS_REFUSED - /, '') : 'Login failed',
        );
      throw err;
    }
    if (!p.tags.some((t) => MANAGEMENT_TAGS.includes(t))) throw forbidden('Not management user');
    principals.set(req, p);
    return p;
  }

  const who = (c: Ctx): Principal => {
    const p = principals.get(c.req);
    if (!p) throw unauthorized();
    return p;
  };
  const isAdmin = (p: Principal): boolean => p.tags.includes('administrator');
  const isMonitor = (p: Principal): boolean => isAdmin(p) || p.tags.includes('monitoring');
  const requireAdmin = (c: Ctx): Principal => {
    const p = who(c);
    if (!isAdmin(p)) throw forbidden('Not administrator user');
    return p;
  };
  const requireMonitor = (c: Ctx): Principal => {
    const p = who(c);
    if (!isMonitor(p)) throw forbidden('Not monitor user');
    return p;
  };
  const seesVhost = (p: Principal, vhost: string): boolean =>
    isMonitor(p) || broker.users.hasVhostAccess(vhost, p.username);
  const visibleVhosts = (p: Principal): Vhost[] =>
    [...broker.vhosts.values()].filter((v) => seesVhost(p, v.name));

  /** The vhost named in the path: 404 if unknown, 403 if the user may not see it. */
  const vhostOf = (c: Ctx, name = c.params['vhost']!): Vhost => {
    const v = broker.vhosts.get(name);
    if (!v) throw notFound(`vhost '${name}' not found`);
    if (!seesVhost(who(c), name))
      throw forbidden(`access to vhost '${name}' refused for user '${who(c).username}'`);
    return v;
  };
  const vhostsFor = (c: Ctx): Vhost[] =>
    c.params['vhost'] !== undefined ? [vhostOf(c)] : visibleVhosts(who(c));

  /** Runs `fn` on a core session of an internal connection opened as the HTTP user. */
  async function withSession<T>(c: Ctx, vhost: string, fn: (s: Session) => Promise<T>): Promise<T> {
    if (!broker.vhosts.has(vhost)) throw notFound(`vhost '${vhost}' not found`);
    const req = c.req;
    const conn = broker.connect(
      who(c),
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

  const created = (c: Ctx, existed: boolean): void => sendStatus(c.res, existed ? 204 : 201);
  const noContent = (c: Ctx): void => sendStatus(c.res, 204);
  const json = (c: Ctx, body: unknown, status = 200): void => sendJson(c.res, status, body);
  /** A list answer, with RabbitMQ's filter, sort, columns and pagination query parameters. */
  const list = (c: Ctx, rows: object[]): void =>
    sendJson(c.res, 200, listQuery(rows as Record<string, unknown>[], c.query));

  // ---- connections, channels, consumers ------------------------------------------------------

  function snapshots(): { adapter: ProtocolAdapter; snap: ConnectionSnapshot }[] {
    const out: { adapter: ProtocolAdapter; snap: ConnectionSnapshot }[] = [];
    for (const adapter of ctx.adapters())
      for (const snap of adapter.connections()) out.push({ adapter, snap });
    return out;
  }
  const seesConnection = (p: Principal, s: ConnectionSnapshot): boolean =>
    isMonitor(p) || s.user === p.username;
  const findConnection = (c: Ctx): { adapter: ProtocolAdapter; snap: ConnectionSnapshot } => {
    const name = c.params['name']!;
    const found = snapshots().find(({ snap }) => connectionName(snap) === name || snap.id === name);
    if (!found || !seesConnection(who(c), found.snap)) throw notFound(`connection '${name}' not found`);
    return found;
  };

  function channels(p: Principal, filter?: (s: ConnectionSnapshot) => boolean): Record<string, unknown>[] {
    const snaps = new Map(snapshots().map(({ snap }) => [snap.id, snap]));
    const out: Record<string, unknown>[] = [];
    for (const conn of broker.connections.values()) {
      const snap = snaps.get(conn.id);
      if (!snap || !seesConnection(p, snap) || (filter && !filter(snap))) continue;
      const connName = connectionName(snap);
      let number = 0;
      for (const s of conn.sessions) {
        number++;
        out.push({
          name: `${connName} (${number})`,
          number,
          node: NODE_NAME,
          user: conn.username,
          vhost: conn.vhost,
          consumer_count: s.consumers.size,
          messages_unacknowledged: s.unackedCount,
          state: 'running',
          connection_details: { name: connName, peer_host: snap.remoteAddress, peer_port: snap.remotePort },
        });
      }
    }
    return out;
  }

  function consumers(p: Principal, vhosts: Vhost[]): Record<string, unknown>[] {
    const snaps = new Map(snapshots().map(({ snap }) => [snap.id, snap]));
    const out: Record<string, unknown>[] = [];
    for (const v of vhosts) {
      for (const q of v.queues.values()) {
        for (const cons of q.consumers.all()) {
          const snap = snaps.get(cons.owner.connectionId);
          if (
            !isMonitor(p) &&
            snap &&
            snap.user !== p.username &&
            !broker.users.hasVhostAccess(v.name, p.username)
          )
            continue;
          out.push({
            consumer_tag: cons.tag,
            queue: { name: q.name, vhost: v.name },
            channel_details: snap
              ? {
                  connection_name: connectionName(snap),
                  peer_host: snap.remoteAddress,
                  peer_port: snap.remotePort,
                  user: snap.user ?? '',
                }
              : { connection_name: cons.owner.connectionId },
            ack_required: !cons.spec.noAck,
            exclusive: cons.spec.exclusive,
            prefetch_count: cons.spec.prefetch,
            priority: cons.spec.priority,
            arguments: cons.spec.arguments,
            active: q.consumers.active === undefined || q.consumers.active === cons,
            activity_status:
              q.consumers.active === undefined || q.consumers.active === cons ? 'up' : 'waiting',
          });
        }
      }
    }
    return out;
  }

  router.on('GET', '/api/connections', (c) => {
    const p = who(c);
    list(
      c,
      snapshots()
        .filter(({ snap }) => seesConnection(p, snap))
        .map(({ snap }) => connectionJson(snap)),
    );
  });
  router.on('GET', '/api/connections/:name', (c) => json(c, connectionJson(findConnection(c).snap)));
  router.on('GET', '/api/connections/:name/channels', (c) => {
    const { snap } = findConnection(c);
    list(
      c,
      channels(who(c), (s) => s.id === snap.id),
    );
  });
  router.on('DELETE', '/api/connections/:name', async (c) => {
    const { adapter, snap } = findConnection(c);
    const p = who(c);
    if (!isAdmin(p) && snap.user !== p.username) throw forbidden('Not administrator user');
    const reason = c.req.headers['x-reason'];
    await adapter.closeConnection(
      snap.id,
      typeof reason === 'string' ? reason : 'Closed via management plugin',
    );
    noContent(c);
  });
  router.on('GET', '/api/vhosts/:vhost/connections', (c) => {
    const v = vhostOf(c);
    const p = who(c);
    list(
      c,
      snapshots()
        .filter(({ snap }) => snap.vhost === v.name && seesConnection(p, snap))
        .map(({ snap }) => connectionJson(snap)),
    );
  });
  router.on('GET', '/api/channels', (c) => list(c, channels(who(c))));
  router.on('GET', '/api/vhosts/:vhost/channels', (c) => {
    const v = vhostOf(c);
    list(
      c,
      channels(who(c), (s) => s.vhost === v.name),
    );
  });
  router.on('GET', '/api/consumers', (c) => list(c, consumers(who(c), visibleVhosts(who(c)))));
  router.on('GET', '/api/consumers/:vhost', (c) => list(c, consumers(who(c), [vhostOf(c)])));

  // ---- overview, nodes ---------------------------------------------------------------------

  router.on('GET', '/api/overview', (c) => {
    const p = who(c);
    const vhosts = visibleVhosts(p);
    let ready = 0;
    let unacked = 0;
    let queues = 0;
    let exchanges = 0;
    let consumerCount = 0;
    for (const v of vhosts) {
      queues += v.queues.size;
      exchanges += v.exchanges.size;
      for (const q of v.queues.values()) {
        ready += q.messageCount;
        unacked += q.unacked;
        consumerCount += q.consumerCount;
      }
    }
    const conns = snapshots().filter(({ snap }) => seesConnection(p, snap));
    json(c, {
      management_version: PRODUCT_VERSION,
      rates_mode: 'basic',
      product_name: 'Junction',
      product_version: PRODUCT_VERSION,
      rabbitmq_version: RABBIT_VERSION,
      node: NODE_NAME,
      cluster_name: NODE_NAME,
      exchange_types: broker.exchangeTypes.names().map((name) => ({ name, description: '', enabled: true })),
      message_stats: isMonitor(p)
        ? stats.global.messageStats()
        : mergeStats(vhosts.map((v) => stats.vhost(v.name).messageStats())),
      queue_totals: { messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked },
      object_totals: {
        connections: conns.length,
        channels: conns.reduce((n, { snap }) => n + (snap.channels ?? 0), 0),
        exchanges,
        queues,
        consumers: consumerCount,
      },
      listeners: (ctx.listeners?.() ?? []).map((l) => ({ node: NODE_NAME, ...l })),
      contexts: [
        { node: NODE_NAME, description: 'Junction Management', path: '/', port: String(ctx.port()) },
      ],
    });
  });

  router.on('GET', '/api/nodes', (c) => {
    requireMonitor(c);
    json(c, [nodeJson()]);
  });
  router.on('GET', '/api/nodes/:name', (c) => {
    requireMonitor(c);
    if (c.params['name'] !== NODE_NAME) throw notFound(`node '${c.params['name']}' not found`);
    json(c, nodeJson());
  });
  function nodeJson(): Record<string, unknown> {
    const mem = process.memoryUsage();
    return {
      name: NODE_NAME,
      type: 'disc',
      running: true,
      os_pid: String(process.pid),
      host: hostname(),
      uptime: Math.round(process.uptime() * 1000),
      processors: availableParallelism(),
      mem_used: mem.rss,
      mem_heap_used: mem.heapUsed,
      mem_alarm: false,
      disk_free_alarm: false,
      run_queue: 0,
      partitions: [],
      exchange_types: broker.exchangeTypes.names().map((name) => ({ name, description: '', enabled: true })),
    };
  }
  router.on('GET', '/api/cluster-name', (c) => json(c, { name: NODE_NAME }));
  router.on('GET', '/api/extensions', (c) => json(c, []));
  router.on('GET', '/api/whoami', (c) => {
    const p = who(c);
    json(c, { name: p.username, tags: [...p.tags] });
  });

  router.on('GET', '/api/aliveness-test/:vhost', async (c) => {
    const v = vhostOf(c);
    const ok = await withSession(c, v.name, async (s) => {
      await s.declareQueue({ name: 'aliveness-test', durable: false, autoDelete: false });
      const outcome = await new Promise<boolean>((resolve) =>
        s.publish(createMessage('', 'aliveness-test', Buffer.from('test_message')), {}, (o) => resolve(o.ok)),
      );
      const got = outcome ? await s.get('aliveness-test', { noAck: true }) : null;
      return got !== null;
    });
    if (!ok) throw new HttpError(503, 'failed', 'aliveness test message was not delivered');
    json(c, { status: 'ok' });
  });
  router.on('GET', '/api/health/checks/alarms', (c) => json(c, { status: 'ok' }));
  router.on('GET', '/api/health/checks/virtual-hosts', (c) => json(c, { status: 'ok' }));

  // ---- exchanges ---------------------------------------------------------------------------

  const listExchanges = (c: Ctx): void =>
    list(
      c,
      vhostsFor(c).flatMap((v) => [...v.exchanges.values()].map((x) => exchangeJson(v, x))),
    );
  router.on('GET', '/api/exchanges', listExchanges);
  router.on('GET', '/api/exchanges/:vhost', listExchanges);
  const exchangeOf = (c: Ctx): { v: Vhost; name: string } => {
    const v = vhostOf(c);
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
    const v = vhostOf(c);
    const name = exchangeName(c.params['name']!);
    const body = await readJson(c.req);
    const type = optString(body, 'type');
    if (type === undefined) throw badRequest("'type' is required");
    if (!broker.exchangeTypes.has(type)) throw badRequest(`unknown exchange type '${type}'`);
    const decl = {
      name,
      type,
      durable: optBool(body, 'durable', true),
      autoDelete: optBool(body, 'auto_delete', false),
      internal: optBool(body, 'internal', false),
      arguments: (optObject(body, 'arguments') ?? {}) as FieldTable,
    };
    const existed = v.exchanges.has(name);
    await withSession(c, v.name, (s) => s.declareExchange(decl));
    created(c, existed);
  });
  router.on('DELETE', '/api/exchanges/:vhost/:name', async (c) => {
    const { v, name } = exchangeOf(c);
    await withSession(c, v.name, (s) =>
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
    const routed = await withSession(
      c,
      v.name,
      (s) =>
        new Promise<boolean>((resolve, reject) => {
          try {
            s.publish(createMessage(name, routingKey, payload, properties), { mandatory: true }, (o) => {
              if (o.ok) stats.count('confirm', v.name, undefined);
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

  // ---- queues ------------------------------------------------------------------------------

  const listQueues = (c: Ctx): void =>
    list(
      c,
      vhostsFor(c).flatMap((v) => [...v.queues.values()].map((q) => queueJson(v, q, stats))),
    );
  router.on('GET', '/api/queues', listQueues);
  router.on('GET', '/api/queues/:vhost', listQueues);
  const queueOf = (c: Ctx): { v: Vhost; name: string } => {
    const v = vhostOf(c);
    const name = c.params['name']!;
    if (!v.queues.has(name)) throw notFound(`queue '${name}' in vhost '${v.name}' not found`);
    return { v, name };
  };
  router.on('GET', '/api/queues/:vhost/:name', (c) => {
    const { v, name } = queueOf(c);
    json(c, queueJson(v, v.queues.get(name)!, stats));
  });
  router.on('PUT', '/api/queues/:vhost/:name', async (c) => {
    const v = vhostOf(c);
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
    await withSession(c, v.name, (s) => s.declareQueue(decl));
    created(c, existed);
  });
  router.on('DELETE', '/api/queues/:vhost/:name', async (c) => {
    const { v, name } = queueOf(c);
    const opts = {
      ifEmpty: c.query.get('if-empty') === 'true',
      ifUnused: c.query.get('if-unused') === 'true',
    };
    await withSession(c, v.name, (s) => s.deleteQueue(name, opts));
    noContent(c);
  });
  router.on('DELETE', '/api/queues/:vhost/:name/contents', async (c) => {
    const { v, name } = queueOf(c);
    await withSession(c, v.name, (s) => s.purgeQueue(name));
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
    const out = await withSession(c, v.name, async (s) => {
      const results = [];
      for (let i = 0; i < count; i++) {
        const r = await s.get(name);
        if (!r) break;
        stats.count('get', v.name, name);
        stats.count('deliver_get', v.name, name);
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

  // ---- bindings ----------------------------------------------------------------------------

  router.on('GET', '/api/bindings', (c) => list(c, visibleVhosts(who(c)).flatMap(vhostBindings)));
  router.on('GET', '/api/bindings/:vhost', (c) => list(c, vhostBindings(vhostOf(c))));
  const bindingEnds = (c: Ctx, kind: 'q' | 'e'): { v: Vhost; source: string; dest: string } => {
    const v = vhostOf(c);
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
      await withSession(c, v.name, (s) =>
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
      await withSession(c, v.name, (s) =>
        kind === 'q'
          ? s.unbindQueue(dest, source, b.routing_key, b.arguments)
          : s.unbindExchange(dest, source, b.routing_key, b.arguments),
      );
      noContent(c);
    });
  }

  // ---- vhosts ------------------------------------------------------------------------------

  const vhostJson = (v: Vhost): Record<string, unknown> => {
    let ready = 0;
    let unacked = 0;
    for (const q of v.queues.values()) {
      ready += q.messageCount;
      unacked += q.unacked;
    }
    const m = vhostMeta.get(v.name) ?? { description: '', tags: [] };
    return {
      name: v.name,
      description: m.description,
      tags: m.tags,
      metadata: { description: m.description, tags: m.tags },
      default_queue_type: 'classic',
      tracing: false,
      messages: ready + unacked,
      messages_ready: ready,
      messages_unacknowledged: unacked,
      message_stats: stats.vhost(v.name).messageStats(),
      cluster_state: { [NODE_NAME]: 'running' },
    };
  };
  router.on('GET', '/api/vhosts', (c) => list(c, visibleVhosts(who(c)).map(vhostJson)));
  router.on('GET', '/api/vhosts/:vhost', (c) => json(c, vhostJson(vhostOf(c))));
  router.on('PUT', '/api/vhosts/:vhost', async (c) => {
    requireAdmin(c);
    const name = c.params['vhost']!;
    if (name === '') throw badRequest('vhost name must not be empty');
    const body = await readJson(c.req);
    const description = optString(body, 'description');
    const tags = body['tags'] === undefined ? undefined : parseTags(body['tags'], 'vhost');
    const existed = broker.vhosts.has(name);
    await broker.addVhost(name);
    const prev = vhostMeta.get(name) ?? { description: '', tags: [] };
    vhostMeta.set(name, { description: description ?? prev.description, tags: tags ?? prev.tags });
    created(c, existed);
  });
  router.on('DELETE', '/api/vhosts/:vhost', async (c) => {
    requireAdmin(c);
    const name = c.params['vhost']!;
    if (!broker.vhosts.has(name)) throw notFound(`vhost '${name}' not found`);
    await broker.deleteVhost(name);
    vhostMeta.delete(name);
    noContent(c);
  });
  router.on('GET', '/api/vhosts/:vhost/permissions', (c) => {
    requireAdmin(c);
    const v = vhostOf(c);
    list(
      c,
      broker.users
        .allPermissions()
        .filter((p) => p.vhost === v.name)
        .map(permissionJson),
    );
  });

  // ---- users and permissions -----------------------------------------------------------------

  const userJson = (u: {
    name: string;
    passwordHash: string;
    tags: readonly string[];
  }): Record<string, unknown> => ({
    name: u.name,
    password_hash: u.passwordHash,
    hashing_algorithm: HASHING_ALGORITHM,
    tags: [...u.tags],
    limits: {},
  });
  const permissionJson = (p: {
    vhost: string;
    user: string;
    permission: { configure: string; write: string; read: string };
  }) => ({
    user: p.user,
    vhost: p.vhost,
    ...p.permission,
  });
  router.on('GET', '/api/users', (c) => {
    requireAdmin(c);
    list(c, broker.users.list().map(userJson));
  });
  const userOf = (c: Ctx) => {
    const u = broker.users.get(c.params['user']!);
    if (!u) throw notFound(`user '${c.params['user']}' not found`);
    return u;
  };
  router.on('GET', '/api/users/:user', (c) => {
    requireAdmin(c);
    json(c, userJson(userOf(c)));
  });
  router.on('PUT', '/api/users/:user', async (c) => {
    requireAdmin(c);
    const name = c.params['user']!;
    if (name === '') throw badRequest('user name must not be empty');
    const body = await readJson(c.req);
    const password = optString(body, 'password');
    const passwordHash = optString(body, 'password_hash');
    checkHashingAlgorithm(body['hashing_algorithm'], 'user');
    if (
      passwordHash !== undefined &&
      passwordHash !== '' &&
      Buffer.from(passwordHash, 'base64').length !== 36
    ) {
      throw badRequest(`'password_hash' is not a ${HASHING_ALGORITHM} hash`);
    }
    const tags = parseTags(body['tags'], 'user');
    const existed = broker.users.get(name) !== undefined;
    if (password !== undefined) await broker.putUser(name, { password, tags });
    else if (passwordHash !== undefined) await broker.putUser(name, { passwordHash, tags });
    else await broker.putUser(name, existed ? { tags } : { passwordHash: '', tags });
    created(c, existed);
  });
  router.on('DELETE', '/api/users/:user', async (c) => {
    requireAdmin(c);
    const u = userOf(c);
    await broker.deleteUser(u.name);
    noContent(c);
  });
  router.on('GET', '/api/users/:user/permissions', (c) => {
    requireAdmin(c);
    const u = userOf(c);
    list(
      c,
      broker.users
        .allPermissions()
        .filter((p) => p.user === u.name)
        .map(permissionJson),
    );
  });
  router.on('GET', '/api/permissions', (c) => {
    requireAdmin(c);
    list(c, broker.users.allPermissions().map(permissionJson));
  });
  const permissionTarget = (c: Ctx): { vhost: string; user: string } => {
    requireAdmin(c);
    const vhost = vhostOf(c).name;
    return { vhost, user: userOf(c).name };
  };
  router.on('GET', '/api/permissions/:vhost/:user', (c) => {
    const { vhost, user } = permissionTarget(c);
    const p = broker.users.permission(vhost, user);
    if (!p) throw notFound(`no permissions for user '${user}' in vhost '${vhost}'`);
    json(c, { user, vhost, ...p });
  });
  router.on('PUT', '/api/permissions/:vhost/:user', async (c) => {
    const { vhost, user } = permissionTarget(c);
    const body = await readJson(c.req);
    const get = (k: string): string => {
      const v = optString(body, k);
      if (v === undefined) throw badRequest(`'${k}' is required`);
      return v;
    };
    const perm = { configure: get('configure'), write: get('write'), read: get('read') };
    const existed = broker.users.permission(vhost, user) !== undefined;
    await broker.setPermission(vhost, user, perm);
    created(c, existed);
  });
  router.on('DELETE', '/api/permissions/:vhost/:user', async (c) => {
    const { vhost, user } = permissionTarget(c);
    if (!broker.users.permission(vhost, user))
      throw notFound(`no permissions for user '${user}' in vhost '${vhost}'`);
    await broker.clearPermission(vhost, user);
    noContent(c);
  });

  // ---- policies ----------------------------------------------------------------------------

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
      vhostsFor(c).flatMap((v) => v.policies.list().map((p) => policyJson(v.name, p))),
    );
  router.on('GET', '/api/policies', listPolicies);
  router.on('GET', '/api/policies/:vhost', listPolicies);
  const policyOf = (c: Ctx) => {
    const v = vhostOf(c);
    const p = v.policies.list().find((x) => x.name === c.params['name']);
    if (!p) throw notFound(`policy '${c.params['name']}' in vhost '${v.name}' not found`);
    return { v, p };
  };
  const requirePolicymaker = (c: Ctx, v: Vhost): void => {
    const p = who(c);
    if (isAdmin(p)) return;
    if (p.tags.includes('policymaker') && broker.users.hasVhostAccess(v.name, p.username)) return;
    throw forbidden('Not policymaker user');
  };
  router.on('GET', '/api/policies/:vhost/:name', (c) => {
    const { v, p } = policyOf(c);
    json(c, policyJson(v.name, p));
  });
  router.on('PUT', '/api/policies/:vhost/:name', async (c) => {
    const v = vhostOf(c);
    requirePolicymaker(c, v);
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
    requirePolicymaker(c, v);
    await v.deletePolicy(p.name);
    noContent(c);
  });

  // ---- definitions -------------------------------------------------------------------------

  /** Runtime parameters (shovels, federation) and topic permissions have no Junction equivalent yet. */
  const warnIgnored = (defs: ReturnType<typeof parseDefinitions>): void => {
    const ignored = { parameters: defs.parameters.length, topic_permissions: defs.topic_permissions.length };
    if (ignored.parameters + ignored.topic_permissions > 0)
      ctx.log.warn(ignored, 'definitions import: ignored unsupported items');
  };
  router.on('GET', '/api/definitions', (c) => {
    requireAdmin(c);
    json(c, exportDefinitions(broker, vhostMeta));
  });
  router.on('GET', '/api/definitions/:vhost', (c) => {
    requireAdmin(c);
    json(c, exportDefinitions(broker, vhostMeta, vhostOf(c).name));
  });
  router.on('POST', '/api/definitions', async (c) => {
    requireAdmin(c);
    const defs = parseDefinitions(await readJson(c.req));
    await importDefinitions(broker, defs, vhostMeta);
    warnIgnored(defs);
    noContent(c);
  });
  router.on('POST', '/api/definitions/:vhost', async (c) => {
    requireAdmin(c);
    const v = vhostOf(c);
    const defs = intoVhost(parseDefinitions(await readJson(c.req)), v.name);
    await importDefinitions(broker, defs, vhostMeta);
    noContent(c);
  });

  return { router, authenticate };
}

function mergeStats(
  all: Record<string, number | { rate: number }>[],
): Record<string, number | { rate: number }> {
  const out: Record<string, number | { rate: number }> = {};
  for (const s of all) {
    for (const [k, v] of Object.entries(s)) {
      const prev = out[k];
      if (typeof v === 'number') out[k] = (typeof prev === 'number' ? prev : 0) + v;
      else out[k] = { rate: (typeof prev === 'object' ? prev.rate : 0) + v.rate };
    }
  }
  return out;
}

export { HttpError };
