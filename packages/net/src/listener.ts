/**
 * Listeners: plain TCP, TLS (node:tls), and WebSocket upgrades on an HTTP or HTTPS server.
 * Each accepted connection becomes a Link, handed to `accept`. The handshake deadline starts
 * at the TCP accept, before TLS and the WebSocket upgrade.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Endpoint, OriginPolicy, TlsSettings } from '@junction/core';
import { HandshakeDeadline } from './deadline.js';
import { Link, type Peer } from './link.js';
import { LogSampler } from './log-sampler.js';
import { SocketPipe, WebSocketPipe, type Pipe } from './pipe.js';
import {
  acceptsPeer,
  certificateLoginOf,
  clientCertMode,
  secureContextOptions,
  serverOptions,
  tlsSnapshot,
} from './tls.js';

export interface WebSocketOptions {
  /** Subprotocols accepted, in order of preference; a client offering none of them still connects. */
  subprotocols: readonly string[];
  /** Largest message accepted, bytes. */
  maxPayload: number;
  /** One WebSocket message per Link.send() (STOMP frames), instead of one per flush (MQTT). */
  messagePerSend?: boolean;
  /** Valid UTF-8 goes out as text messages (browsers' STOMP clients expect text). */
  textWhenUtf8?: boolean;
}

export interface ListenerOptions {
  /** Log label, e.g. "AMQP". */
  label: string;
  log: Logger;
  handshakeTimeoutMs: number;
  /** Absent: this protocol has no WebSocket transport. */
  websocket?: WebSocketOptions;
  newId(): string;
  accept(link: Link): void;
}

export class Listener {
  /** Accepted sockets not yet handed to a Link (in their TLS handshake or WebSocket upgrade). */
  private readonly raw = new Set<Socket>();
  /** Deadlines of accepted sockets still in their TLS handshake or WebSocket upgrade, by peer. */
  private readonly pending = new Map<string, HandshakeDeadline>();
  private readonly server: Server;
  private readonly wss: WebSocketServer | undefined;
  private clientCert;
  /** The settings in force (reloadTls replaces them), for certificate logins. */
  private tlsSettings: TlsSettings | undefined;

  constructor(
    readonly endpoint: Endpoint,
    private readonly opts: ListenerOptions,
  ) {
    const tls = endpoint.tls;
    this.clientCert = tls ? clientCertMode(tls) : 'none';
    this.tlsSettings = tls;
    if (endpoint.transport === 'ws') {
      const ws = opts.websocket;
      if (!ws) throw new Error(`${opts.label} has no WebSocket transport`);
      const http: HttpServer = tls
        ? createHttpsServer(serverOptions(tls), upgradeOnly(opts.label))
        : createHttpServer(upgradeOnly(opts.label));
      this.wss = new WebSocketServer({
        noServer: true,
        maxPayload: ws.maxPayload,
        handleProtocols: (offered) => ws.subprotocols.find((p) => offered.has(p)) ?? false,
      });
      http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
        this.upgrade(req, socket, head),
      );
      this.server = http;
    } else if (tls) {
      this.server = createTlsServer(serverOptions(tls), (socket) => this.secured(socket));
    } else {
      // The Link exists at once and owns the socket: no tracking, no listeners of our own
      // (each costs a few hundred bytes per held connection).
      this.server = createTcpServer({ noDelay: true }, (socket) => {
        this.open(new SocketPipe(socket), socket, this.deadline(socket), undefined);
      });
    }
    if (tls) {
      // A refused client certificate or a client that speaks no TLS: warn (RabbitMQ logs these
      // too), sampled, since anyone who can reach the port can cause one.
      const sampler = new LogSampler(10_000);
      this.server.on('tlsClientError', (err: Error, socket: Socket) => {
        const sample = sampler.take();
        if (sample)
          opts.log.warn(
            { err: err.message, remoteAddress: socket.remoteAddress, skipped: sample.skipped },
            `${opts.label}: TLS handshake failed`,
          );
      });
    }
    if (tls || endpoint.transport === 'ws') {
      // TLS and HTTP servers announce the raw socket first; its deadline waits in `pending`.
      this.server.on('connection', (socket: Socket) => {
        const deadline = this.track(socket);
        const key = peerKey(socket);
        this.pending.set(key, deadline);
        socket.once('close', () => {
          if (this.pending.get(key) === deadline) this.pending.delete(key);
        });
      });
    }
  }

  /** Binds; resolves with the bound address (port 0: an ephemeral one). */
  async listen(): Promise<AddressInfo> {
    const { port, host } = this.endpoint;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (err) => this.opts.log.error({ err }, `${this.opts.label} listener error`));
    return this.server.address() as AddressInfo;
  }

  get secure(): boolean {
    return this.endpoint.tls !== undefined;
  }

  /** New certificate, key and CA for connections from now on; open connections keep theirs. */
  reloadTls(tls: TlsSettings): void {
    if (!this.secure) return;
    (this.server as TlsServer).setSecureContext(secureContextOptions(tls));
    this.clientCert = clientCertMode(tls);
    this.tlsSettings = tls;
  }

  /** Stops accepting; sockets that never became a Link are destroyed. */
  close(): Promise<void> {
    const stopped = new Promise<void>((r) => this.server.close(() => r()));
    this.wss?.close();
    for (const s of this.raw) s.destroy();
    return stopped;
  }

  /** A socket in its TLS handshake or WebSocket upgrade, not yet a Link. */
  private track(socket: Socket): HandshakeDeadline {
    const deadline = this.deadline(socket);
    this.raw.add(socket);
    socket.once('close', () => {
      this.raw.delete(socket);
      deadline.done();
    });
    socket.on('error', () => {});
    return deadline;
  }

  private deadline(socket: Socket): HandshakeDeadline {
    return new HandshakeDeadline(socket, this.opts.handshakeTimeoutMs, this.onHandshakeTimeout);
  }

  private readonly onHandshakeTimeout = (what: Record<string, unknown>): void =>
    this.opts.log.info(what, `${this.opts.label} handshake timeout; closing`);

  private claim(socket: Socket): HandshakeDeadline | undefined {
    const key = peerKey(socket);
    const deadline = this.pending.get(key);
    this.pending.delete(key);
    return deadline;
  }

  private secured(socket: TLSSocket): void {
    const deadline = this.claim(socket);
    if (!deadline) return void socket.destroy();
    if (!acceptsPeer(socket, this.clientCert)) {
      this.opts.log.info(
        { remoteAddress: socket.remoteAddress, reason: socket.authorizationError },
        `${this.opts.label} client certificate refused`,
      );
      return void socket.destroy();
    }
    this.open(new SocketPipe(socket), socket, deadline, socket);
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const path = this.endpoint.path ?? '/ws';
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== path) return refuseUpgrade(socket, 404, 'Not Found');
    const origin = req.headers.origin;
    if (
      origin !== undefined &&
      !originAllowed(this.endpoint.origins ?? 'same-host', origin, req.headers.host)
    ) {
      this.opts.log.info(
        { origin, remoteAddress: socket.remoteAddress },
        `${this.opts.label} WebSocket origin refused`,
      );
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    if (this.secure && !acceptsPeer(socket as TLSSocket, this.clientCert)) {
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    this.wss!.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const deadline = this.claim(socket);
      if (!deadline) return void ws.terminate();
      const wsOpts = this.opts.websocket!;
      const pipe = new WebSocketPipe(ws, wsOpts.textWhenUtf8 ?? false);
      this.open(pipe, socket, deadline, this.secure ? (socket as TLSSocket) : undefined);
    });
  }

  private open(pipe: Pipe, socket: Socket, deadline: HandshakeDeadline, tls: TLSSocket | undefined): void {
    // From here the protocol connection closes it (with its own close frame at shutdown).
    this.raw.delete(deadline.socket);
    const peer: Peer = {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localPort: socket.localPort ?? 0,
    };
    // Plain TCP only: dropped on a TLS socket, a refused STOMPS connection stayed listed after
    // its close (protocols/stomp/test/cert-login.test.ts; why was not chased), and fleets of
    // idle devices are plain TCP.
    if (!tls && pipe.kind === 'tcp') forgetAddresses(socket);
    const link = new Link({
      id: this.opts.newId(),
      pipe,
      peer,
      tls: tls ? tlsSnapshot(tls) : undefined,
      certificateLogin: tls && this.tlsSettings ? certificateLoginOf(tls, this.tlsSettings) : undefined,
      deadline,
      messagePerSend: pipe.kind === 'ws' && (this.opts.websocket?.messagePerSend ?? false),
    });
    this.opts.accept(link);
  }
}

/**
 * Node's socket keeps what its address getters read (`_peername`, `_sockname`: an object and
 * an address string each, ~150 bytes per connection); the Link holds the peer now. A later
 * read of a plain TCP socket asks the kernel again.
 */
function forgetAddresses(socket: Socket): void {
  const cached = socket as unknown as { _peername?: unknown; _sockname?: unknown };
  cached._peername = undefined;
  cached._sockname = undefined;
}

function peerKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

function upgradeOnly(label: string) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end(`${label} over WebSocket only\n`);
  };
}

function refuseUpgrade(socket: Socket, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

export function originAllowed(policy: OriginPolicy, origin: string, host: string | undefined): boolean {
  if (policy === 'any') return true;
  if (typeof policy === 'function') return policy(origin, host ?? '');
  if (policy === 'same-host') {
    try {
      return host !== undefined && new URL(origin).host === host.toLowerCase();
    } catch {
      return false;
    }
  }
  return policy.includes(origin);
}
