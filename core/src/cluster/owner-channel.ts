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
  /** Rejects if the channel goes down before the answer arrives (the outcome is then unknown). */
  request(frame: Buffer): Promise<Buffer>;
  /** Fire and forget; false (and nothing sent) once the channel is down. */
  send(frame: Buffer): boolean;
  /** Installs what handles the other node's frames; once, before anything is sent. */
  serve(handlers: ChannelHandlers): void;
  /** Called once when the channel goes down (at once if it already is). */
  onDown(listener: (reason: string) => void): void;
  /** Takes the channel down at both ends. */
  close(reason: string): void;
}
