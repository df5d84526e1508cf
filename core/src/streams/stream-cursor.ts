/**
 * One stream consumer's place in the log. Reads never remove anything: each consumer has its
 * own position, and its prefetch is its credit. A delivery spends one credit; a settlement of
 * any kind (ack, nack, reject) gives it back and redelivers nothing (RabbitMQ:
 * `rabbit_stream_queue:settle/5`, "all settle reasons will give credit"), so acks move credit
 * only. The oldest unsettled offset is where a named consumer resumes after a reconnect or a
 * restart: a message delivered but not acked when the consumer went away comes again.
 */
export class StreamCursor {
  /** The next offset to read. */
  private next: number;
  /** Delivered, unsettled offsets, ascending (deliveries go out in offset order). */
  private readonly unsettled: number[] = [];

  constructor(
    start: number,
    /** Most unsettled deliveries; at least 1 (a stream consumer needs a prefetch). */
    readonly prefetch: number,
  ) {
    if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`bad start offset ${start}`);
    if (!Number.isSafeInteger(prefetch) || prefetch < 1) throw new RangeError(`bad prefetch ${prefetch}`);
    this.next = start;
  }

  get position(): number {
    return this.next;
  }

  get credit(): number {
    return this.prefetch - this.unsettled.length;
  }

  get unsettledCount(): number {
    return this.unsettled.length;
  }

  /**
   * An entry at `offset` went out. Offsets only grow: compacted logs skip the superseded ones,
   * so the next position is the one after the entry, not position + 1.
   */
  delivered(offset: number): void {
    if (offset < this.next) throw new RangeError(`offset ${offset} is behind the cursor at ${this.next}`);
    if (this.credit <= 0) throw new RangeError('delivered without credit');
    this.unsettled.push(offset);
    this.next = offset + 1;
  }

  /** Returns false for an offset this cursor does not hold unsettled. */
  settled(offset: number): boolean {
    const u = this.unsettled;
    // The oldest first is the common case (in-order acks): no search.
    if (u[0] === offset) {
      u.shift();
      return true;
    }
    let lo = 0;
    let hi = u.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = u[mid]!;
      if (v === offset) {
        u.splice(mid, 1);
        return true;
      }
      if (v < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** Retention removed the log up to `firstOffset`: a reader behind it moves to the new head. */
  skipTo(firstOffset: number): void {
    if (this.next < firstOffset) this.next = firstOffset;
  }

  /** Where this consumer would start again: its oldest unsettled delivery, else its position. */
  get resumeOffset(): number {
    return this.unsettled[0] ?? this.next;
  }
}
