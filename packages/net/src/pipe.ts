/**
 * The byte pipe under a Link: a socket (TCP or TLS) or a WebSocket. A Link only needs
 * bytes in, one write per flush, how much is still buffered, pause/resume, and close.
 */
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** What a pipe tells its Link; methods, so a socket needs no closures of its own. */
export interface PipeEvents {
  pipeData(chunk: Buffer): void;
  /** The pipe's buffer went below its mark after a write returned false. */
  pipeDrain(): void;
  pipeClosed(): void;
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

/**
 * The socket listeners, one function each for every socket (`this` is the socket): a closure
 * per socket and event cost ~100 bytes per held connection. 'close' follows every error; the
 * Link's owner logs why it closed.
 */
const EVENTS = Symbol('pipe events');
type BoundSocket = Socket & { [EVENTS]: PipeEvents };
function onSocketData(this: BoundSocket, chunk: Buffer): void {
  this[EVENTS].pipeData(chunk);
}
function onSocketDrain(this: BoundSocket): void {
  this[EVENTS].pipeDrain();
}
function onSocketClose(this: BoundSocket): void {
  this[EVENTS].pipeClosed();
}
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
    const socket = this.socket as BoundSocket;
    socket[EVENTS] = events;
    socket.on('data', onSocketData);
    socket.on('drain', onSocketDrain);
    socket.on('error', ignoreError);
    socket.on('close', onSocketClose);
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
      events.pipeData(
        Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data),
      ),
    );
    this.ws.on('error', () => {});
    this.ws.on('close', () => {
      this.isClosed = true;
      events.pipeClosed();
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
        this.events?.pipeDrain();
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
