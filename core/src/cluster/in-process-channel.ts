/**
 * Two ends of an OwnerChannel in one process (tests, benches): frames are delivered on a
 * later turn in the order they were sent, as bytes, so the codec runs as it would over a
 * socket. `cut()` takes both ends down like a lost link: requests in flight reject, frames
 * not yet delivered are lost.
 */
import { MAX_FRAME_BYTES } from './frames.js';
import { ChannelEnd, type OwnerChannel } from './owner-channel.js';

export interface ChannelPair {
  /** Node `a`'s end (its peer is `b`). */
  readonly a: OwnerChannel;
  readonly b: OwnerChannel;
  cut(reason?: string): void;
}

type Item =
  | { kind: 'request'; id: number; frame: Buffer }
  | { kind: 'reply'; id: number; frame: Buffer | null; error: string | null }
  | { kind: 'message'; frame: Buffer };

class End extends ChannelEnd {
  readonly maxFrameBytes = MAX_FRAME_BYTES;
  other!: End;
  private readonly inbox: Item[] = [];
  private scheduled = false;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(b: Buffer): void; reject(e: Error): void }>();

  constructor(readonly peer: string) {
    super();
  }

  protected transmitRequest(frame: Buffer): Promise<Buffer> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.other.post({ kind: 'request', id, frame });
    });
  }

  protected transmit(frame: Buffer): boolean {
    this.other.post({ kind: 'message', frame });
    return true;
  }

  close(reason: string): void {
    this.down(reason);
    this.other.down(reason);
  }

  private post(item: Item): void {
    if (!this.open) return;
    this.inbox.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const items = this.inbox.splice(0);
    for (const item of items) {
      if (!this.open) return;
      if (item.kind === 'reply') {
        const w = this.waiting.get(item.id);
        this.waiting.delete(item.id);
        if (item.frame) w?.resolve(item.frame);
        else w?.reject(new Error(item.error ?? 'request failed'));
      } else if (item.kind === 'message') {
        this.received(item.frame);
      } else {
        const id = item.id;
        this.receivedRequest(item.frame).then(
          (frame) => this.other.post({ kind: 'reply', id, frame, error: null }),
          (err: unknown) => this.other.post({ kind: 'reply', id, frame: null, error: String(err) }),
        );
      }
    }
  }

  down(reason: string): void {
    if (!this.open) return;
    this.inbox.length = 0;
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(new Error(`channel to ${this.peer} went down: ${reason}`));
    this.goDown(reason);
  }
}

/** A connected pair: node `a` and node `b`, each with its end. */
export function inProcessChannels(a: string, b: string): ChannelPair {
  const endA = new End(b);
  const endB = new End(a);
  endA.other = endB;
  endB.other = endA;
  return {
    a: endA,
    b: endB,
    cut: (reason = 'cut') => endA.close(reason),
  };
}
