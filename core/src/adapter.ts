/**
 * What every protocol adapter package exports (protocols/amqp, mqtt, stomp): the server
 * wires adapters from config through this shape, management reads connections through it.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { BrokerApi } from './session.js';

export interface Endpoint {
  port: number;
  host?: string;
  transport: 'tcp' | 'ws';
  /** WebSocket path, e.g. "/ws". */
  path?: string;
}

export interface ConnectionSnapshot {
  id: string;
  protocol: 'amqp' | 'mqtt' | 'stomp';
  /** e.g. "AMQP 0-9-1", "MQTT 3.1.1", "STOMP 1.2". */
  protocolVersion: string;
  user: string | undefined;
  vhost: string | undefined;
  remoteAddress: string;
  remotePort: number;
  localPort: number;
  connectedAt: number;
  clientId?: string;
  channels?: number;
  clientProperties?: Record<string, unknown>;
  /** flow: held back by publisher flow control; blocked: by a resource alarm. */
  state: 'starting' | 'running' | 'flow' | 'blocked' | 'closing';
  bytesIn: number;
  bytesOut: number;
}

export interface ProtocolAdapter {
  readonly protocol: 'amqp' | 'mqtt' | 'stomp';
  /** Port 0 binds an ephemeral port; the returned addresses say which. */
  listen(endpoints: readonly Endpoint[]): Promise<readonly AddressInfo[]>;
  connections(): Iterable<ConnectionSnapshot>;
  closeConnection(id: string, reason: string): Promise<void>;
  /** Stop accepting, give connections up to drainMs to finish, then close them. */
  close(opts: { drainMs: number }): Promise<void>;
}

export type AdapterFactory<C> = (broker: BrokerApi, config: C, log: Logger) => ProtocolAdapter;
