import { BrokerError, type Message } from '@junction/core';
import type { AmqpChannel } from '../channel.js';

/** RabbitMQ extension: publisher confirms. */
export function confirmSelect(ch: AmqpChannel, a: { nowait: boolean }): void {
  if (ch.tx)
    throw new BrokerError(
      'PRECONDITION_FAILED',
      'PRECONDITION_FAILED - cannot switch from tx to confirm mode',
    );
  ch.enableConfirms();
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'confirm.select-ok', {});
}

export function txSelect(ch: AmqpChannel): void {
  if (ch.confirm)
    throw new BrokerError(
      'PRECONDITION_FAILED',
      'PRECONDITION_FAILED - cannot switch from confirm to tx mode',
    );
  ch.tx ??= trackReturns(ch);
  ch.conn.sendMethod(ch.number, 'tx.select-ok', {});
}

export async function txCommit(ch: AmqpChannel): Promise<void> {
  if (!ch.tx)
    throw new BrokerError('PRECONDITION_FAILED', 'PRECONDITION_FAILED - channel is not transactional');
  await ch.tx.commit();
  ch.conn.sendMethod(ch.number, 'tx.commit-ok', {});
}

export function txRollback(ch: AmqpChannel): void {
  if (!ch.tx)
    throw new BrokerError('PRECONDITION_FAILED', 'PRECONDITION_FAILED - channel is not transactional');
  ch.tx.rollback();
  ch.conn.sendMethod(ch.number, 'tx.rollback-ok', {});
}

/** A transaction whose commit sends basic.return for unroutable mandatory publishes before commit-ok. */
function trackReturns(ch: AmqpChannel) {
  const tx = ch.session.beginTransaction();
  let published: Message[] = [];
  return {
    publish(msg: Message, opts?: { mandatory?: boolean }) {
      tx.publish(msg, opts);
      published.push(msg);
    },
    settle: tx.settle,
    async commit() {
      const msgs = published;
      published = [];
      const outcomes = await tx.commit();
      outcomes.forEach((o, i) => o.returned && ch.sendReturn(msgs[i]!, o.returned));
      return outcomes;
    },
    rollback() {
      published = [];
      tx.rollback();
    },
  };
}
