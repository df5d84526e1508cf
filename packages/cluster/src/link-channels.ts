/**
 * The core's OwnerChannel (forwarded publishes, proxy consumers: core/src/cluster) over the
 * node link: one channel per peer connection, from its peer-up to its peer-down, on two message
 * types of the link (requests and one-way messages). A new connection to the same node (a
 * reconnect, a restarted node) is a new channel, as the core expects.
 *
 *   const channels = new LinkChannels(link);
 *   channels.onChannel((ch) => peers.set(ch.peer, new NodePeer(ch, { vhost, log })));
 *   remoteQueue.setOwner(peers.get(ownerId) ?? null);
 */
import { ChannelEnd, type OwnerChannel } from '@junction/core/internal';
import { LinkError } from './link/errors.js';
import { LINK_DEFAULTS, type NodeLink, type PeerHandle } from './link/node-link.js';

/** The link's message types the channels use (one handler each on the link). */
export const MSG_QUEUE_REQUEST = 0x0100;
export const MSG_QUEUE_MESSAGE = 0x0101;

/** The link frame's header, which its maxFrameBytes counts. */
const LINK_FRAME_HEADER_BYTES = 11;

export interface LinkChannelsOptions {
  /** A request not answered within this is failed (outcome unknown). Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** The link's maxFrameBytes (NodeLinkOptions), if not its default. */
  readonly linkMaxFrameBytes?: number;
}

class LinkChannel extends ChannelEnd {
  constructor(
    private readonly handle: PeerHandle,
    readonly maxFrameBytes: number,
    private readonly timeoutMs: number,
  ) {
    super();
  }

  get peer(): string {
    return this.handle.nodeId;
  }

  protected transmitRequest(frame: Buffer): Promise<Buffer> {
    return this.handle.request(MSG_QUEUE_REQUEST, frame, this.timeoutMs);
  }

  protected transmit(frame: Buffer): boolean {
    try {
      // false is only the link's high-water mark: the frame is queued. Credit bounds what flows.
      this.handle.send(MSG_QUEUE_MESSAGE, frame);
      return true;
    } catch (err) {
      if (err instanceof LinkError && (err.code === 'NOT_CONNECTED' || err.code === 'LINK_CLOSED'))
        return false;
      throw err;
    }
  }

  /** This end only: the link stays up (other channels of a later connection may follow). */
  close(reason: string): void {
    this.goDown(reason);
  }

  /** The link's peer-down. */
  down(reason: string): void {
    this.goDown(reason);
  }
}

export class LinkChannels {
  private readonly current = new Map<string, LinkChannel>();
  private readonly listeners = new Set<(ch: OwnerChannel) => void>();
  private readonly maxFrameBytes: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly link: NodeLink,
    opts: LinkChannelsOptions = {},
  ) {
    this.maxFrameBytes = (opts.linkMaxFrameBytes ?? LINK_DEFAULTS.maxFrameBytes) - LINK_FRAME_HEADER_BYTES;
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    link.handle(MSG_QUEUE_REQUEST, (peerId, body) => this.channelOf(peerId).receivedRequest(body));
    link.handle(MSG_QUEUE_MESSAGE, (peerId, body) => this.channelOf(peerId).received(body));
    link.on('peer-up', (peerId) => void this.channelOf(peerId));
    link.on('peer-down', (peerId, reason) => {
      const ch = this.current.get(peerId);
      this.current.delete(peerId);
      ch?.down(reason);
    });
    for (const peerId of link.upPeers()) this.channelOf(peerId);
  }

  /** Called with every channel open now, then with each new one (a peer came up); returns the unsubscribe. */
  onChannel(listener: (ch: OwnerChannel) => void): () => void {
    this.listeners.add(listener);
    for (const ch of [...this.current.values()]) listener(ch);
    return () => this.listeners.delete(listener);
  }

  /** The channel to `nodeId` now; undefined while that node is not up. */
  channel(nodeId: string): OwnerChannel | undefined {
    return this.current.get(nodeId);
  }

  /**
   * The channel of an up peer, made at its peer-up or, if a frame of it comes first (the link
   * may deliver one before this listener has run), at that frame.
   */
  private channelOf(peerId: string): LinkChannel {
    let ch = this.current.get(peerId);
    if (ch) return ch;
    ch = new LinkChannel(this.link.peer(peerId), this.maxFrameBytes, this.timeoutMs);
    this.current.set(peerId, ch);
    for (const l of [...this.listeners]) l(ch);
    return ch;
  }
}
