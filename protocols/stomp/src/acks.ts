/**
 * ACK and NACK: which delivered messages are still unacknowledged, and settling them
 * (now, or inside a transaction) with the cumulative rule of ack mode `client`.
 */
import type { SettleOutcome } from '@junction/core';
import type { StompContext } from './context.js';
import { StompProtocolError } from './errors.js';
import { booleanHeader } from './headers.js';
import type { Frame } from './parser.js';
import type { Subscription } from './subscriptions.js';
import type { Transactions } from './transactions.js';

export class Acks {
  /** Unacked delivery tag -> its subscription (tags are unique per session). */
  private readonly unacked = new Map<number, Subscription>();

  constructor(
    private readonly ctx: StompContext,
    private readonly txs: Transactions,
  ) {}

  /** A delivery that waits for an ACK or NACK. */
  track(sub: Subscription, tag: number): void {
    sub.unacked.add(tag);
    this.unacked.set(tag, sub);
  }

  /** Settlements an aborted transaction made: those messages are unacked again. */
  restore(settled: ReadonlyArray<readonly [number, Subscription]>): void {
    for (const [tag, sub] of [...settled].sort((a, b) => a[0] - b[0])) this.track(sub, tag);
  }

  /** NACK requeues unless `requeue` is false (any case: Python clients send `False`). */
  static nackOutcome(frame: Frame): SettleOutcome {
    return booleanHeader(frame.headers, 'requeue') === false ? 'reject' : 'requeue';
  }

  settle(frame: Frame, outcome: SettleOutcome): void {
    const h = frame.headers;
    const tag = this.tagOf(frame);
    const sub = this.unacked.get(tag.value);
    if (sub === undefined)
      throw new StompProtocolError(
        'Unknown message',
        `${frame.command}: no unacknowledged message with id '${tag.raw.slice(0, 64)}'`,
      );
    const txId = h['transaction'];
    const tx = txId === undefined ? undefined : this.txs.get(txId);

    // client mode is cumulative per subscription (STOMP spec): every earlier unacked message
    // of this subscription goes too; client-individual settles just this one.
    const tags: number[] = [];
    if (sub.ack === 'client') {
      for (const t of sub.unacked) {
        if (t > tag.value) break;
        tags.push(t);
      }
    } else tags.push(tag.value);
    for (const t of tags) {
      sub.unacked.delete(t);
      this.unacked.delete(t);
    }
    const session = this.ctx.session;
    if (tx) {
      for (const t of tags) {
        tx.tx.settle(t, outcome, false);
        tx.settled.push([t, sub]);
      }
    } else if (tags.length > 1 && this.unacked.size === sub.unacked.size && this.txs.size === 0) {
      // Session-wide `multiple` is only right when no other subscription has unacked messages
      // and no open transaction holds settlements of its own.
      session.settle(tag.value, outcome, true);
    } else {
      for (const t of tags) session.settle(t, outcome, false);
    }
    this.ctx.receipt(frame);
  }

  /**
   * The message an ACK/NACK names. STOMP 1.2 makes `id` (the MESSAGE's `ack` header)
   * mandatory; 1.0 and 1.1 name it by `message-id`.
   */
  private tagOf(frame: Frame): { raw: string; value: number } {
    const h = frame.headers;
    const v12 = this.ctx.version >= 12;
    const raw = (v12 ? h['id'] : (h['message-id'] ?? h['id']))?.trim();
    if (raw === undefined)
      throw new StompProtocolError(
        'Missing header',
        `${frame.command} requires an ${v12 ? 'id' : 'message-id'} header`,
      );
    return { raw, value: /^\d{1,15}$/.test(raw) ? Number(raw) : NaN };
  }
}
