/**
 * The MQTT listeners (TCP, and WebSocket on a path such as /ws), the client-id registry
 * for takeover, and one sweep timer for every connection's keepalive and connect timeout
 * (no timer per connection: 10,000 devices cost one interval).
 */
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { BrokerApi, ConnectionSnapshot, Endpoint, ProtocolAdapter } from '@junction/core';
import { defaultMqttConfig, type MqttConfig } from './config.js';
import { MqttConnection, type MqttContext, type Peer } from './connection.js';

const SWEEP_MS = 250;

export function createMqttAdapter(
  broker: BrokerApi,
  config: Partial<MqttConfig>,
  log: Logger,
): ProtocolAdapter {
  const cfg: MqttConfig = { ...defaultMqttConfig, ...config };
  const connections = new Set<MqttConnection>();
  const byClientId = new Map<string, MqttConnection>();
  const servers: (TcpServer | HttpServer)[] = [];
  const wsServers: WebSocketServer[] = [];
  const clock = { now: Date.now() };
  const registryKey = (c: MqttConnection): string => `${c.vhost ?? ''}\u0000${c.clientId}`;

  const ctx: MqttContext = {
    broker,
    config: cfg,
    log,
    clock,
    connectionCount: () => connections.size,
    claim(conn) {
      const key = registryKey(conn);
      const previous = byClientId.get(key);
      byClientId.set(key, conn);
      return previous;
    },
    release(conn) {
      connections.delete(conn);
      const key = registryKey(conn);
      if (byClientId.get(key) === conn) byClientId.delete(key);
    },
  };

  const sweep = setInterval(() => {
    const now = (clock.now = Date.now());
    for (const c of connections) {
      if (c.state === 'connecting' && now - c.lastSeen > cfg.connectTimeoutMs) {
        void c.close('no CONNECT in time', { will: false });
      } else if (c.state === 'open' && c.keepaliveMs > 0 && now - c.lastSeen > c.keepaliveMs * 1.5) {
        // MQTT-3.1.2-24: one and a half keepalive periods of silence end the connection.
        void c.close('keepalive timeout', { will: true });
      }
    }
  }, SWEEP_MS);
  sweep.unref();

  const accept = (stream: MqttConnection['stream'], peer: Peer, transport: 'tcp' | 'ws'): void => {
    connections.add(new MqttConnection(stream, peer, transport, ctx));
  };

  const peerOf = (socket: Socket): Peer => ({
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    localPort: socket.localPort ?? 0,
  });

  async function bind(server: TcpServer | HttpServer, ep: Endpoint): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ep.port, ep.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => log.error({ err }, 'MQTT listener error'));
    servers.push(server);
    return server.address() as AddressInfo;
  }

  return {
    protocol: 'mqtt',
    async listen(endpoints: readonly Endpoint[]) {
      const bound: AddressInfo[] = [];
      for (const ep of endpoints) {
        if (ep.transport === 'tcp') {
          const server = createTcpServer({ noDelay: true }, (socket) =>
            accept(socket, peerOf(socket), 'tcp'),
          );
          bound.push(await bind(server, ep));
        } else {
          const http = createHttpServer((_req, res) =>
            res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n'),
          );
          // Browsers' MQTT clients ask for the "mqtt" subprotocol (older ones "mqttv3.1").
          const wss = new WebSocketServer({
            server: http,
            path: ep.path ?? '/ws',
            maxPayload: cfg.maxPacketSize + 5,
            handleProtocols: (protocols) =>
              protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false,
          });
          wss.on('connection', (ws, req) => {
            const stream = createWebSocketStream(ws);
            accept(stream, peerOf(req.socket), 'ws');
          });
          wsServers.push(wss);
          bound.push(await bind(http, ep));
        }
      }
      log.info({ addresses: bound.map((a) => `${a.address}:${a.port}`) }, 'MQTT listening');
      return bound;
    },
    *connections(): Iterable<ConnectionSnapshot> {
      for (const c of connections) {
        yield {
          id: c.id,
          protocol: 'mqtt',
          protocolVersion: c.protocolVersion === 3 ? 'MQTT 3.1' : 'MQTT 3.1.1',
          user: c.user,
          vhost: c.vhost,
          remoteAddress: c.peer.remoteAddress,
          remotePort: c.peer.remotePort,
          localPort: c.peer.localPort,
          connectedAt: c.connectedAt,
          clientId: c.clientId || undefined,
          state:
            c.state === 'open'
              ? c.paused
                ? 'flow'
                : 'running'
              : c.state === 'closing'
                ? 'closing'
                : 'starting',
          bytesIn: c.bytesIn,
          bytesOut: c.bytesOut,
        };
      }
    },
    async closeConnection(id: string, reason: string) {
      for (const c of connections) if (c.id === id) await c.close(reason, { will: false });
    },
    async close({ drainMs }) {
      clearInterval(sweep);
      for (const w of wsServers) w.close();
      const stopped = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      servers.length = 0;
      const closing = Promise.all([...connections].map((c) => c.close('broker shutdown', { will: false })));
      await Promise.race([closing, new Promise((r) => setTimeout(r, Math.max(drainMs, 100)).unref())]);
      for (const c of connections) c.stream.destroy();
      await stopped;
    },
  };
}
