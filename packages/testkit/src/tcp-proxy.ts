/**
 * A TCP proxy on a free loopback port in front of a server, that can cut the path like a
 * network partition: while cut, bytes in both directions are dropped and the sockets stay
 * open (the client sees silence, not a reset). heal() ends the connections that lost bytes,
 * so the client reconnects on a clean stream, and lets new ones through.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { listenOnFreePort } from './loopback-port.js';

export interface TcpProxy {
  port: number;
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let cut = false;
  const pairs = new Set<{ client: Socket; upstream: Socket; dropped: boolean }>();
  const server = createServer((client) => {
    const upstream = createConnection({ port: targetPort, host: targetHost });
    const pair = { client, upstream, dropped: false };
    pairs.add(pair);
    const forward = (to: Socket) => (d: Buffer) => {
      if (cut) pair.dropped = true;
      else to.write(d);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  const port = await listenOnFreePort(server);
  return {
    port,
    cut: () => (cut = true),
    heal: () => {
      cut = false;
      for (const p of pairs) if (p.dropped) p.client.destroy();
    },
    close: async () => {
      for (const p of pairs) p.client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
