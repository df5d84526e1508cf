/**
 * The transport between two nodes, as forwarding and proxy consumers need it: requests with
 * an answer, one-way messages, and a down event. Frames are opaque bytes here (frames.ts
 * encodes them); order is kept per direction, requests and messages alike, which the
 * protocol relies on (a publish's settle never overtakes its delivery). One object is one
 * incarnation of the connection: once down it stays down, and a reconnect is a new channel.
 * Implementations: `inProcessChannels` (in-process-channel.ts, tests and benches) and the node
 * link's adapter in @junction/cluster.
 */
export interface ChannelHandlers {
  /** A request from the other node; the answer (or rejection) goes back to it. */
  request(frame: Buffer): Promise<Buffer>;
  /** A one-way message from the other node. */
  message(frame: Buffer): void;
}

export interface OwnerChannel {
  /** The node at the other end (its cluster id). */
  readonly peer: string;
  /** False once down, for good. */
  readonly open: boolean;
  /** Largest frame it carries; a larger one is never sent (frames.ts keeps bodies well under 16 MiB). */
  readonly maxFrameBytes: number;
  /** Rejects if the channel goes down before the answer arrives (the outcome is then unknown). */
  request(frame: Buffer): Promise<Buffer>;
  /** Fire and forget; false (and nothing sent) once the channel is down. */
  send(frame: Buffer): boolean;
  /** Installs what handles the other node's frames; once, before anything is sent. */
  serve(handlers: ChannelHandlers): void;
  /** Called once when the channel goes down (at once if it already is). */
  onDown(listener: (reason: string) => void): void;
  /** Takes this end down (the in-process pair: both ends; the node link's stays connected). */
  close(reason: string): void;
}

/**
 * What every OwnerChannel implementation shares: the once-only down event, the handlers, and
 * refusing to send once down. A transport implements how a frame goes out (`transmit`,
 * `transmitRequest`), hands what arrives to `received`/`receivedRequest`, and calls `goDown`.
 */
export abstract class ChannelEnd implements OwnerChannel {
  abstract readonly peer: string;
  abstract readonly maxFrameBytes: number;
  private isOpen = true;
  private downReason = '';
  private readonly downListeners: ((reason: string) => void)[] = [];
  private handlers: ChannelHandlers | undefined;

  get open(): boolean {
    return this.isOpen;
  }

  request(frame: Buffer): Promise<Buffer> {
    if (!this.isOpen) return Promise.reject(new Error(`channel to ${this.peer} is down: ${this.downReason}`));
    return this.transmitRequest(frame);
  }

  send(frame: Buffer): boolean {
    return this.isOpen && this.transmit(frame);
  }

  serve(handlers: ChannelHandlers): void {
    this.handlers = handlers;
  }

  onDown(listener: (reason: string) => void): void {
    if (!this.isOpen) listener(this.downReason);
    else this.downListeners.push(listener);
  }

  abstract close(reason: string): void;

  protected abstract transmitRequest(frame: Buffer): Promise<Buffer>;
  /** false: the frame could not be sent (the transport is gone). */
  protected abstract transmit(frame: Buffer): boolean;

  /** A request from the other node, for the handlers. */
  receivedRequest(frame: Buffer): Promise<Buffer> {
    if (!this.handlers) return Promise.reject(new Error('nothing serves this channel yet'));
    return this.handlers.request(frame);
  }

  /** A one-way message from the other node, for the handlers. */
  received(frame: Buffer): void {
    this.handlers?.message(frame);
  }

  /** Goes down (once: false if it already was) and tells every listener. */
  protected goDown(reason: string): boolean {
    if (!this.isOpen) return false;
    this.isOpen = false;
    this.downReason = reason;
    for (const l of this.downListeners.splice(0)) l(reason);
    return true;
  }
}
