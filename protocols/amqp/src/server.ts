/**
 * The AMQP 0-9-1 listener: accepts sockets, hands each to an AmqpConnection, and answers
 * the ProtocolAdapter contract the server and management use.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { BrokerApi, ConnectionSnapshot, Endpoint, ProtocolAdapter } from '@junction/core';
import { AmqpConnection, type AmqpConfig } from './connection.js';

export const defaultAmqpConfig: AmqpConfig = {
  frameMax: 131072,
  channelMax: 2047,
  heartbeat: 60,
  maxMessageSize: 128 * 1024 * 1024,
};

const VERSION = '0.1.0';

export function createAmqpAdapter(
  broker: BrokerApi,
  config: Partial<AmqpConfig>,
  log: Logger,
): ProtocolAdapter {
  const cfg: AmqpConfig = { ...defaultAmqpConfig, ...config };
  const servers: Server[] = [];
  const connections = new Map<string, AmqpConnection>();

  const accept = (socket: Socket): void => {
    const conn = new AmqpConnection(socket, broker, cfg, log, VERSION, (c) => connections.delete(c.id));
    connections.set(conn.id, conn);
  };

  return {
    protocol: 'amqp',
    async listen(endpoints: readonly Endpoint[]) {
      const bound: AddressInfo[] = [];
      for (const ep of endpoints) {
        if (ep.transport !== 'tcp') throw new Error(`AMQP listens on tcp only, not ${ep.transport}`);
        const server = createServer({ noDelay: true }, accept);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(ep.port, ep.host, () => {
            server.off('error', reject);
            resolve();
          });
        });
        server.on('error', (err) => log.error({ err }, 'AMQP listener error'));
        servers.push(server);
        bound.push(server.address() as AddressInfo);
      }
      log.info({ addresses: bound.map((a) => `${a.address}:${a.port}`) }, 'AMQP 0-9-1 listening');
      return bound;
    },
    *connections(): Iterable<ConnectionSnapshot> {
      for (const c of connections.values()) {
        const info = c.info;
        yield {
          id: c.id,
          protocol: 'amqp',
          protocolVersion: 'AMQP 0-9-1',
          user: c.principal?.username,
          vhost: c.core?.vhost,
          remoteAddress: info.remoteAddress,
          remotePort: info.remotePort,
          localPort: info.localPort,
          connectedAt: c.connectedAt,
          channels: c.channels.size,
          clientProperties: c.clientProperties as Record<string, unknown>,
          state:
            c.state === 'open'
              ? c.inFlow
                ? 'flow'
                : 'running'
              : c.state === 'closing' || c.state === 'closed'
                ? 'closing'
                : 'starting',
          bytesIn: c.bytesIn,
          bytesOut: c.writer.bytesOut,
        };
      }
    },
    async closeConnection(id: string, reason: string) {
      await connections.get(id)?.closeByBroker(reason);
    },
    async close({ drainMs }) {
      // Stop accepting now; server.close() only calls back once every socket is gone.
      const stopped = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      servers.length = 0;
      const closing = Promise.all([...connections.values()].map((c) => c.closeByBroker('broker shutdown')));
      await Promise.race([closing, new Promise((r) => setTimeout(r, Math.max(drainMs, 100)).unref())]);
      for (const c of connections.values()) c.socket.destroy();
      await stopped;
    },
  };
}
