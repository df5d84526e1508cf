/**
 * The ready messages of a queue: one FIFO per priority level, highest level served first
 * (strict priority, as x-max-priority promises). Requeued messages go back to their
 * original place: they wait in a per-level min-heap ordered by sequence number, which is
 * always ahead of the FIFO since a delivered message is older than anything still queued
 * behind it.
 */
import { Deque } from './deque.js';
import type { QueuedMessage } from './queued-message.js';

class Level {
  readonly fifo = new Deque<QueuedMessage>();
  readonly requeued: QueuedMessage[] = [];

  get length(): number {
    return this.fifo.length + this.requeued.length;
  }

  peek(): QueuedMessage | undefined {
    const r = this.requeued[0];
    const f = this.fifo.peek();
    if (r && (!f || r.seq < f.seq)) return r;
    return f;
  }

  shift(): QueuedMessage | undefined {
    const r = this.requeued[0];
    const f = this.fifo.peek();
    if (r && (!f || r.seq < f.seq)) return heapPop(this.requeued);
    return this.fifo.shift();
  }

  *[Symbol.iterator](): IterableIterator<QueuedMessage> {
    yield* [...this.requeued].sort((a, b) => a.seq - b.seq);
    yield* this.fifo;
  }
}

export class PriorityBuffer {
  private readonly levels: Level[];
  private count = 0;
  /** Highest level that may be non-empty. */
  private top = 0;

  constructor(readonly maxPriority: number) {
    // Most queues have one level (every MQTT device's subscription queue): a literal, where
    // Array.from with a callback was ~1% of the broker's time subscribing a fleet.
    this.levels =
      maxPriority === 0 ? [new Level()] : Array.from({ length: maxPriority + 1 }, () => new Level());
  }

  get length(): number {
    return this.count;
  }

  /** Clamp a message priority into this queue's levels (AMQP: values above the max count as the max). */
  levelOf(priority: number | undefined): number {
    if (this.maxPriority === 0 || !priority || priority < 0) return 0;
    return priority > this.maxPriority ? this.maxPriority : priority;
  }

  push(e: QueuedMessage): void {
    this.levels[e.priority]!.fifo.push(e);
    this.added(e.priority);
  }

  requeue(e: QueuedMessage): void {
    heapPush(this.levels[e.priority]!.requeued, e);
    this.added(e.priority);
  }

  peek(): QueuedMessage | undefined {
    return this.count === 0 ? undefined : this.topLevel().peek();
  }

  shift(): QueuedMessage | undefined {
    if (this.count === 0) return undefined;
    this.count--;
    return this.topLevel().shift();
  }

  /** Oldest message of the lowest non-empty level: what drop-head overflow discards. */
  shiftLowest(): QueuedMessage | undefined {
    for (const level of this.levels) {
      if (level.length > 0) {
        this.count--;
        return level.shift();
      }
    }
    return undefined;
  }

  /** Removes and returns the first message (in delivery order) that `pick` accepts, scanning at most `limit`. */
  takeFirst(pick: (e: QueuedMessage) => boolean, limit: number): QueuedMessage | undefined {
    let scanned = 0;
    for (let p = this.top; p >= 0; p--) {
      const level = this.levels[p]!;
      for (let i = 0; i < level.requeued.length && scanned < limit; i++, scanned++) {
        const e = level.requeued[i]!;
        if (pick(e)) {
          level.requeued.splice(i, 1);
          heapify(level.requeued);
          this.count--;
          return e;
        }
      }
      for (let i = 0; i < level.fifo.length && scanned < limit; i++, scanned++) {
        const e = level.fifo.at(i)!;
        if (pick(e)) {
          level.fifo.removeAt(i);
          this.count--;
          return e;
        }
      }
      if (scanned >= limit) return undefined;
    }
    return undefined;
  }

  /**
   * Selector dispatch on one level: removes and returns the first entry (in sequence order)
   * with `seq > after` that `pick` accepts. `pick` runs at most `budget.left` times (each
   * call spends one). `seen` is the highest sequence number `pick` refused: every entry of
   * the level up to it was refused, so a consumer's next scan can start behind it.
   */
  takeAfter(
    priority: number,
    after: number,
    pick: (e: QueuedMessage) => boolean,
    budget: { left: number },
  ): { taken: QueuedMessage | undefined; seen: number } {
    const level = this.levels[priority]!;
    const requeued = level.requeued.filter((e) => e.seq > after).sort((a, b) => a.seq - b.seq);
    const fifo = level.fifo;
    let fi = firstAfter(fifo, after);
    let ri = 0;
    let seen = after;
    while (budget.left > 0) {
      const r = requeued[ri];
      const f = fifo.at(fi);
      const fromFifo = !r || (f !== undefined && f.seq < r.seq);
      const e = fromFifo ? f : r;
      if (!e) break;
      if (fromFifo) fi++;
      else ri++;
      budget.left--;
      if (pick(e)) {
        if (fromFifo) fifo.removeAt(fi - 1);
        else {
          level.requeued.splice(level.requeued.indexOf(e), 1);
          heapify(level.requeued);
        }
        this.count--;
        return { taken: e, seen };
      }
      seen = e.seq;
    }
    return { taken: undefined, seen };
  }

  clear(): QueuedMessage[] {
    const all = [...this];
    for (const level of this.levels) {
      level.fifo.clear();
      level.requeued.length = 0;
    }
    this.count = 0;
    this.top = 0;
    return all;
  }

  /** In delivery order: highest priority first, then sequence. */
  *[Symbol.iterator](): IterableIterator<QueuedMessage> {
    for (let p = this.maxPriority; p >= 0; p--) yield* this.levels[p]!;
  }

  private added(priority: number): void {
    this.count++;
    if (priority > this.top) this.top = priority;
  }

  private topLevel(): Level {
    let level = this.levels[this.top]!;
    while (level.length === 0 && this.top > 0) level = this.levels[--this.top]!;
    return level;
  }
}

/** Index of the first entry with seq > after in a FIFO ordered by seq (binary search). */
function firstAfter(fifo: Deque<QueuedMessage>, after: number): number {
  let lo = 0;
  let hi = fifo.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fifo.at(mid)!.seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function heapPush(h: QueuedMessage[], e: QueuedMessage): void {
  h.push(e);
  let i = h.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (h[parent]!.seq <= h[i]!.seq) break;
    [h[parent], h[i]] = [h[i]!, h[parent]!];
    i = parent;
  }
}

function heapPop(h: QueuedMessage[]): QueuedMessage | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length > 0 && last) {
    h[0] = last;
    siftDown(h, 0);
  }
  return top;
}

function siftDown(h: QueuedMessage[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && h[l]!.seq < h[m]!.seq) m = l;
    if (r < h.length && h[r]!.seq < h[m]!.seq) m = r;
    if (m === i) return;
    [h[m], h[i]] = [h[i]!, h[m]!];
    i = m;
  }
}

function heapify(h: QueuedMessage[]): void {
  for (let i = (h.length >> 1) - 1; i >= 0; i--) siftDown(h, i);
}
