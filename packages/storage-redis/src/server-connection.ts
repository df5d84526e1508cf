/**
 * A connection of the replication gate to one Redis server of the group by its `ip:port` (as
 * INFO and Sentinel list it): no reconnects and no offline queue, so a command to a server
 * that is gone fails at once instead of waiting for it; the caller bounds its commands.
 */
import { Redis } from 'ioredis';

export interface ServerAuth {
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

export function serverConnection(
  address: string,
  auth: ServerAuth,
  timeoutMs: number,
  commandTimeout = true,
): Redis {
  const colon = address.lastIndexOf(':');
  return new Redis({
    host: address.slice(0, colon),
    port: Number(address.slice(colon + 1)),
    ...(auth.username !== undefined ? { username: auth.username } : {}),
    ...(auth.password !== undefined ? { password: auth.password } : {}),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    // WAIT blocks for as long as it was asked to: the gate bounds it itself.
    ...(commandTimeout ? { commandTimeout: timeoutMs } : {}),
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
}
