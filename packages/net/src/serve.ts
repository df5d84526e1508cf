/**
 * A protocol's ProtocolAdapter built from its per-connection class: the listeners, the
 * registry of open connections with their ids, the snapshots management reads, closing one
 * connection or all of them, and certificate reloads.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type {
  ConnectionSnapshot,
  Endpoint,
  ProtocolAdapter,
  SubscriptionSnapshot,
  TlsSettings,
} from '@junction/core';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from './deadline.js';
import type { Link } from './link.js';
import { Listener, type WebSocketOptions } from './listener.js';

/** What a protocol adds to a connection's snapshot. */
export interface ConnectionDescription {
  /** 'open': after the handshake; the Link's read state (running, flow, blocked) is shown then. */
  phase: 'starting' | 'open' | 'closing';
  protocolVersion: string;
  user?: string | undefined;
  vhost?: string | undefined;
  clientId?: string | undefined;
  channels?: number;
  clientProperties?: Record<string, unknown>;
  /** MQTT: the client's subscriptions (a direct one is no queue, so it is listed here). */
  subscriptions?: SubscriptionSnapshot[];
}

/**
 * The reason closeByBroker is given when the adapter shuts down (the core's Broker.close
 * asks with the same words), so a protocol can tell shutdown from an operator's close.
 */
export const BROKER_SHUTDOWN = 'broker shutdown';

/** A protocol's connection object, as the layer needs it. */
export interface ServedConnection {
  readonly link: Link;
  describe(): ConnectionDescription;
  /** The broker closes it (management, shutdown, vhost deleted); resolves once it is gone. */
  closeByBroker(reason: string): Promise<void>;
}

export interface ServeOptions<C extends ServedConnection> {
  protocol: ProtocolAdapter['protocol'];
  /** For log lines, e.g. "AMQP 0-9-1". */
  label: string;
  log: Logger;
  /** Accept to handshake complete, absolute (default 10 s); 0 disables. */
  handshakeTimeoutMs?: number;
  /** Absent: endpoints with transport 'ws' are refused. */
  websocket?: WebSocketOptions;
  /** Wraps a new Link in the protocol's connection object. */
  accept(link: Link): C;
  /** Runs once when the adapter closes, after every connection is gone (timers, registries). */
  closed?(): void;
}

export interface ServedAdapter<C extends ServedConnection> extends ProtocolAdapter {
  reloadTls(tls: TlsSettings): void;
  /** The open connections, by id. */
  readonly registry: ReadonlyMap<string, C>;
}

const counters = new Map<string, number>();

function nextId(protocol: string): string {
  const n = (counters.get(protocol) ?? 0) + 1;
  counters.set(protocol, n);
  return `${protocol}-${n}`;
}

export function serve<C extends ServedConnection>(opts: ServeOptions<C>): ServedAdapter<C> {
  const listeners: Listener[] = [];
  const registry = new Map<string, C>();
  // One close handler for every link (a closure each cost ~110 bytes per MQTT device).
  const forget = (link: Link): void => void registry.delete(link.id);
  const accept = (link: Link): void => {
    const conn = opts.accept(link);
    registry.set(link.id, conn);
    link.onClose(forget);
  };

  return {
    protocol: opts.protocol,
    registry,
    async listen(endpoints: readonly Endpoint[]) {
      const bound: AddressInfo[] = [];
      for (const ep of endpoints) {
        const listener = new Listener(ep, {
          label: opts.label,
          log: opts.log,
          handshakeTimeoutMs: opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
          ...(opts.websocket ? { websocket: opts.websocket } : {}),
          newId: () => nextId(opts.protocol),
          accept,
        });
        bound.push(await listener.listen());
        listeners.push(listener);
      }
      opts.log.info(
        {
          addresses: bound.map((a) => `${a.address}:${a.port}`),
          tls: endpoints.some((e) => e.tls !== undefined),
        },
        `${opts.label} listening`,
      );
      return bound;
    },
    *connections(): Iterable<ConnectionSnapshot> {
      for (const c of registry.values()) yield snapshot(opts.protocol, c);
    },
    async closeConnection(id: string, reason: string) {
      await registry.get(id)?.closeByBroker(reason);
    },
    reloadTls(tls: TlsSettings) {
      for (const l of listeners) l.reloadTls(tls);
      opts.log.info(`${opts.label} TLS certificates reloaded`);
    },
    async close({ drainMs }) {
      const stopped = Promise.all(listeners.map((l) => l.close()));
      listeners.length = 0;
      const closing = Promise.all([...registry.values()].map((c) => c.closeByBroker(BROKER_SHUTDOWN)));
      await Promise.race([closing, new Promise((r) => setTimeout(r, Math.max(drainMs, 100)).unref())]);
      for (const c of registry.values()) c.link.destroy();
      await stopped;
      opts.closed?.();
    },
  };
}

function snapshot(protocol: ConnectionSnapshot['protocol'], c: ServedConnection): ConnectionSnapshot {
  const d = c.describe();
  const link = c.link;
  return {
    id: link.id,
    protocol,
    protocolVersion: d.protocolVersion,
    user: d.user,
    vhost: d.vhost,
    remoteAddress: link.peer.remoteAddress,
    remotePort: link.peer.remotePort,
    localPort: link.peer.localPort,
    connectedAt: link.connectedAt,
    ...(d.clientId ? { clientId: d.clientId } : {}),
    ...(d.channels !== undefined ? { channels: d.channels } : {}),
    ...(d.clientProperties ? { clientProperties: d.clientProperties } : {}),
    ...(d.subscriptions ? { subscriptions: d.subscriptions } : {}),
    state: d.phase === 'open' ? link.readState : d.phase,
    bytesIn: link.bytesIn,
    bytesOut: link.bytesOut,
    ...(link.tls ? { tls: link.tls } : {}),
  };
}
