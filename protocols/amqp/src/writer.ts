/**
 * Outgoing bytes for one socket, batched: frames produced in one turn of the event loop
 * go out in a single write. `writable` tells producers (consumer deliveries) to pause
 * before buffers grow without bound; `onDrain` fires when they may go on.
 */
import type { Socket } from 'node:net';

const HIGH_WATER = 1024 * 1024;

export class FrameWriter {
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private waitingDrain = false;
  private wantsDrain = false;
  bytesOut = 0;
  lastWriteAt = Date.now();

  constructor(
    private readonly socket: Socket,
    private readonly onDrain: () => void,
  ) {
    socket.on('drain', () => {
      this.waitingDrain = false;
      this.notify();
    });
  }

  get writable(): boolean {
    return !this.waitingDrain && this.pendingBytes + this.socket.writableLength < HIGH_WATER;
  }

  send(buf: Buffer | readonly Buffer[]): boolean {
    if (Buffer.isBuffer(buf)) {
      this.chunks.push(buf);
      this.pendingBytes += buf.length;
    } else {
      for (const b of buf) {
        this.chunks.push(b);
        this.pendingBytes += b.length;
      }
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    const ok = this.writable;
    if (!ok) this.wantsDrain = true;
    return ok;
  }

  /** Writes everything now (before closing the socket). */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.chunks.length === 0 || this.socket.destroyed) {
      this.chunks = [];
      this.pendingBytes = 0;
      return;
    }
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.pendingBytes);
    this.chunks = [];
    this.bytesOut += this.pendingBytes;
    this.pendingBytes = 0;
    this.lastWriteAt = Date.now();
    if (!this.socket.write(data)) this.waitingDrain = true;
    this.notify();
  };

  private notify(): void {
    if (this.wantsDrain && this.writable) {
      this.wantsDrain = false;
      this.onDrain();
    }
  }
}
