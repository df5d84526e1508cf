import type { Server } from 'node:net';

/** Listens on a free loopback port; resolves with the port. */
export async function listenOnFreePort(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const addr = server.address();
  if (typeof addr !== 'object' || !addr) throw new Error('the server has no port');
  return addr.port;
}
