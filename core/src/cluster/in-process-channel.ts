/**
 * Two ends of an OwnerChannel in one process (tests, benches): frames are delivered on a
 * later turn in the order they were sent, as bytes, so the codec runs as it would over a
 * socket. `cut()` takes both ends down like a lost link: requests in flight reject, frames
 * not yet delivered are lost.
 */
import type { ChannelHandlers, OwnerChannel } from './owner-channel.js';

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

class End implements OwnerChannel {
  open = true;
  other!: End;
  private handlers: ChannelHandlers | undefined;
  private readonly inbox: Item[] = [];
  private scheduled = false;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(b: Buffer): void; reject(e: Error): void }>();
  private readonly downListeners: ((reason: string) => void)[] = [];
  private downReason = '';

  constructor(readonly peer: string) {}

  request(frame: Buffer): Promise<Buffer> {
    if (!this.open) return Promise.reject(new Error(`channel to ${this.peer} is down: ${this.downReason}`));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.other.post({ kind: 'request', id, frame });
    });
  }

  send(frame: Buffer): boolean {
    if (!this.open) return false;
    this.other.post({ kind: 'message', frame });
    return true;
  }

  serve(handlers: ChannelHandlers): void {
    this.handlers = handlers;
  }

  onDown(listener: (reason: string) => void): void {
    if (!this.open) listener(this.downReason);
    else this.downListeners.push(listener);
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
      } else if (!this.handlers) {
        if (item.kind === 'request')
          this.other.post({ kind: 'reply', id: item.id, frame: null, error: 'nothing serves this channel' });
      } else if (item.kind === 'message') {
        this.handlers.message(item.frame);
      } else {
        const id = item.id;
        this.handlers.request(item.frame).then(
          (frame) => this.other.post({ kind: 'reply', id, frame, error: null }),
          (err: unknown) => this.other.post({ kind: 'reply', id, frame: null, error: String(err) }),
        );
      }
    }
  }

  down(reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.downReason = reason;
    this.inbox.length = 0;
    for (const w of this.waiting.values())
      w.reject(new Error(`channel to ${this.peer} went down: ${reason}`));
    this.waiting.clear();
    for (const l of this.downListeners.splice(0)) l(reason);
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
