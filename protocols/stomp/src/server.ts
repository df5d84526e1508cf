/**
 * The STOMP listeners (plain TCP and WebSocket) and the ProtocolAdapter contract the
 * server and management use.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { BrokerApi, ConnectionSnapshot, Endpoint, ProtocolAdapter } from '@junction/core';
import { defaultStompConfig, type StompConfig } from './config.js';
import { StompConnection } from './connection.js';
import { TcpTransport, WsTransport, type Transport } from './transport.js';

/** Sub-protocols a STOMP WebSocket client may ask for (stompjs, RabbitMQ web-stomp). */
const WS_PROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp', 'stomp'];

export function createStompAdapter(
  broker: BrokerApi,
  config: Partial<StompConfig>,
  log: Logger,
): ProtocolAdapter {
  const cfg: StompConfig = { ...defaultStompConfig, ...config };
  const servers: Array<Server | HttpServer> = [];
  const wsServers: WebSocketServer[] = [];
  const connections = new Map<string, StompConnection>();

  const accept = (transport: Transport): void => {
    const conn = new StompConnection(transport, broker, cfg, log, (c) => connections.delete(c.id));
    connections.set(conn.id, conn);
  };

  const listenOn = (server: Server | HttpServer, ep: Endpoint): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ep.port, ep.host, () => {
        server.off('error', reject);
        resolve();
      });
    });

  return {
    protocol: 'stomp',
    async listen(endpoints: readonly Endpoint[]) {
      const bound: AddressInfo[] = [];
      for (const ep of endpoints) {
        if (ep.transport === 'tcp') {
          const server = createServer({ noDelay: true }, (socket: Socket) =>
            accept(new TcpTransport(socket)),
          );
          await listenOn(server, ep);
          server.on('error', (err) => log.error({ err }, 'STOMP listener error'));
          servers.push(server);
          bound.push(server.address() as AddressInfo);
        } else if (ep.transport === 'ws') {
          const http = createHttpServer((_req, res) => {
            res.writeHead(426, { 'content-type': 'text/plain' }).end('STOMP over WebSocket only\n');
          });
          const wss = new WebSocketServer({
            server: http,
            ...(ep.path !== undefined ? { path: ep.path } : {}),
            maxPayload: cfg.maxFrameSize + 64 * 1024,
            handleProtocols: (offered) => WS_PROTOCOLS.find((p) => offered.has(p)) ?? false,
          });
          wss.on('connection', (ws, req) => {
            const s = req.socket;
            accept(new WsTransport(ws, s.remoteAddress ?? '', s.remotePort ?? 0, s.localPort ?? 0));
          });
          wss.on('error', (err) => log.error({ err }, 'STOMP WebSocket listener error'));
          await listenOn(http, ep);
          http.on('error', (err) => log.error({ err }, 'STOMP WebSocket listener error'));
          servers.push(http);
          wsServers.push(wss);
          bound.push(http.address() as AddressInfo);
        } else {
          throw new Error(`STOMP cannot listen on transport ${String((ep as Endpoint).transport)}`);
        }
      }
      log.info({ addresses: bound.map((a) => `${a.address}:${a.port}`) }, 'STOMP listening');
      return bound;
    },
    *connections(): Iterable<ConnectionSnapshot> {
      for (const c of connections.values()) {
        const info = c.info;
        yield {
          id: c.id,
          protocol: 'stomp',
          protocolVersion: info.protocolVersion ?? 'STOMP',
          user: c.principal?.username,
          vhost: c.core?.vhost,
          remoteAddress: info.remoteAddress,
          remotePort: info.remotePort,
          localPort: info.localPort,
          connectedAt: c.connectedAt,
          ...(c.clientId !== undefined ? { clientId: c.clientId } : {}),
          ...(c.clientProperties !== undefined ? { clientProperties: c.clientProperties } : {}),
          channels: 1,
          state:
            c.state === 'open'
              ? 'running'
              : c.state === 'closing' || c.state === 'closed'
                ? 'closing'
                : 'starting',
          bytesIn: c.transport.bytesIn,
          bytesOut: c.transport.bytesOut,
        };
      }
    },
    async closeConnection(id: string, reason: string) {
      await connections.get(id)?.closeByBroker(reason);
    },
    async close({ drainMs }) {
      const stopped = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const w of wsServers) w.close();
      servers.length = 0;
      wsServers.length = 0;
      const closing = Promise.all([...connections.values()].map((c) => c.closeByBroker('broker shutdown')));
      await Promise.race([closing, new Promise((r) => setTimeout(r, Math.max(drainMs, 100)).unref())]);
      for (const c of connections.values()) c.transport.destroy();
      await stopped;
    },
  };
}
