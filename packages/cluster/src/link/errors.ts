/** Why a node-link request or send failed: the code says what the caller may do next. */

export type LinkErrorCode =
  /** No authenticated connection to that node now (never connected, or down): try another route. */
  | 'NOT_CONNECTED'
  /** The connection closed while the request was pending: its outcome is unknown. */
  | 'PEER_DOWN'
  /** No reply within the request's timeout: its outcome is unknown. */
  | 'TIMEOUT'
  /** As many requests as the link allows are pending on that peer already. */
  | 'TOO_MANY_PENDING'
  /** The body is larger than the peer accepts in one frame. */
  | 'FRAME_TOO_LARGE'
  /** The peer has no handler for the message type. */
  | 'NO_HANDLER'
  /** The peer's handler threw or rejected; the message is its error's. */
  | 'REMOTE'
  /** This NodeLink was closed. */
  | 'LINK_CLOSED';

export class LinkError extends Error {
  constructor(
    readonly code: LinkErrorCode,
    readonly peerId: string,
    message: string,
  ) {
    super(message);
    this.name = 'LinkError';
  }
}
