/**
 * The byte pipe under a STOMP connection: a TCP socket or a WebSocket. The connection
 * only sees frames out (write), bytes in (onData), back-pressure (write() === false, then
 * onDrain) and close. TCP batches every frame of one event-loop turn into one writev
 * (cork/uncork); WebSocket sends one frame per message, as web STOMP clients expect.
 */
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { NUL_BYTE } from './encode.js';

export interface TransportEvents {
  onData(chunk: Buffer): void;
  onDrain(): void;
  onClose(): void;
}

export interface Transport {
  readonly kind: 'tcp' | 'ws';
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;
  bytesIn: number;
  bytesOut: number;
  /** Queues one encoded frame. false: the peer is slow, stop producing until onDrain. */
  write(frame: Buffer): boolean;
  /** Queues a frame given as head + body (the body is not copied where the transport allows). */
  writeParts(head: Buffer, body: Buffer): boolean;
  /** Write buffer below the high-water mark. */
  readonly writable: boolean;
  pause(): void;
  resume(): void;
  /** Flushes what is queued, then closes. */
  end(): void;
  destroy(): void;
  readonly closed: boolean;
  bind(events: TransportEvents): void;
}

/** Bytes queued on a connection above which deliveries pause. */
const HIGH_WATER = 512 * 1024;

export class TcpTransport implements Transport {
  readonly kind = 'tcp';
  bytesIn = 0;
  bytesOut = 0;
  private corked = false;
  private wantsDrain = false;
  private events: TransportEvents | undefined;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      this.events?.onData(chunk);
    });
    socket.on('drain', () => {
      if (this.wantsDrain) {
        this.wantsDrain = false;
        this.events?.onDrain();
      }
    });
    socket.on('error', () => {
      /* 'close' follows; nothing to do here */
    });
    socket.on('close', () => this.events?.onClose());
  }

  bind(events: TransportEvents): void {
    this.events = events;
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }
  get localPort(): number {
    return this.socket.localPort ?? 0;
  }
  get closed(): boolean {
    return this.socket.destroyed;
  }
  get writable(): boolean {
    return this.socket.writableLength < HIGH_WATER;
  }

  write(frame: Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return true;
    if (!this.corked) {
      // Everything written in this turn goes out as one writev when the turn ends.
      this.corked = true;
      this.socket.cork();
      setImmediate(this.uncork);
    }
    this.bytesOut += frame.length;
    this.socket.write(frame);
    const ok = this.socket.writableLength < HIGH_WATER;
    if (!ok) this.wantsDrain = true;
    return ok;
  }

  writeParts(head: Buffer, body: Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return true;
    this.write(head);
    this.socket.write(body);
    this.socket.write(NUL_BYTE);
    this.bytesOut += body.length + 1;
    const ok = this.socket.writableLength < HIGH_WATER;
    if (!ok) this.wantsDrain = true;
    return ok;
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  end(): void {
    if (this.corked) this.uncork();
    this.socket.end();
    // A peer that never reads must not keep the socket alive.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }
  destroy(): void {
    this.socket.destroy();
  }
}

export class WsTransport implements Transport {
  readonly kind = 'ws';
  bytesIn = 0;
  bytesOut = 0;
  /** Bytes handed to ws.send whose callback has not run yet. */
  private pending = 0;
  private wantsDrain = false;
  private events: TransportEvents | undefined;
  private isClosed = false;

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localPort: number,
  ) {
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const chunk = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      this.bytesIn += chunk.length;
      this.events?.onData(chunk);
    });
    ws.on('error', () => {
      /* 'close' follows */
    });
    ws.on('close', () => {
      this.isClosed = true;
      this.events?.onClose();
    });
  }

  bind(events: TransportEvents): void {
    this.events = events;
  }

  get closed(): boolean {
    return this.isClosed;
  }
  get writable(): boolean {
    return this.pending < HIGH_WATER;
  }

  write(frame: Buffer): boolean {
    if (this.isClosed || this.ws.readyState !== this.ws.OPEN) return true;
    this.bytesOut += frame.length;
    this.pending += frame.length;
    // Text frames when the frame is valid UTF-8 (what browsers' STOMP clients expect); binary otherwise.
    this.ws.send(frame, { binary: !isUtf8(frame) }, () => {
      this.pending -= frame.length;
      if (this.wantsDrain && this.pending < HIGH_WATER / 2) {
        this.wantsDrain = false;
        this.events?.onDrain();
      }
    });
    const ok = this.pending < HIGH_WATER;
    if (!ok) this.wantsDrain = true;
    return ok;
  }

  writeParts(head: Buffer, body: Buffer): boolean {
    // One STOMP frame per WebSocket message: the parts are joined.
    return this.write(Buffer.concat([head, body, NUL_BYTE]));
  }

  pause(): void {
    this.ws.pause();
  }
  resume(): void {
    this.ws.resume();
  }
  end(): void {
    if (this.isClosed) return;
    this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }
  destroy(): void {
    this.ws.terminate();
  }
}
