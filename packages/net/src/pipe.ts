/**
 * The byte pipe under a Link: a socket (TCP or TLS) or a WebSocket. A Link only needs
 * bytes in, one write per flush, how much is still buffered, pause/resume, and close.
 */
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

export interface PipeEvents {
  data(chunk: Buffer): void;
  /** The pipe's buffer went below its mark after a write returned false. */
  drain(): void;
  close(): void;
}

export interface Pipe {
  readonly kind: 'tcp' | 'ws';
  bind(events: PipeEvents): void;
  /** false: buffered above the mark; drain() follows. */
  write(data: Buffer): boolean;
  readonly buffered: number;
  readonly closed: boolean;
  pause(): void;
  resume(): void;
  /** Sends what is buffered, then closes; a peer that never reads is cut off after a second. */
  end(): void;
  destroy(): void;
}

/** One error listener for every socket: 'close' follows each error, and a closure per socket costs. */
const ignoreError = (): void => {};

/** How long an ending pipe may linger for a peer that does not read. */
const LINGER_MS = 1000;
/** Bytes handed to ws.send but not yet on the socket above which a WebSocket pipe reports full. */
const WS_HIGH_WATER = 512 * 1024;

export class SocketPipe implements Pipe {
  readonly kind = 'tcp';

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
  }

  bind(events: PipeEvents): void {
    this.socket.on('data', events.data);
    this.socket.on('drain', events.drain);
    // 'close' follows every error; the Link's owner logs why it closed.
    this.socket.on('error', ignoreError);
    this.socket.on('close', events.close);
  }

  write(data: Buffer): boolean {
    return this.socket.write(data);
  }

  get buffered(): number {
    return this.socket.writableLength;
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    if (this.socket.destroyed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export class WebSocketPipe implements Pipe {
  readonly kind = 'ws';
  private pending = 0;
  private wantsDrain = false;
  private isClosed = false;
  private events: PipeEvents | undefined;

  /** textWhenUtf8: send valid UTF-8 as text messages (what browsers' STOMP clients expect). */
  constructor(
    private readonly ws: WebSocket,
    private readonly textWhenUtf8: boolean,
  ) {}

  bind(events: PipeEvents): void {
    this.events = events;
    this.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) =>
      events.data(
        Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data),
      ),
    );
    this.ws.on('error', () => {});
    this.ws.on('close', () => {
      this.isClosed = true;
      events.close();
    });
  }

  write(data: Buffer): boolean {
    if (this.isClosed || this.ws.readyState !== this.ws.OPEN) return true;
    const n = data.length;
    this.pending += n;
    this.ws.send(data, { binary: !(this.textWhenUtf8 && isUtf8(data)) }, () => {
      this.pending -= n;
      if (this.wantsDrain && this.pending < WS_HIGH_WATER / 2) {
        this.wantsDrain = false;
        this.events?.drain();
      }
    });
    if (this.pending < WS_HIGH_WATER) return true;
    this.wantsDrain = true;
    return false;
  }

  get buffered(): number {
    return this.pending;
  }

  get closed(): boolean {
    return this.isClosed;
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
    setTimeout(() => this.ws.terminate(), LINGER_MS).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }
}
