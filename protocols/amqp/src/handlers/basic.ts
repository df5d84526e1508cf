import { randomBytes } from 'node:crypto';
import { BrokerError, type FieldTable } from '@junction/core';
import type { AmqpChannel } from '../channel.js';
import { encodeContent } from '../wire/index.js';

export function qos(ch: AmqpChannel, a: { prefetchSize: number; prefetchCount: number; global: boolean }): void {
  // RabbitMQ does not implement prefetch-size either; refusing beats silently ignoring it.
  if (a.prefetchSize !== 0) throw new BrokerError('NOT_IMPLEMENTED', 'NOT_IMPLEMENTED - prefetch_size!=0 (' + a.prefetchSize + ')');
  ch.session.qos(a.prefetchCount, a.global);
  ch.conn.sendMethod(ch.number, 'basic.qos-ok', {});
}

interface ConsumeArgs {
  queue: string;
  consumerTag: string;
  noLocal: boolean;
  noAck: boolean;
  exclusive: boolean;
  nowait: boolean;
  arguments: FieldTable;
}

export async function consume(ch: AmqpChannel, a: ConsumeArgs): Promise<void> {
  const queue = a.queue === '' ? ch.lastQueue : a.queue;
  if (queue === '') throw new BrokerError('NOT_FOUND', 'NOT_FOUND - no previously declared queue');
  const tag = a.consumerTag || `amq.ctag-${randomBytes(16).toString('base64url')}`;
  const xPriority = a.arguments?.['x-priority'];
  await ch.session.consume(
    queue,
    {
      consumerTag: tag,
      noAck: a.noAck,
      exclusive: a.exclusive,
      priority: typeof xPriority === 'number' ? xPriority : typeof xPriority === 'bigint' ? Number(xPriority) : undefined,
      arguments: a.arguments,
    },
    ch.sink(tag),
  );
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'basic.consume-ok', { consumerTag: tag });
}

export async function cancel(ch: AmqpChannel, a: { consumerTag: string; nowait: boolean }): Promise<void> {
  await ch.session.cancel(a.consumerTag);
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'basic.cancel-ok', { consumerTag: a.consumerTag });
}

export async function get(ch: AmqpChannel, a: { queue: string; noAck: boolean }): Promise<void> {
  const queue = a.queue === '' ? ch.lastQueue : a.queue;
  const r = await ch.session.get(queue, { noAck: a.noAck });
  if (!r) {
    ch.conn.sendMethod(ch.number, 'basic.get-empty', { clusterId: '' });
    return;
  }
  ch.conn.writer.send(
    encodeContent(
      ch.number,
      ch.conn.frameMax,
      'basic.get-ok',
      { deliveryTag: r.deliveryTag, redelivered: r.redelivered, exchange: r.exchange, routingKey: r.routingKey, messageCount: r.messageCount },
      r.message,
    ),
  );
}

export function ack(ch: AmqpChannel, a: { deliveryTag: number | bigint; multiple: boolean }): void {
  settle(ch, a.deliveryTag, 'ack', a.multiple);
}

export function reject(ch: AmqpChannel, a: { deliveryTag: number | bigint; requeue: boolean }): void {
  settle(ch, a.deliveryTag, a.requeue ? 'requeue' : 'reject', false);
}

/** RabbitMQ extension: basic.nack, a reject that can cover many deliveries. */
export function nack(ch: AmqpChannel, a: { deliveryTag: number | bigint; multiple: boolean; requeue: boolean }): void {
  settle(ch, a.deliveryTag, a.requeue ? 'requeue' : 'reject', a.multiple);
}

function settle(ch: AmqpChannel, tag: number | bigint, outcome: 'ack' | 'requeue' | 'reject', multiple: boolean): void {
  const t = Number(tag);
  if (ch.tx) ch.tx.settle(t, outcome, multiple);
  else ch.session.settle(t, outcome, multiple);
}

export function recover(ch: AmqpChannel, a: { requeue: boolean }): void {
  ch.session.recover(a.requeue);
  ch.conn.sendMethod(ch.number, 'basic.recover-ok', {});
}

/** Deprecated in 0-9-1 but still sent by old clients: recover without a reply. */
export function recoverAsync(ch: AmqpChannel, a: { requeue: boolean }): void {
  ch.session.recover(a.requeue);
}
