/**
 * One incarnation of the link to a peer: from its authentication until its connection ends,
 * then down for good (a reconnect is a new PeerChannel, given with the next peer-up). What a
 * layer needs that must not carry on silently over a reconnect (a proxy consumer, a sequence
 * of forwarded publishes) holds this; what may simply go to "that node, now" uses PeerHandle.
 */
import type { PeerConnection } from './connection.js';

export class PeerChannel {
  constructor(
    private readonly conn: PeerConnection,
    private readonly onDrainOf: (peerId: string, listener: () => void) => () => void,
  ) {}

  get peerId(): string {
    return this.conn.peerId!;
  }

  /** False once this incarnation ended, for good. */
  get open(): boolean {
    return this.conn.phase === 'open';
  }

  /** Largest body the peer accepts in one frame (larger ones fail with FRAME_TOO_LARGE). */
  get maxBodyBytes(): number {
    return this.conn.maxBodyBytes;
  }

  /**
   * Resolves with the handler's reply body; rejects with LinkError. timeoutMs 0: no timeout
   * (the request still rejects when the link goes down, heartbeats included).
   */
  request(type: number, body: Buffer, timeoutMs: number): Promise<Buffer> {
    return this.conn.request(type, body, timeoutMs);
  }

  /** One-way. false: buffered above the high-water mark, wait for onDrain. Throws LinkError once down. */
  send(type: number, body: Buffer): boolean {
    return this.conn.send(type, body);
  }

  /** Called each time a send() that returned false may go on. Returns the unsubscribe. */
  onDrain(listener: () => void): () => void {
    return this.onDrainOf(this.peerId, listener);
  }

  /** Called once when this incarnation ends, with the reason (at once if it has). */
  onDown(listener: (reason: string) => void): void {
    this.conn.onDown(listener);
  }

  /** Ends this incarnation (the dialer side redials while the peer is wanted). */
  close(reason: string): void {
    this.conn.close(reason);
  }
}
