/**
 * BEGIN, COMMIT and ABORT: the connection's open transactions, each a core transaction plus
 * the acks made in it, which ABORT hands back to be unacked again.
 */
import type { Session, Transaction } from '@junction/core';
import { StompProtocolError } from './errors.js';
import type { Frame } from './parser.js';
import type { Subscription } from './subscriptions.js';

export interface StompTx {
  readonly tx: Transaction;
  /** Acks/nacks made in the tx: put back into tracking on ABORT. */
  readonly settled: Array<[number, Subscription]>;
}

export class Transactions {
  private readonly open = new Map<string, StompTx>();

  constructor(
    private readonly session: Session,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** The open transaction `id`; a frame naming one that is not open is an error. */
  get(id: string): StompTx {
    const t = this.open.get(id);
    if (!t) throw new StompProtocolError('Invalid transaction', `transaction '${id}' is not active`);
    return t;
  }

  begin(frame: Frame): void {
    const id = txHeader(frame);
    if (this.open.has(id))
      throw new StompProtocolError('Invalid transaction', `transaction '${id}' is already active`);
    if (this.open.size >= this.max)
      throw new StompProtocolError('Too many transactions', 'too many open transactions');
    this.open.set(id, { tx: this.session.beginTransaction(), settled: [] });
  }

  async commit(frame: Frame): Promise<void> {
    const id = txHeader(frame);
    const t = this.get(id);
    this.open.delete(id);
    const outcomes = await t.tx.commit();
    if (outcomes.some((o) => !o.ok))
      throw new StompProtocolError('Transaction failed', `transaction '${id}': a message was not accepted`);
  }

  /** Rolls back; returns the settlements that never happened. */
  abort(frame: Frame): ReadonlyArray<readonly [number, Subscription]> {
    const id = txHeader(frame);
    const t = this.get(id);
    this.open.delete(id);
    t.tx.rollback();
    return t.settled;
  }

  /** The connection is going: nothing uncommitted happens. */
  rollbackAll(): void {
    for (const t of this.open.values()) t.tx.rollback();
    this.open.clear();
  }
}

function txHeader(frame: Frame): string {
  const id = frame.headers['transaction'];
  if (id === undefined)
    throw new StompProtocolError('Missing header', `${frame.command} requires a transaction header`);
  return id;
}
