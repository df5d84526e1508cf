/**
 * The handshake deadline: one absolute time limit from the moment a TCP connection is
 * accepted until the protocol says its handshake is done (AMQP open-ok, MQTT CONNACK, STOMP
 * CONNECTED), covering the TLS handshake and the WebSocket upgrade on the way. It never
 * restarts when bytes arrive, so a peer that trickles one byte at a time is still cut off.
 */
import type { Socket } from 'node:net';

/** RabbitMQ's handshake_timeout. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export class HandshakeDeadline {
  readonly acceptedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  /** Replaced by the Link once it exists, so the log line names the connection. */
  describe: () => Record<string, unknown>;

  /** ms <= 0: no deadline. onExpire runs before the socket is destroyed. */
  constructor(
    /** The accepted TCP socket (under TLS and WebSocket layers, if any). */
    readonly socket: Socket,
    ms: number,
    onExpire: (what: Record<string, unknown>) => void,
  ) {
    this.describe = () => ({ remoteAddress: socket.remoteAddress, remotePort: socket.remotePort });
    if (ms <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      onExpire(this.describe());
      this.socket.destroy();
    }, ms);
    this.timer.unref();
    // No close listener of its own: the Link (or, before it exists, the listener) calls done().
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  done(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
