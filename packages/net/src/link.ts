/**
 * One client connection's transport, shared by every protocol: its id, peer and TLS
 * details, byte counters, the ordered outgoing queue with write batching, read pauses by
 * reason (and the state management shows for them), the memory alarm's publisher-only
 * blocking, and the handshake deadline.
 */
import type { CertificateLogin, ConnectionControl, TlsSnapshot } from '@junction/core';
import type { HandshakeDeadline } from './deadline.js';
import type { Pipe, PipeEvents } from './pipe.js';

/** Bytes queued (ours plus the pipe's) above which producers are told to wait for onDrain. */
const HIGH_WATER = 1024 * 1024;

/**
 * Why reading is paused. 'alarm' and 'flow' are what management shows ('blocked', 'flow');
 * a protocol may add its own (MQTT waits for its own SUBSCRIBE with 'packet').
 */
export type PauseReason = 'alarm' | 'flow' | (string & {});

export interface Peer {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;
}

export interface LinkInit {
  id: string;
  pipe: Pipe;
  peer: Peer;
  tls: TlsSnapshot | undefined;
  certificateLogin?: CertificateLogin | undefined;
  deadline: HandshakeDeadline;
  /** WebSocket: one message per send() (STOMP), instead of one per flush. */
  messagePerSend: boolean;
}

/**
 * A protocol connection that takes its Link's events as methods (`link.attach(this)`), where
 * onData/onDrain/onClose take a closure each: ~250 bytes less per held connection.
 */
export interface LinkHandler {
  linkData(chunk: Buffer): void;
  /** A send() that returned false may go on. */
  linkDrain(): void;
  /** Runs before the onClose handlers. */
  linkClosed(): void;
}

const ignoreData = (_chunk: Buffer): void => {};
const ignoreDrain = (): void => {};

/**
 * A Link keeps its times as ms since this module loaded: integers that small are Smis, held in
 * the object itself, where an epoch-ms field (past 2^31) holds a 16-byte number box of its own,
 * three per connection. After 24 days of uptime they are boxed numbers again, and still right.
 */
const EPOCH = Date.now();
/** Math.floor: a plain difference of two doubles is a boxed number, even when it is an integer. */
const sinceEpoch = (): number => Math.floor(Date.now() - EPOCH);

/** The one setImmediate callback of every Link (a bound flush per Link would be a closure each). */
const flushLink = (link: Link): void => link.flush();

export class Link implements PipeEvents {
  readonly id: string;
  readonly transport: 'tcp' | 'ws';
  readonly peer: Peer;
  readonly tls: TlsSnapshot | undefined;
  /**
   * Set when the client sent a certificate that verified against the listener's CA: the user
   * a certificate login (AMQP EXTERNAL, MQTT/STOMP without credentials) logs in as, or why none.
   */
  readonly certificateLogin: CertificateLogin | undefined;
  bytesIn = 0;
  bytesOut = 0;
  /** Since EPOCH, ms. */
  private readonly acceptedAt: number;
  private readAt = sinceEpoch();
  private writeAt = this.readAt;

  private readonly pipe: Pipe;
  /** Until the handshake is done; then dropped, with what it holds. */
  private deadline: HandshakeDeadline | undefined;
  private readonly messagePerSend: boolean;
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private waitingDrain = false;
  private wantsDrain = false;
  /** Created by the first pause: an idle connection holds no empty Set. */
  private pausedBy: Set<PauseReason> | undefined;
  private alarm: string | null = null;
  private handler: LinkHandler | undefined;
  private dataHandler: (chunk: Buffer) => void = ignoreData;
  private drainHandler: () => void = ignoreDrain;
  /** The close handlers, chained (usually two: the registry's and the protocol's). */
  private closeHandler: ((link: Link) => void) | undefined;
  private isClosed = false;

  constructor(init: LinkInit) {
    this.id = init.id;
    this.pipe = init.pipe;
    this.peer = init.peer;
    this.tls = init.tls;
    this.certificateLogin = init.certificateLogin;
    this.deadline = init.deadline;
    this.messagePerSend = init.messagePerSend;
    this.transport = init.pipe.kind;
    this.acceptedAt = Math.floor(init.deadline.acceptedAt - EPOCH);
    init.deadline.describe = () => ({ conn: this.id, remoteAddress: this.peer.remoteAddress });
    this.pipe.bind(this);
  }

  /** When the TCP connection was accepted, epoch ms. */
  get connectedAt(): number {
    return EPOCH + this.acceptedAt;
  }

  /** When the peer last sent something (or reading resumed), epoch ms. */
  get lastReadAt(): number {
    return EPOCH + this.readAt;
  }

  /** When bytes last went out, epoch ms. */
  get lastWriteAt(): number {
    return EPOCH + this.writeAt;
  }

  /** From the pipe: bytes in. */
  pipeData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.readAt = sinceEpoch();
    if (this.handler) this.handler.linkData(chunk);
    else this.dataHandler(chunk);
  }

  /** From the pipe: its buffer drained. */
  pipeDrain(): void {
    this.waitingDrain = false;
    this.notifyDrain();
  }

  /** From the pipe: it closed. */
  pipeClosed(): void {
    this.isClosed = true;
    this.handshakeDone();
    this.chunks = [];
    this.pendingBytes = 0;
    this.handler?.linkClosed();
    this.closeHandler?.(this);
  }

  /** The protocol connection takes data, drain and close as methods (instead of onData and onDrain). */
  attach(handler: LinkHandler): void {
    this.handler = handler;
  }

  /** The protocol's reader. Set once, by the protocol connection's constructor. */
  onData(handler: (chunk: Buffer) => void): void {
    this.dataHandler = handler;
  }

  /** Called when a send() that returned false may go on (consumers resume deliveries). */
  onDrain(handler: () => void): void {
    this.drainHandler = handler;
  }

  /** `handler` is given the link: one function can serve every link. */
  onClose(handler: (link: Link) => void): void {
    const before = this.closeHandler;
    this.closeHandler = before
      ? (link) => {
          before(link);
          handler(link);
        }
      : handler;
  }

  get closed(): boolean {
    return this.isClosed || this.pipe.closed;
  }

  // ---- handshake -----------------------------------------------------------------------------

  /** The protocol's handshake is complete (open-ok / CONNACK / CONNECTED sent): the deadline stops. */
  handshakeDone(): void {
    this.deadline?.done();
    this.deadline = undefined;
  }

  // ---- writing -------------------------------------------------------------------------------

  get writable(): boolean {
    return !this.waitingDrain && this.pendingBytes + this.pipe.buffered < HIGH_WATER;
  }

  /**
   * Queues bytes in order; everything sent in one turn of the event loop leaves in one
   * write (or, for message-per-send WebSockets, one message per call). Returns false when
   * the peer is slow: producers stop until onDrain.
   */
  send(data: Buffer | readonly Buffer[]): boolean {
    if (this.isClosed) return true;
    if (Buffer.isBuffer(data)) {
      this.chunks.push(data);
      this.pendingBytes += data.length;
    } else if (this.messagePerSend) {
      const joined = Buffer.concat(data);
      this.chunks.push(joined);
      this.pendingBytes += joined.length;
    } else {
      for (const b of data) {
        this.chunks.push(b);
        this.pendingBytes += b.length;
      }
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(flushLink, this);
    }
    const ok = this.writable;
    if (!ok) this.wantsDrain = true;
    return ok;
  }

  /** Writes everything queued now (before closing). */
  flush(): void {
    this.scheduled = false;
    if (this.chunks.length === 0 || this.closed) {
      this.chunks = [];
      this.pendingBytes = 0;
      return;
    }
    const chunks = this.chunks;
    this.chunks = [];
    this.bytesOut += this.pendingBytes;
    this.writeAt = sinceEpoch();
    let ok = true;
    if (this.messagePerSend) {
      for (const c of chunks) ok = this.pipe.write(c) && ok;
    } else {
      ok = this.pipe.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.pendingBytes));
    }
    this.pendingBytes = 0;
    if (!ok) this.waitingDrain = true;
    this.notifyDrain();
  }

  private notifyDrain(): void {
    if (this.wantsDrain && this.writable) {
      this.wantsDrain = false;
      if (this.handler) this.handler.linkDrain();
      else this.drainHandler();
    }
  }

  // ---- reading and its pauses ----------------------------------------------------------------

  /** Stops (on) or resumes reading for one reason; reading resumes once no reason holds. */
  pause(reason: PauseReason, on: boolean): void {
    if (on) {
      const pausedBy = (this.pausedBy ??= new Set());
      if (pausedBy.has(reason)) return;
      pausedBy.add(reason);
      if (pausedBy.size === 1) this.pipe.pause();
    } else if (this.pausedBy?.delete(reason) && this.pausedBy.size === 0) {
      this.pausedBy = undefined;
      // Silence while we did not read was ours, not the peer's.
      this.readAt = sinceEpoch();
      if (!this.closed) this.pipe.resume();
    }
  }

  isPausedBy(reason: PauseReason): boolean {
    return this.pausedBy?.has(reason) ?? false;
  }

  /** What management shows for an open connection. */
  get readState(): 'running' | 'flow' | 'blocked' {
    return this.isPausedBy('alarm') ? 'blocked' : this.isPausedBy('flow') ? 'flow' : 'running';
  }

  /**
   * For heartbeat and keepalive checks: has the peer sent nothing for ms? Never while the
   * broker itself holds reading paused: the peer's heartbeats are waiting unread in the socket.
   */
  isSilentFor(ms: number, now = Date.now()): boolean {
    return (this.pausedBy?.size ?? 0) === 0 && now - EPOCH - this.readAt > ms;
  }

  // ---- resource alarms -----------------------------------------------------------------------

  /** The alarm's reason while one is set (memory, disk), else null. */
  get alarmReason(): string | null {
    return this.alarm;
  }

  /**
   * Call when the peer publishes (before handling it). During an alarm this blocks the
   * connection: its reading stops until the alarm clears. Connections that only consume keep
   * reading their acks, credit and heartbeats, as in RabbitMQ.
   */
  publishing(): void {
    if (this.alarm !== null) this.pause('alarm', true);
  }

  /**
   * The ConnectionControl to hand to BrokerApi.connect: alarms and publisher flow control act on
   * this link; onAlarm lets the protocol tell its client (AMQP connection.blocked).
   */
  /**
   * What the core may ask of this connection. `close` is a function, or the connection itself
   * (its closeByBroker: no closure per connection).
   */
  control(close: Closer, onAlarm?: (blocked: boolean, reason: string) => void): ConnectionControl {
    return new LinkControl(this, close, onAlarm);
  }

  /** The memory or disk alarm is set (reason) or cleared (null): see publishing(). */
  setAlarm(reason: string | null): void {
    this.alarm = reason;
    if (reason === null) this.pause('alarm', false);
  }

  // ---- closing -------------------------------------------------------------------------------

  /** Sends what is queued (and `last`), then closes. */
  end(last?: Buffer): void {
    if (last) this.send(last);
    this.flush();
    this.pipe.end();
  }

  destroy(): void {
    this.pipe.destroy();
  }
}

/** A Link's ConnectionControl: methods, not closures (one object per connection). */
type Closer = ((reason: string) => Promise<void>) | { closeByBroker(reason: string): Promise<void> };

class LinkControl implements ConnectionControl {
  constructor(
    private readonly link: Link,
    private readonly closer: Closer,
    private readonly onAlarm: ((blocked: boolean, reason: string) => void) | undefined,
  ) {}

  close(reason: string): Promise<void> {
    return typeof this.closer === 'function' ? this.closer(reason) : this.closer.closeByBroker(reason);
  }

  setBlocked(blocked: boolean, reason: string): void {
    this.link.setAlarm(blocked ? reason : null);
    this.onAlarm?.(blocked, reason);
  }

  throttle(on: boolean): void {
    this.link.pause('flow', on);
  }
}
