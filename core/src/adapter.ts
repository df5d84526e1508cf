/**
 * What every protocol adapter package exports (protocols/amqp, mqtt, stomp): the server
 * wires adapters from config through this shape, management reads connections through it.
 */
import type { AddressInfo } from 'node:net';
import type { CertLoginFrom } from './auth/cert-login.js';

/** Who may request a client certificate and what happens without one. */
export type ClientCertMode = 'none' | 'optional' | 'required';

/** A TLS listener's certificate material (PEM contents, not paths) and policy. */
export interface TlsSettings {
  cert: string | Buffer;
  key: string | Buffer;
  /** CAs that client certificates must chain to. */
  ca?: string | Buffer | readonly (string | Buffer)[];
  passphrase?: string;
  /** none (default): no client certificate asked; optional: verified when sent; required: refused without. */
  clientCert?: ClientCertMode;
  /**
   * Which part of a verified client certificate names the user of a certificate login (AMQP
   * EXTERNAL, MQTT and STOMP without credentials); default 'cn'.
   */
  certLoginFrom?: CertLoginFrom;
  /** Default TLSv1.2. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list; Node's default when unset. */
  ciphers?: string;
}

/**
 * Which browser pages may open a WebSocket: 'same-host' (default) accepts an Origin whose
 * host:port is the request's Host; a list names the accepted origins
 * ("https://app.example:8443"); 'any' accepts all. Clients that send no Origin (not browsers)
 * are always accepted.
 */
export type OriginPolicy =
  'same-host' | 'any' | readonly string[] | ((origin: string, host: string) => boolean);

export interface Endpoint {
  port: number;
  host?: string;
  transport: 'tcp' | 'ws';
  /** WebSocket path, e.g. "/ws". */
  path?: string;
  /** Serve TLS (AMQPS, MQTTS, STOMPS; WSS when transport is ws). */
  tls?: TlsSettings;
  /** WebSocket endpoints only. */
  origins?: OriginPolicy;
}

/** A TLS connection's session and the client's certificate, as management shows them. */
export interface TlsSnapshot {
  /** e.g. "TLSv1.3". */
  protocol: string;
  cipher: string;
  peerCertificate?: {
    /** "CN=device-1,O=Example" */
    subject: string;
    issuer: string;
    /** "DNS:device-1.example, IP Address:10.0.0.1" */
    subjectAltName?: string;
    validFrom: string;
    validTo: string;
    fingerprint256: string;
  };
}

/** One MQTT subscription, as management lists it with its connection. */
export interface SubscriptionSnapshot {
  filter: string;
  qos: number;
  /**
   * Where its messages wait: 'queue' (a core queue, listed with the queues) or 'direct' (bound
   * straight to the connection, no queue).
   */
  kind: 'queue' | 'direct';
  /** Its queue's name, or what it would have been (permissions are checked on it). */
  queue: string;
  /** Messages waiting for the client in a direct subscription (a queue's are the queue's). */
  waiting: number;
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
  /** MQTT: the client's subscriptions. */
  subscriptions?: SubscriptionSnapshot[];
  /** flow: held back by publisher flow control; blocked: by a resource alarm. */
  state: 'starting' | 'running' | 'flow' | 'blocked' | 'closing';
  bytesIn: number;
  bytesOut: number;
  /** Set for connections over TLS (AMQPS, MQTTS, WSS, ...). */
  tls?: TlsSnapshot;
}

export interface ProtocolAdapter {
  readonly protocol: 'amqp' | 'mqtt' | 'stomp';
  /** Port 0 binds an ephemeral port; the returned addresses say which. */
  listen(endpoints: readonly Endpoint[]): Promise<readonly AddressInfo[]>;
  connections(): Iterable<ConnectionSnapshot>;
  closeConnection(id: string, reason: string): Promise<void>;
  /** Stop accepting, give connections up to drainMs to finish, then close them. */
  close(opts: { drainMs: number }): Promise<void>;
  /**
   * New certificate material for this adapter's TLS listeners: new connections use it,
   * existing ones keep their session.
   */
  reloadTls?(tls: TlsSettings): void;
}
