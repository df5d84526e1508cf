/**
 * One node-link TCP connection, either direction: the handshake (nothing but handshake frames
 * is parsed before both sides proved the secret), then requests and replies by correlation
 * id, one-way messages, heartbeats, and bounded buffers both ways. It never throws out of a
 * socket callback: bad input closes this connection with a reason, and only this one.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { LinkError, type LinkErrorCode } from './errors.js';
import {
  checkMessageType,
  EMPTY,
  FrameDecoder,
  FrameError,
  FrameKind,
  frameBytes,
  frameHeader,
  HEADER_BYTES,
  kindName,
  type Frame,
} from './frame.js';
import { HANDSHAKE_MAX_FRAME_BYTES, Handshake, Refusal } from './handshake.js';

/** A handler's answer: a reply body for a request (void: empty), ignored for a one-way message. */
export type HandlerResult = Buffer | void | Promise<Buffer | void>;
export type Handler = (peerId: string, body: Buffer) => HandlerResult;

export interface ConnectionSettings {
  nodeId: string;
  secret: Buffer;
  /** Largest frame this node accepts (header included); announced in HELLO. */
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  /** Outbound bytes buffered above which send() returns false. */
  highWaterBytes: number;
  /** Outbound bytes buffered above which the peer is deemed not reading and the connection closes. */
  maxBufferedBytes: number;
  /** Requests this node may have pending on the peer; also handler calls in flight before reads pause. */
  maxPendingRequests: number;
  heartbeatMisses: number;
  heartbeatMs: number;
  handlers: ReadonlyMap<number, Handler>;
  log: Logger;
}

export interface ConnectionEvents {
  /** Both sides verified each other's proof; frames flow. */
  opened(conn: PeerConnection): void;
  /** Once per connection, at once when it ends (before the socket's own close event). */
  closed(conn: PeerConnection, reason: string, wasOpen: boolean): void;
  /** A send() that returned false may go on. */
  drained(conn: PeerConnection): void;
}

interface Pending {
  resolve(body: Buffer): void;
  reject(err: LinkError): void;
  timer: NodeJS.Timeout | undefined;
}

type Phase = 'handshake' | 'open' | 'closed';

/** How long a refused peer gets to read our REFUSE before the socket is destroyed. */
const REFUSE_LINGER_MS = 1000;

export class PeerConnection {
  phase: Phase = 'handshake';
  /** The authenticated peer's id (set once its HELLO is accepted). */
  peerId: string | undefined;
  /** Largest frame the peer accepts, from its HELLO. */
  private peerMaxFrameBytes = HANDSHAKE_MAX_FRAME_BYTES;
  private readonly handshake: Handshake;
  private proofVerified = false;
  private readonly decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES);
  private handshakeTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextCorr = 1;
  /** Handler calls not finished; reading pauses at maxPendingRequests. */
  private inFlight = 0;
  private readPaused = false;
  private corked = false;
  private wantsDrain = false;
  private lastReadAt = Date.now();
  private pingCorr = 0;
  private pingSentAt = 0;
  /** Round trip of the last answered heartbeat, ms. */
  rttMs: number | undefined;
  bytesIn = 0;
  bytesOut = 0;
  private readonly downListeners: ((reason: string) => void)[] = [];
  private downReason = '';

  constructor(
    readonly socket: Socket,
    /** 'dialed': we connected to `expectPeer`; 'accepted': it connected to our listener. */
    readonly direction: 'dialed' | 'accepted',
    private readonly settings: ConnectionSettings,
    private readonly events: ConnectionEvents,
    /** The node a dialed connection must reach; undefined on accepted ones. */
    readonly expectPeer?: string,
  ) {
    this.handshake = new Handshake(settings.secret, settings.nodeId, settings.maxFrameBytes, expectPeer);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => this.finish(`socket error: ${err.message}`));
    socket.on('close', () => this.finish('connection closed by the peer'));
    if (settings.handshakeTimeoutMs > 0) {
      this.handshakeTimer = setTimeout(
        () => this.close(`handshake not complete after ${settings.handshakeTimeoutMs} ms`),
        settings.handshakeTimeoutMs,
      );
      this.handshakeTimer.unref();
    }
    // A dialed socket may still be connecting: write() queues until it is.
    this.writeFrame(FrameKind.HELLO, 0, 0, this.handshake.hello);
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Outbound bytes not yet handed to the kernel. */
  get buffered(): number {
    return this.socket.writableLength;
  }

  get writable(): boolean {
    return this.phase === 'open' && this.socket.writableLength < this.settings.highWaterBytes;
  }

  // ---- the API the NodeLink's peer handle uses ---------------------------------------------

  request(type: number, body: Buffer, timeoutMs: number): Promise<Buffer> {
    checkMessageType(type);
    const peer = this.peerId ?? '?';
    if (this.phase !== 'open') return Promise.reject(linkError('NOT_CONNECTED', peer, 'not connected'));
    if (this.pending.size >= this.settings.maxPendingRequests) {
      return Promise.reject(
        linkError('TOO_MANY_PENDING', peer, `${this.pending.size} requests pending already`),
      );
    }
    const tooLarge = this.checkSize(body);
    if (tooLarge) return Promise.reject(tooLarge);
    const corr = this.allocateCorr();
    return new Promise<Buffer>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.pending.delete(corr);
              reject(linkError('TIMEOUT', peer, `no reply within ${timeoutMs} ms`));
            }, timeoutMs)
          : undefined;
      this.pending.set(corr, { resolve, reject, timer });
      this.writeFrame(FrameKind.REQUEST, type, corr, body);
    });
  }

  /** false: buffered above the high-water mark, wait for drained(). Throws LinkError. */
  send(type: number, body: Buffer): boolean {
    checkMessageType(type);
    const peer = this.peerId ?? '?';
    if (this.phase !== 'open') throw linkError('NOT_CONNECTED', peer, 'not connected');
    const tooLarge = this.checkSize(body);
    if (tooLarge) throw tooLarge;
    this.writeFrame(FrameKind.MESSAGE, type, 0, body);
    if (this.writable) return true;
    this.wantsDrain = true;
    return false;
  }

  /** Called every heartbeat interval by the NodeLink. */
  ping(now: number): void {
    if (this.phase !== 'open') return;
    this.pingCorr = this.allocateCorr();
    this.pingSentAt = now;
    this.writeFrame(FrameKind.PING, 0, this.pingCorr, EMPTY);
  }

  /**
   * Gives up on a peer silent for `heartbeatMisses` intervals. The NodeLink calls it after the
   * event loop's poll phase that follows the heartbeat timer, so bytes that arrived while this
   * process itself was stalled (GC, a busy loop, SIGSTOP) are read first and do not count as
   * the peer's silence.
   */
  checkSilence(): void {
    if (this.phase !== 'open') return;
    const silentMs = Date.now() - this.lastReadAt;
    const limit = this.settings.heartbeatMs * this.settings.heartbeatMisses;
    // While we hold reading paused, the peer's heartbeats wait unread: that silence is ours.
    if (!this.readPaused && silentMs > limit)
      this.close(`no heartbeat for ${silentMs} ms (limit ${limit} ms)`);
  }

  /** Ends this connection now: pending requests reject, the socket is destroyed. */
  close(reason: string): void {
    if (this.phase === 'closed') return;
    this.finish(reason);
    this.socket.destroy();
  }

  // ---- reading ------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    this.bytesIn += chunk.length;
    this.lastReadAt = Date.now();
    this.parse(chunk);
  }

  private parse(chunk: Buffer): void {
    try {
      this.decoder.push(chunk, this.onFrame);
    } catch (err) {
      // FrameError from the decoder; anything else is a bug here, still only this link's.
      const reason = err instanceof FrameError ? err.message : `internal error: ${String(err)}`;
      if (this.phase === 'handshake') this.refuse(reason);
      else this.close(reason);
    }
  }

  private readonly onFrame = (frame: Frame): boolean => {
    if (this.phase === 'handshake') this.onHandshakeFrame(frame);
    else this.onOpenFrame(frame);
    // Paused: the frames after this one in the same chunk wait too.
    return this.phase !== 'closed' && !this.readPaused;
  };

  private onHandshakeFrame(frame: Frame): void {
    try {
      switch (frame.kind) {
        case FrameKind.HELLO: {
          const proof = this.handshake.onHello(frame.body);
          this.peerId = this.handshake.peer!.nodeId;
          this.writeFrame(FrameKind.PROOF, 0, 0, proof);
          return;
        }
        case FrameKind.PROOF:
          this.handshake.onProof(frame.body);
          this.proofVerified = true;
          this.writeFrame(FrameKind.READY, 0, 0, EMPTY);
          return;
        case FrameKind.READY:
          if (!this.proofVerified) throw new Refusal('READY before a verified PROOF');
          return this.open();
        case FrameKind.REFUSE:
          this.settings.log.warn(
            { peer: this.peerId, remote: this.remote, reason: frame.body.toString('utf8') },
            'node link refused by the peer',
          );
          return this.close(`refused by the peer: ${frame.body.toString('utf8')}`);
        default:
          throw new Refusal(`${kindName(frame.kind)} frame before authentication`);
      }
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.refuse(err.message);
    }
  }

  private open(): void {
    const peer = this.handshake.peer!;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.peerMaxFrameBytes = peer.maxFrameBytes;
    this.decoder.maxFrameBytes = this.settings.maxFrameBytes;
    this.phase = 'open';
    this.events.opened(this);
  }

  private onOpenFrame(frame: Frame): void {
    switch (frame.kind) {
      case FrameKind.REQUEST:
      case FrameKind.MESSAGE:
        return this.dispatch(frame);
      case FrameKind.REPLY:
      case FrameKind.FAIL:
        return this.settle(frame);
      case FrameKind.PING:
        return this.writeFrame(FrameKind.PONG, 0, frame.corr, EMPTY);
      case FrameKind.PONG:
        if (frame.corr === this.pingCorr) this.rttMs = Date.now() - this.pingSentAt;
        return;
      default:
        return this.close(`unexpected ${kindName(frame.kind)} frame`);
    }
  }

  private dispatch(frame: Frame): void {
    const peer = this.peerId!;
    const isRequest = frame.kind === FrameKind.REQUEST;
    const handler = this.settings.handlers.get(frame.type);
    if (!handler) {
      if (isRequest) return this.fail(frame.corr, 'NO_HANDLER', `no handler for message type ${frame.type}`);
      this.settings.log.warn(
        { peer, type: frame.type },
        'node link message of a type with no handler dropped',
      );
      return;
    }
    let result: HandlerResult;
    try {
      result = handler(peer, frame.body);
    } catch (err) {
      return this.handlerFailed(frame, err);
    }
    if (!(result instanceof Promise)) {
      if (isRequest) this.reply(frame.corr, result ?? EMPTY);
      return;
    }
    this.inFlight++;
    if (this.inFlight >= this.settings.maxPendingRequests) this.pauseReading(true);
    result.then(
      (body) => {
        this.handlerDone();
        if (isRequest) this.reply(frame.corr, body ?? EMPTY);
      },
      (err: unknown) => {
        this.handlerDone();
        this.handlerFailed(frame, err);
      },
    );
  }

  private handlerDone(): void {
    this.inFlight--;
    if (this.inFlight <= this.settings.maxPendingRequests / 2) this.pauseReading(false);
  }

  private handlerFailed(frame: Frame, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (frame.kind === FrameKind.REQUEST) return this.fail(frame.corr, 'REMOTE', message);
    this.settings.log.error({ peer: this.peerId, type: frame.type, err }, 'node link message handler failed');
  }

  private reply(corr: number, body: Buffer): void {
    if (this.phase !== 'open') return;
    if (frameBytes(body.length) > this.peerMaxFrameBytes) {
      return this.fail(
        corr,
        'FRAME_TOO_LARGE',
        `reply of ${body.length} bytes exceeds the peer's frame limit`,
      );
    }
    this.writeFrame(FrameKind.REPLY, 0, corr, body);
  }

  private fail(corr: number, code: LinkErrorCode, message: string): void {
    if (this.phase !== 'open') return;
    this.writeFrame(FrameKind.FAIL, 0, corr, Buffer.from(JSON.stringify({ code, message })));
  }

  private settle(frame: Frame): void {
    const p = this.pending.get(frame.corr);
    if (!p) return; // timed out already: its caller has its answer
    this.pending.delete(frame.corr);
    clearTimeout(p.timer);
    if (frame.kind === FrameKind.REPLY) return p.resolve(frame.body);
    let failure: { code?: unknown; message?: unknown };
    try {
      failure = JSON.parse(frame.body.toString('utf8')) as typeof failure;
    } catch {
      failure = { message: frame.body.toString('utf8') };
    }
    const code =
      failure.code === 'NO_HANDLER' || failure.code === 'FRAME_TOO_LARGE' ? failure.code : 'REMOTE';
    p.reject(linkError(code, this.peerId!, String(failure.message)));
  }

  private pauseReading(on: boolean): void {
    if (on === this.readPaused || this.phase === 'closed') return;
    this.readPaused = on;
    if (on) this.socket.pause();
    else {
      this.lastReadAt = Date.now();
      this.socket.resume();
      this.parse(EMPTY); // the frames held back when reading paused
    }
  }

  // ---- writing ------------------------------------------------------------------------------

  private checkSize(body: Buffer): LinkError | undefined {
    if (frameBytes(body.length) <= this.peerMaxFrameBytes) return undefined;
    return linkError(
      'FRAME_TOO_LARGE',
      this.peerId ?? '?',
      `body of ${body.length} bytes exceeds the peer's frame limit of ${this.peerMaxFrameBytes}`,
    );
  }

  private allocateCorr(): number {
    // 1..2^32-1, skipping ids still pending (a wrap-around after 4 billion requests).
    for (;;) {
      const corr = this.nextCorr;
      this.nextCorr = corr === 0xffffffff ? 1 : corr + 1;
      if (!this.pending.has(corr)) return corr;
    }
  }

  /**
   * Frames written in one turn of the event loop leave in one syscall (cork until the next
   * tick). Past maxBufferedBytes the peer is not reading what it is sent: close it rather than
   * let its buffer grow without bound.
   */
  private writeFrame(kind: FrameKind, type: number, corr: number, body: Buffer): void {
    if (this.phase === 'closed') return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(uncork, this);
    }
    this.socket.write(frameHeader(kind, type, corr, body.length));
    if (body.length > 0) this.socket.write(body);
    this.bytesOut += frameBytes(body.length);
    const buffered = this.socket.writableLength;
    if (buffered > this.settings.maxBufferedBytes) {
      this.close(
        `peer is not reading: ${buffered} bytes buffered for it, over the limit of ${this.settings.maxBufferedBytes}`,
      );
    }
  }

  /** @internal the nextTick half of writeFrame's cork. */
  uncork(): void {
    this.corked = false;
    if (this.phase !== 'closed') this.socket.uncork();
  }

  private onDrain(): void {
    if (!this.wantsDrain || !this.writable) return;
    this.wantsDrain = false;
    this.events.drained(this);
  }

  // ---- ending -------------------------------------------------------------------------------

  /** Refuses the handshake: logged here, REFUSE sent so the peer can log why, then closed. */
  private refuse(reason: string): void {
    this.settings.log.warn({ peer: this.peerId, remote: this.remote, reason }, 'node link refused');
    this.writeFrame(FrameKind.REFUSE, 0, 0, Buffer.from(reason, 'utf8'));
    this.finish(reason);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), REFUSE_LINGER_MS).unref();
  }

  private finish(reason: string): void {
    if (this.phase === 'closed') return;
    const wasOpen = this.phase === 'open';
    this.phase = 'closed';
    clearTimeout(this.handshakeTimer);
    const peer = this.peerId ?? '?';
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(linkError('PEER_DOWN', peer, `connection closed while the request was pending: ${reason}`));
    }
    this.pending.clear();
    this.downReason = reason;
    const listeners = this.downListeners.splice(0);
    this.events.closed(this, reason, wasOpen);
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch (err) {
        this.settings.log.error({ err, peer }, 'node link down listener threw');
      }
    }
  }

  /** Called once when this connection ends (at once if it has). */
  onDown(listener: (reason: string) => void): void {
    if (this.phase === 'closed') listener(this.downReason);
    else this.downListeners.push(listener);
  }

  /** Largest body the peer accepts in one frame. */
  get maxBodyBytes(): number {
    return this.peerMaxFrameBytes - HEADER_BYTES;
  }
}

function uncork(conn: PeerConnection): void {
  conn.uncork();
}

function linkError(code: LinkErrorCode, peer: string, message: string): LinkError {
  return new LinkError(code, peer, `node link to '${peer}': ${message}`);
}
