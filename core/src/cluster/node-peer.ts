/**
 * One other node, over one OwnerChannel incarnation: both roles the channel carries. As the
 * owner of queues, it serves this node's queues to that node (queue-export.ts); as their
 * user, it carries this node's remote queues' requests (remote-queue.ts) and routes the
 * deliveries and cancels that come back to the proxy attachment they are for. Settles are
 * batched per turn (one `stl` frame per proxy and outcome). When the channel goes down, the
 * export requeues what that node held and every listener hears of it once.
 */
import type { Logger } from 'pino';
import type { SettleOutcome } from '../session.js';
import type { Vhost } from '../vhost.js';
import {
  decodeFrame,
  decodeReply,
  encodeFrame,
  FrameTooLarge,
  type Frame,
  type MessageFrame,
  type Reply,
  type RequestFrame,
} from './frames.js';
import type { OwnerChannel } from './owner-channel.js';
import { QueueExport } from './queue-export.js';

/** The bounds of what one node may make another hold (defaults in DEFAULT_PEER_LIMITS). */
export interface PeerLimits {
  /** Proxy consumers the other node may have on this node's queues at once. */
  readonly maxProxyConsumers: number;
  /** Credit a proxy consumer gets when its client set no prefetch (or a larger one). */
  readonly maxCredit: number;
}

export const DEFAULT_PEER_LIMITS: PeerLimits = { maxProxyConsumers: 10_000, maxCredit: 1000 };

export interface NodePeerOptions {
  /** This node's vhost of a name, for the queues the other node uses here. */
  vhost(name: string): Vhost | undefined;
  readonly log: Logger;
  readonly limits?: Partial<PeerLimits>;
}

/** What a remote queue's consumer attachment hears from the owner. */
export interface AttachmentHandler {
  delivered(frame: Extract<Frame, { t: 'dlv' }>): void;
  cancelled(frame: Extract<Frame, { t: 'cxl' }>): void;
}

export class NodePeer {
  readonly limits: PeerLimits;
  private readonly exporter: QueueExport;
  private readonly attachments = new Map<number, AttachmentHandler>();
  private nextAttachment = 0;
  /** Settles waiting for the end of the turn: proxy id -> outcome -> delivery ids. */
  private settles = new Map<number, Map<SettleOutcome, number[]>>();
  private flushScheduled = false;

  constructor(
    readonly channel: OwnerChannel,
    private readonly options: NodePeerOptions,
  ) {
    this.limits = { ...DEFAULT_PEER_LIMITS, ...options.limits };
    this.exporter = new QueueExport(
      channel.peer,
      (f) => this.send(f),
      options.vhost,
      options.log,
      this.limits,
    );
    channel.serve({
      request: (b) => this.serveRequest(b),
      message: (b) => this.serveMessage(b),
    });
    channel.onDown(() => {
      this.attachments.clear();
      this.settles.clear();
      this.exporter.down();
    });
  }

  /** The other node's id. */
  get node(): string {
    return this.channel.peer;
  }

  get open(): boolean {
    return this.channel.open;
  }

  onDown(listener: (reason: string) => void): void {
    this.channel.onDown(listener);
  }

  /** Rejects with FrameTooLarge (nothing sent) for a frame over the channel's limit. */
  async request(f: RequestFrame): Promise<Reply> {
    return decodeReply(await this.channel.request(this.encode(f)));
  }

  /** False when the channel is down; throws FrameTooLarge (nothing sent) for a frame over its limit. */
  send(f: Frame): boolean {
    return this.channel.send(this.encode(f));
  }

  private encode(f: Frame): Buffer {
    const b = encodeFrame(f);
    if (b.length > this.channel.maxFrameBytes) throw new FrameTooLarge(b.length, this.channel.maxFrameBytes);
    return b;
  }

  /** A new proxy id on this channel, routed to `h` until detach(). */
  attach(h: AttachmentHandler): number {
    const id = ++this.nextAttachment;
    this.attachments.set(id, h);
    return id;
  }

  detach(id: number): void {
    this.attachments.delete(id);
  }

  /** Settles delivery `d` of proxy `id` (0: a get) at the owner, batched with the turn's others. */
  settle(id: number, d: number, outcome: SettleOutcome): void {
    if (!this.open) return;
    let byOutcome = this.settles.get(id);
    if (!byOutcome) this.settles.set(id, (byOutcome = new Map()));
    const ids = byOutcome.get(outcome);
    if (ids) ids.push(d);
    else byOutcome.set(outcome, [d]);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushSettles());
  }

  /** Sends the batched settles now (also before a request that must not overtake them). */
  flushSettles(): void {
    this.flushScheduled = false;
    const batch = this.settles;
    if (batch.size === 0) return;
    this.settles = new Map();
    for (const [id, byOutcome] of batch) for (const [o, d] of byOutcome) this.send({ t: 'stl', id, o, d });
  }

  private async serveRequest(b: Buffer): Promise<Buffer> {
    let f: Frame;
    try {
      f = decodeFrame(b);
    } catch (err) {
      this.options.log.warn({ err, peer: this.node }, 'malformed request from a cluster node');
      return encodeFrame({ ok: false, why: 'refused', code: 'SYNTAX_ERROR', text: 'malformed request' });
    }
    return encodeFrame(await this.exporter.request(f));
  }

  private serveMessage(b: Buffer): void {
    let f: MessageFrame;
    try {
      f = decodeFrame(b) as MessageFrame;
    } catch (err) {
      this.options.log.warn({ err, peer: this.node }, 'malformed message from a cluster node');
      return;
    }
    switch (f.t) {
      case 'dlv': {
        const h = this.attachments.get(f.id);
        // Sent before the consumer went here: back to the owner, which holds it as unacked.
        if (h) h.delivered(f);
        else this.settle(f.id, f.d, 'requeue');
        return;
      }
      case 'cxl':
        this.attachments.get(f.id)?.cancelled(f);
        return;
      case 'stl':
        this.exporter.settled(f);
        return;
      default:
        this.options.log.warn(
          { peer: this.node, t: (f as { t: string }).t },
          'unknown message from a cluster node',
        );
    }
  }
}
