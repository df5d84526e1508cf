import { randomBytes } from 'node:crypto';
import { BrokerError } from '@junction/core';
import type { AmqpChannel } from '../channel.js';
import { encodeContent } from '../wire/index.js';
import type {
  BasicAckArgs,
  BasicCancelArgs,
  BasicConsumeArgs,
  BasicGetArgs,
  BasicNackArgs,
  BasicQosArgs,
  BasicRecoverArgs,
  BasicRecoverAsyncArgs,
  BasicRejectArgs,
} from '../wire/methods.gen.js';

export function qos(ch: AmqpChannel, a: BasicQosArgs): void {
  // RabbitMQ does not implement prefetch-size either; refusing beats silently ignoring it.
  if (a.prefetchSize !== 0)
    throw new BrokerError('NOT_IMPLEMENTED', 'NOT_IMPLEMENTED - prefetch_size!=0 (' + a.prefetchSize + ')');
  ch.session.qos(a.prefetchCount, a.global);
  ch.conn.sendMethod(ch.number, 'basic.qos-ok', {});
}

export async function consume(ch: AmqpChannel, a: BasicConsumeArgs): Promise<void> {
  const queue = a.queue === '' ? ch.lastQueue : a.queue;
  if (queue === '') throw new BrokerError('NOT_FOUND', 'NOT_FOUND - no previously declared queue');
  const tag = a.consumerTag || `amq.ctag-${randomBytes(16).toString('base64url')}`;
  const max = ch.conn.config.consumerMaxPerChannel;
  if (max > 0 && ch.session.consumerCount >= max) {
    // RabbitMQ's text and code (not_allowed: the connection closes).
    throw new BrokerError('NOT_ALLOWED', `NOT_ALLOWED - reached maximum (${max}) of consumers per channel`);
  }
  const xPriority = a.arguments?.['x-priority'];
  await ch.session.consume(
    queue,
    {
      consumerTag: tag,
      noAck: a.noAck,
      exclusive: a.exclusive,
      priority:
        typeof xPriority === 'number'
          ? xPriority
          : typeof xPriority === 'bigint'
            ? Number(xPriority)
            : undefined,
      arguments: a.arguments,
    },
    ch.sink(tag),
  );
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'basic.consume-ok', { consumerTag: tag });
}

export async function cancel(ch: AmqpChannel, a: BasicCancelArgs): Promise<void> {
  await ch.session.cancel(a.consumerTag);
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'basic.cancel-ok', { consumerTag: a.consumerTag });
}

export async function get(ch: AmqpChannel, a: BasicGetArgs): Promise<void> {
  const queue = a.queue === '' ? ch.lastQueue : a.queue;
  const r = await ch.session.get(queue, { noAck: a.noAck });
  if (!r) {
    ch.conn.sendMethod(ch.number, 'basic.get-empty', { clusterId: '' });
    return;
  }
  ch.conn.link.send(
    encodeContent(
      ch.number,
      ch.conn.frameMax,
      'basic.get-ok',
      {
        deliveryTag: r.deliveryTag,
        redelivered: r.redelivered,
        exchange: r.exchange,
        routingKey: r.routingKey,
        messageCount: r.messageCount,
      },
      r.message,
    ),
  );
}

export function ack(ch: AmqpChannel, a: BasicAckArgs): void {
  settle(ch, a.deliveryTag, 'ack', a.multiple);
}

export function reject(ch: AmqpChannel, a: BasicRejectArgs): void {
  settle(ch, a.deliveryTag, a.requeue ? 'requeue' : 'reject', false);
}

/** RabbitMQ extension: basic.nack, a reject that can cover many deliveries. */
export function nack(ch: AmqpChannel, a: BasicNackArgs): void {
  settle(ch, a.deliveryTag, a.requeue ? 'requeue' : 'reject', a.multiple);
}

function settle(
  ch: AmqpChannel,
  tag: number,
  outcome: 'ack' | 'requeue' | 'reject',
  multiple: boolean,
): void {
  if (ch.tx) ch.tx.settle(tag, outcome, multiple);
  else ch.session.settle(tag, outcome, multiple);
}

export function recover(ch: AmqpChannel, a: BasicRecoverArgs): void {
  ch.session.recover(a.requeue);
  ch.conn.sendMethod(ch.number, 'basic.recover-ok', {});
}

/** Deprecated in 0-9-1 but still sent by old clients: recover without a reply. */
export function recoverAsync(ch: AmqpChannel, a: BasicRecoverAsyncArgs): void {
  ch.session.recover(a.requeue);
}
