/**
 * The authenticated node-to-node link: one TCP connection per pair of nodes, for the layers
 * that forward publishes and proxy consumers between nodes.
 *
 *   const link = new NodeLink({ nodeId: 'a', secret, log });
 *   const { port } = await link.listen('0.0.0.0', 25672);
 *   link.handle(MSG_FORWARD, async (peerId, body) => replyBody);    // a request's reply; void: empty
 *   link.handle(MSG_NOTICE, (peerId, body) => { ... });             // one-way: the result is ignored
 *   link.on('peer-up', (peerId, channel) => ...);                   // channel: this incarnation
 *   link.on('peer-down', (peerId, reason) => ...);                  // the first failover signal
 *   link.connect('b', host, port);          // wanted: dialed (lower id) and redialed until disconnect('b')
 *   const b = link.peer('b');
 *   const reply = await b.request(MSG_FORWARD, body, 5000);         // rejects with LinkError
 *   if (!b.send(MSG_NOTICE, body)) b.onDrain(() => ...);            // false: above the high-water mark
 *   const ch = link.channel('b');           // PeerChannel | undefined: the link to b as it is now,
 *   ch?.onDown((reason) => ...);            // down for good when it ends (a reconnect is a new one)
 *   await link.close();
 *
 * - Who dials: the node whose id sorts lower (JS string order) dials; on the other node
 *   connect() only records the address. Both sides reach the same one connection without a
 *   race; a newer authenticated connection from a node replaces an older one (a restarted peer
 *   reconnecting while this side still holds the old, half-open socket), with a peer-down for
 *   the old one first. Accepted connections from any node that proves the secret are kept.
 * - peer-down is emitted at once when the socket closes or after `heartbeatMisses` heartbeat
 *   intervals without a byte from the peer (a paused process). Requests pending on it reject at
 *   once with LinkError PEER_DOWN (outcome unknown); a request or send to a node that is not up
 *   fails at once with NOT_CONNECTED.
 * - Message types are 0..65535, chosen by the layers above; one handler per type. A request of
 *   a type with no handler fails with NO_HANDLER at the caller (a node of a newer version may
 *   send types an older one lacks); a one-way message without a handler is logged and dropped.
 * - Listeners and handlers never break the link: a handler that throws fails that request
 *   (REMOTE at the caller); a listener that throws is logged.
 * Frames and handshake: frame.ts, handshake.ts; DESIGN-NOTES.md, "The node link".
 */
import { once } from 'node:events';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { checkNodeId } from '../keys.js';
import {
  PeerConnection,
  type ConnectionEvents,
  type ConnectionSettings,
  type Handler,
} from './connection.js';
import { Redialer, type BackOff } from './dialer.js';
import { LinkError } from './errors.js';
import { HANDSHAKE_MAX_FRAME_BYTES } from './handshake.js';
import { checkMessageType } from './frame.js';
import { PeerChannel } from './channel.js';

export interface NodeLinkOptions {
  /** This node's id (1-64 of A-Z a-z 0-9 . _ -), as in the node registry. */
  nodeId: string;
  /** The cluster secret every node shares; 16 bytes or more. */
  secret: string | Buffer;
  log: Logger;
  /** Largest frame accepted, header (11 bytes) included; larger ones close the link. Default 16 MiB. */
  maxFrameBytes?: number;
  /** Connect (or accept) to authenticated, absolute. Default 5 s. */
  handshakeTimeoutMs?: number;
  /** PING interval. Default 1 s. */
  heartbeatMs?: number;
  /** Intervals without a byte from the peer before it is declared down. Default 3. */
  heartbeatMisses?: number;
  /** Outbound bytes buffered per peer above which send() returns false. Default 1 MiB. */
  highWaterBytes?: number;
  /** Outbound bytes buffered per peer above which the link is closed (the peer does not read). Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Requests pending per peer (more reject with TOO_MANY_PENDING). Default 10,000. */
  maxPendingRequests?: number;
  /** Redial delays. Default 50 ms doubling to 2 s. */
  reconnect?: BackOff;
  /** Accepted connections still in their handshake at once; more are dropped at accept. Default 64. */
  maxHandshakes?: number;
}

export const LINK_DEFAULTS = {
  maxFrameBytes: 16 * 1024 * 1024,
  handshakeTimeoutMs: 5000,
  heartbeatMs: 1000,
  heartbeatMisses: 3,
  highWaterBytes: 1024 * 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  maxPendingRequests: 10_000,
  reconnect: { minMs: 50, maxMs: 2000 },
  maxHandshakes: 64,
} as const;

/** At most one log line per this, for connections dropped at accept (a flood must not flood the log). */
const DROP_LOG_EVERY_MS = 10_000;

export interface NodeLinkEvents {
  /** `channel`: this incarnation of the link, down for good when it ends. */
  'peer-up': (peerId: string, channel: PeerChannel) => void;
  'peer-down': (peerId: string, reason: string) => void;
}

/** What management shows per open link. */
export interface PeerStatus {
  nodeId: string;
  direction: 'dialed' | 'accepted';
  remote: string;
  /** Round trip of the last heartbeat, ms (undefined until one was answered). */
  rttMs: number | undefined;
  pendingRequests: number;
  bufferedBytes: number;
  bytesIn: number;
  bytesOut: number;
}

/** One node as the layers above address it; valid whether or not it is up now. */
export class PeerHandle {
  constructor(
    private readonly link: NodeLink,
    readonly nodeId: string,
  ) {}

  /** Authenticated and open now. */
  get up(): boolean {
    return this.link.connectionTo(this.nodeId) !== undefined;
  }

  /** Resolves with the handler's reply body; rejects with LinkError (see LinkErrorCode). */
  request(type: number, body: Buffer, timeoutMs: number): Promise<Buffer> {
    const conn = this.link.connectionTo(this.nodeId);
    if (!conn) return Promise.reject(this.link.notConnected(this.nodeId));
    return conn.request(type, body, timeoutMs);
  }

  /** One-way. false: buffered above the high-water mark, wait for onDrain. Throws LinkError when not up. */
  send(type: number, body: Buffer): boolean {
    const conn = this.link.connectionTo(this.nodeId);
    if (!conn) throw this.link.notConnected(this.nodeId);
    return conn.send(type, body);
  }

  /** Called each time a send() that returned false may go on. Returns the unsubscribe. */
  onDrain(listener: () => void): () => void {
    return this.link.onDrain(this.nodeId, listener);
  }
}

export class NodeLink {
  readonly nodeId: string;
  private readonly log: Logger;
  private readonly settings: ConnectionSettings;
  private readonly backOff: BackOff;
  private readonly handlers = new Map<number, Handler>();
  /** Authenticated connections, by peer id, and their channels. */
  private readonly active = new Map<string, PeerConnection>();
  private readonly channels = new Map<string, PeerChannel>();
  /** Every connection, in handshake or open. */
  private readonly connections = new Set<PeerConnection>();
  /** Peers this node dials, and the attempt in progress for each. */
  private readonly dialers = new Map<string, Redialer>();
  private readonly dialing = new Map<string, PeerConnection>();
  private readonly drainListeners = new Map<string, Set<() => void>>();
  private readonly listeners = {
    'peer-up': new Set<NodeLinkEvents['peer-up']>(),
    'peer-down': new Set<NodeLinkEvents['peer-down']>(),
  };
  private readonly heartbeatTimer: NodeJS.Timeout;
  private server: Server | undefined;
  private closed = false;
  private readonly maxHandshakes: number;
  /** Accepted connections in their handshake. */
  private handshaking = 0;
  private dropped = 0;
  private droppedLoggedAt = 0;

  constructor(opts: NodeLinkOptions) {
    this.nodeId = checkNodeId(opts.nodeId);
    this.log = opts.log;
    const secret = typeof opts.secret === 'string' ? Buffer.from(opts.secret, 'utf8') : opts.secret;
    if (secret.length < 16) throw new Error('the cluster secret must be 16 bytes or more');
    const maxFrameBytes = opts.maxFrameBytes ?? LINK_DEFAULTS.maxFrameBytes;
    if (
      !Number.isInteger(maxFrameBytes) ||
      maxFrameBytes < HANDSHAKE_MAX_FRAME_BYTES ||
      maxFrameBytes > 0xffffffff
    ) {
      throw new Error(`maxFrameBytes must be an integer from ${HANDSHAKE_MAX_FRAME_BYTES} to 2^32-1`);
    }
    this.settings = {
      nodeId: this.nodeId,
      secret,
      maxFrameBytes,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? LINK_DEFAULTS.handshakeTimeoutMs,
      heartbeatMs: opts.heartbeatMs ?? LINK_DEFAULTS.heartbeatMs,
      heartbeatMisses: opts.heartbeatMisses ?? LINK_DEFAULTS.heartbeatMisses,
      highWaterBytes: opts.highWaterBytes ?? LINK_DEFAULTS.highWaterBytes,
      maxBufferedBytes: opts.maxBufferedBytes ?? LINK_DEFAULTS.maxBufferedBytes,
      maxPendingRequests: opts.maxPendingRequests ?? LINK_DEFAULTS.maxPendingRequests,
      handlers: this.handlers,
      log: opts.log,
    };
    this.backOff = opts.reconnect ?? LINK_DEFAULTS.reconnect;
    this.maxHandshakes = opts.maxHandshakes ?? LINK_DEFAULTS.maxHandshakes;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.settings.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /** Accepts peers on host:port (0: an ephemeral port); resolves with the bound address. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    if (this.server) throw new Error('the node link listens already');
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    server.listen(port, host);
    await once(server, 'listening'); // rejects on the listen's error (EADDRINUSE)
    server.on('error', (err) => this.log.error({ err }, 'node link listener error'));
    return server.address() as AddressInfo;
  }

  /**
   * The peer is wanted at host:port. The lower id dials now and redials with back-off after
   * every close until disconnect(); a new address replaces the old for the next dial.
   */
  connect(nodeId: string, host: string, port: number): void {
    checkNodeId(nodeId);
    if (nodeId === this.nodeId)
      throw new Error(`node link: cannot connect to this node's own id '${nodeId}'`);
    if (this.closed || !(this.nodeId < nodeId)) return;
    const before = this.dialers.get(nodeId);
    if (before && before.host === host && before.port === port) return;
    before?.stop();
    const dialer = new Redialer(host, port, this.backOff, () => this.dial(nodeId));
    this.dialers.set(nodeId, dialer);
    if (!this.active.has(nodeId) && !this.dialing.has(nodeId)) this.dial(nodeId);
  }

  /** The peer is no longer wanted: no more dials, and its connection (if any) closes. */
  disconnect(nodeId: string): void {
    this.dialers.get(nodeId)?.stop();
    this.dialers.delete(nodeId);
    this.dialing.get(nodeId)?.close('disconnected by this node');
    this.active.get(nodeId)?.close('disconnected by this node');
  }

  peer(nodeId: string): PeerHandle {
    return new PeerHandle(this, nodeId);
  }

  /** The current incarnation of the link to the peer, if it is up. */
  channel(nodeId: string): PeerChannel | undefined {
    return this.channels.get(nodeId);
  }

  /** Ids of the peers up now. */
  upPeers(): string[] {
    return [...this.active.keys()];
  }

  status(): PeerStatus[] {
    return [...this.active].map(([nodeId, c]) => ({
      nodeId,
      direction: c.direction,
      remote: c.remote,
      rttMs: c.rttMs,
      pendingRequests: c.pendingRequests,
      bufferedBytes: c.buffered,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
    }));
  }

  /** The handler of one message type, for requests and one-way messages alike. */
  handle(type: number, handler: Handler): void {
    if (this.handlers.has(checkMessageType(type)))
      throw new Error(`node link: type ${type} has a handler already`);
    this.handlers.set(type, handler);
  }

  /** Returns the unsubscribe. */
  on<E extends keyof NodeLinkEvents>(event: E, listener: NodeLinkEvents[E]): () => void {
    const set = this.listeners[event] as Set<NodeLinkEvents[E]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Stops listening and dialing; every connection closes (peer-down for each open one). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    for (const d of this.dialers.values()) d.stop();
    this.dialers.clear();
    const stopped = this.server ? new Promise<void>((r) => this.server!.close(() => r())) : undefined;
    for (const c of [...this.connections]) c.close('node link closed');
    await stopped;
  }

  // ---- for PeerHandle -----------------------------------------------------------------------

  /** @internal */
  connectionTo(nodeId: string): PeerConnection | undefined {
    return this.active.get(nodeId);
  }

  /** @internal */
  notConnected(nodeId: string): LinkError {
    return this.closed
      ? new LinkError('LINK_CLOSED', nodeId, `node link closed`)
      : new LinkError('NOT_CONNECTED', nodeId, `node link to '${nodeId}': not connected`);
  }

  /** @internal */
  onDrain(nodeId: string, listener: () => void): () => void {
    let set = this.drainListeners.get(nodeId);
    if (!set) this.drainListeners.set(nodeId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.drainListeners.get(nodeId) === set) this.drainListeners.delete(nodeId);
    };
  }

  // ---- connections --------------------------------------------------------------------------

  private accept(socket: Socket): void {
    if (this.closed) return void socket.destroy();
    if (this.handshaking >= this.maxHandshakes) return this.drop(socket);
    this.handshaking++;
    this.connections.add(new PeerConnection(socket, 'accepted', this.settings, this.events));
  }

  /** Unauthenticated connections are bounded: each holds a socket until its handshake deadline. */
  private drop(socket: Socket): void {
    this.dropped++;
    const now = Date.now();
    if (now - this.droppedLoggedAt >= DROP_LOG_EVERY_MS) {
      this.log.warn(
        {
          remote: `${socket.remoteAddress}:${socket.remotePort}`,
          dropped: this.dropped,
          limit: this.maxHandshakes,
        },
        'node link connection dropped: too many handshakes in progress',
      );
      this.droppedLoggedAt = now;
      this.dropped = 0;
    }
    socket.destroy();
  }

  private dial(nodeId: string): void {
    const dialer = this.dialers.get(nodeId);
    if (!dialer || this.closed) return;
    const socket = createConnection({ host: dialer.host, port: dialer.port });
    const conn = new PeerConnection(socket, 'dialed', this.settings, this.events, nodeId);
    this.connections.add(conn);
    this.dialing.set(nodeId, conn);
  }

  private readonly events: ConnectionEvents = {
    opened: (conn) => {
      if (conn.direction === 'accepted') this.handshaking--;
      const peerId = conn.peerId!;
      if (this.dialing.get(peerId) === conn) {
        this.dialing.delete(peerId);
        this.dialers.get(peerId)?.succeeded();
      }
      const before = this.active.get(peerId);
      const channel = new PeerChannel(conn, (id, listener) => this.onDrain(id, listener));
      this.active.set(peerId, conn);
      this.channels.set(peerId, channel);
      this.log.info({ peer: peerId, direction: conn.direction, remote: conn.remote }, 'node link up');
      if (before) {
        const reason = 'replaced by a newer connection from the same node';
        before.close(reason);
        this.emit('peer-down', peerId, reason);
      }
      this.emit('peer-up', peerId, channel);
    },
    closed: (conn, reason, wasOpen) => {
      this.connections.delete(conn);
      if (conn.direction === 'accepted' && !wasOpen) this.handshaking--;
      const target = conn.expectPeer;
      if (target !== undefined && this.dialing.get(target) === conn) this.dialing.delete(target);
      const peerId = conn.peerId;
      if (wasOpen && peerId !== undefined && this.active.get(peerId) === conn) {
        this.active.delete(peerId);
        this.channels.delete(peerId);
        // At this node's own close() every link goes down by intent: not a warning.
        this.log[this.closed ? 'info' : 'warn'](
          { peer: peerId, remote: conn.remote, reason },
          'node link down',
        );
        this.emit('peer-down', peerId, reason);
      } else if (!wasOpen && !this.closed) {
        this.log.info({ peer: peerId ?? target, remote: conn.remote, reason }, 'node link not established');
      }
      if (target !== undefined && !this.active.has(target) && !this.dialing.has(target)) {
        this.dialers.get(target)?.retry();
      }
    },
    drained: (conn) => {
      const set = conn.peerId === undefined ? undefined : this.drainListeners.get(conn.peerId);
      for (const listener of set ?? []) this.safely(() => listener(), 'drain');
    },
  };

  private heartbeat(): void {
    const now = Date.now();
    const open = [...this.active.values()];
    for (const c of open) c.ping(now);
    // setImmediate runs after the poll phase: what peers sent meanwhile is read before judging.
    setImmediate(() => {
      for (const c of open) c.checkSilence();
    });
  }

  private emit<E extends keyof NodeLinkEvents>(event: E, ...args: Parameters<NodeLinkEvents[E]>): void {
    for (const listener of [...this.listeners[event]]) {
      this.safely(() => (listener as (...a: typeof args) => void)(...args), event);
    }
  }

  private safely(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err, event: what }, 'node link listener threw');
    }
  }
}
