/**
 * @junction/management: the HTTP management plane. A RabbitMQ-shaped management API under
 * /api, Prometheus metrics at /metrics, liveness/readiness at /healthz and /readyz, and the
 * static web UI at / and /ui/ (served from `uiDir` when given).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { TLSSocket } from 'node:tls';
import type { Broker, ClientCertMode, ProtocolAdapter, TlsSettings } from '@junction/core';
import { acceptsPeer, clientCertMode, secureContextOptions, serverOptions } from '@junction/net';
import { createApi } from './api.js';
import type { ClusterView } from './cluster-view.js';
import type { VhostMeta } from './definitions.js';
import {
  checkDeclaredLength,
  checkStateChange,
  DEFAULT_LIMITS,
  setSecurityHeaders,
  type Limits,
} from './guard.js';
import { HttpError, sendError, sendJson, setBodyLimit, splitPath, toHttpError } from './http.js';
import { Metrics } from './metrics.js';
import type { Resources } from './scope.js';
import { MessageStats, type StatsOptions } from './stats.js';
import { serveStatic } from './static.js';

export interface ManagementOptions {
  broker: Broker;
  adapters: () => Iterable<ProtocolAdapter>;
  log: Logger;
  /**
   * Where vhost metadata the core does not keep (description, tags) lives. Default: in memory.
   * The server may pass a map it persists.
   */
  store?: { vhostMeta?: VhostMeta };
  /** Message rate sampling (default: a sample per second, rates over 5 s). */
  rates?: StatsOptions;
  /**
   * Directory of the static web UI, served at / and /ui/ (its charting library, uPlot, at
   * /ui/vendor/uplot/ from the installed package). Default: this package's ui/ directory; null: no UI.
   */
  uiDir?: string | null;
  /** Readiness beyond the management listener itself (e.g. the protocol listeners are up). Default: ready. */
  ready?: () => boolean;
  /** Why the node cannot serve right now (e.g. cut off from the cluster's Redis), or null: /readyz says it with a 503. */
  unreadyReason?: () => string | null;
  /** Cluster mode: /api/nodes lists every node, /api/queues each queue's owner. */
  cluster?: ClusterView;
  /** Protocol listener addresses shown in /api/overview. */
  listeners?: () => { protocol: string; port: number; ip_address: string }[];
  /** Memory and disk readings behind the resource alarms, for /api/nodes and /metrics. */
  resources?: () => Resources;
  /** Request size limits: body (413 beyond) and head (431 beyond). */
  limits?: Partial<Limits>;
}

export interface ManagementServer {
  /**
   * Serves the API and UI on a port: HTTP, or HTTPS with `tls`. May be called once for each
   * (RabbitMQ's 15672 and 15671).
   */
  listen(port: number, host: string, tls?: TlsSettings): Promise<AddressInfo>;
  /** New certificate material for the HTTPS listener; open connections keep their session. */
  reloadTls(tls: TlsSettings): void;
  close(): Promise<void>;
  /** Marks the broker as (not) ready for /readyz, e.g. while shutting down. */
  setReady(ready: boolean): void;
  readonly stats: MessageStats;
}

export function createManagementServer(opts: ManagementOptions): ManagementServer {
  const { broker, log } = opts;
  const uiDir = opts.uiDir === undefined ? fileURLToPath(new URL('../ui/', import.meta.url)) : opts.uiDir;
  const vendor = uiDir === null ? null : vendorDirs();
  const stats = new MessageStats(broker, opts.rates);
  const metrics = new Metrics(broker, opts.adapters, stats, opts.resources);
  let address: AddressInfo | undefined;
  let listening = false;
  let closing = false;
  let readyFlag = true;
  const api = createApi({
    broker,
    adapters: opts.adapters,
    stats,
    vhostMeta: opts.store?.vhostMeta ?? new Map(),
    ...(opts.listeners ? { listeners: opts.listeners } : {}),
    ...(opts.resources ? { resources: opts.resources } : {}),
    port: () => address?.port ?? 0,
    log,
    ...(opts.cluster ? { cluster: opts.cluster } : {}),
  });

  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const isReady = (): boolean => listening && !closing && readyFlag && (opts.ready?.() ?? true);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const method = req.method ?? 'GET';
    setSecurityHeaders(res);
    checkDeclaredLength(req, limits);
    setBodyLimit(req, limits.maxBodyBytes);

    // Liveness: the process answers (its event loop turns); nothing else is checked.
    if (rawPath === '/healthz' || rawPath === '/livez') return sendJson(res, 200, { status: 'ok' });
    if (rawPath === '/readyz') {
      // A failed store refuses every write until a restart: not ready, and say why.
      const storeFailure = broker.storeFailure;
      if (storeFailure)
        return sendJson(res, 503, {
          status: 'unavailable',
          reason: `store failed and is read-only: ${storeFailure.message}`,
        });
      const unready = opts.unreadyReason?.() ?? null;
      if (unready !== null) return sendJson(res, 503, { status: 'unavailable', reason: unready });
      const ready = isReady();
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable' });
    }
    if (rawPath === '/metrics') {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(body);
      return;
    }
    if (rawPath === '/api' || rawPath.startsWith('/api/')) {
      checkStateChange(req);
      await api.authenticate(req);
      const segments = splitPath(rawPath);
      const { handler, params } = api.router.match(method, segments);
      await handler({ req, res, params, query });
      return;
    }
    if (method !== 'GET' && method !== 'HEAD')
      throw new HttpError(405, 'method_not_allowed', `method ${method} not allowed`);
    // The web UI: GET / and /ui/... from uiDir, vendored libraries from their packages.
    if (uiDir !== null && (rawPath === '/' || rawPath === '/ui' || rawPath.startsWith('/ui/'))) {
      const rel =
        rawPath === '/' || rawPath === '/ui' || rawPath === '/ui/'
          ? 'index.html'
          : rawPath.slice('/ui/'.length);
      const m = /^vendor\/([a-z0-9-]+)\/(.+)$/.exec(rel);
      if (m) {
        const dir = vendor?.[m[1]!];
        if (dir !== undefined && (await serveStatic(res, dir, m[2]!))) return;
      } else if (await serveStatic(res, uiDir, rel)) return;
    }
    throw new HttpError(404, 'Object Not Found', 'Not Found');
  }

  const respond = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      const e = toHttpError(err);
      if (e.status >= 500) log.error({ err, url: req.url, method: req.method }, 'management request failed');
      else
        log.debug(
          { url: req.url, method: req.method, status: e.status, reason: e.reason },
          'management request refused',
        );
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // Drain what is left of the body so keep-alive clients see the answer; a body over
      // the limit is not drained: its answer says `connection: close`, and Node ends the socket.
      if (e.status !== 413) req.resume();
      // Scripts (the web UI) ask for no Basic challenge, or the browser would pop up its own login dialog.
      if (
        e.headers['www-authenticate'] !== undefined &&
        req.headers['x-requested-with'] === 'XMLHttpRequest'
      ) {
        const { ['www-authenticate']: _challenge, ...headers } = e.headers;
        sendError(res, new HttpError(e.status, e.error, e.reason, headers));
        return;
      }
      sendError(res, e);
    });
  };

  const sockets = new Set<Socket>();
  const servers: Server[] = [];
  let secure: { server: HttpsServer; clientCert: ClientCertMode } | undefined;
  const makeServer = (tls: TlsSettings | undefined): Server => {
    const options = { maxHeaderSize: limits.maxHeaderBytes };
    const server = tls
      ? createHttpsServer({ ...options, ...serverOptions(tls) }, respond)
      : createServer(options, respond);
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    if (tls) {
      const state = { server: server as HttpsServer, clientCert: clientCertMode(tls) };
      secure = state;
      // Under 'optional', a client that sends a certificate must send a valid one.
      server.on('secureConnection', (s: TLSSocket) => {
        if (!acceptsPeer(s, state.clientCert)) s.destroy();
      });
      server.on('tlsClientError', (err: Error, s: Socket) =>
        log.debug({ err: err.message, remoteAddress: s.remoteAddress }, 'management TLS handshake failed'),
      );
    }
    return server;
  };

  return {
    stats,
    async listen(port: number, host: string, tls?: TlsSettings): Promise<AddressInfo> {
      if (tls && secure) throw new Error('management already serves HTTPS');
      const server = makeServer(tls);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
      const bound = server.address() as AddressInfo;
      // /api/overview names the first port the API serves on.
      address ??= bound;
      listening = true;
      log.info({ port: bound.port, host: bound.address, tls: tls !== undefined }, 'management API listening');
      return bound;
    },
    reloadTls(tls: TlsSettings): void {
      if (!secure) return;
      secure.server.setSecureContext(secureContextOptions(tls));
      secure.clientCert = clientCertMode(tls);
    },
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      stats.close();
      metrics.close();
      if (!listening) return;
      // Give in-flight requests a moment, then cut what is left.
      setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, 1000).unref();
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeIdleConnections();
            }),
        ),
      );
      listening = false;
    },
    setReady(ready: boolean): void {
      readyFlag = ready;
    },
  };
}

/** Browser libraries the UI loads from /ui/vendor/{name}/: name -> the directory served. */
function vendorDirs(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = {};
  try {
    out['uplot'] = join(dirname(require.resolve('uplot/package.json')), 'dist');
  } catch {
    // Not installed: the UI shows its numbers without charts.
  }
  return out;
}

export { MessageStats } from './stats.js';
export type { StatsOptions } from './stats.js';
export type { VhostMeta, RabbitDefinitions } from './definitions.js';
export { exportDefinitions } from './definitions.js';
export type { ClusterView, ClusterNodeInfo } from './cluster-view.js';
