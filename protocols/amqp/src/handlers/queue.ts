import { BrokerError } from '@junction/core';
import type { AmqpChannel } from '../channel.js';
import type {
  QueueBindArgs,
  QueueDeclareArgs,
  QueueDeleteArgs,
  QueuePurgeArgs,
  QueueUnbindArgs,
} from '../wire/methods.gen.js';

/** AMQP 0-9-1 §1.7.2: an empty queue name means the last queue declared on this channel. */
function queueName(ch: AmqpChannel, name: string): string {
  if (name !== '') return name;
  if (ch.lastQueue === '') throw new BrokerError('NOT_FOUND', 'NOT_FOUND - no previously declared queue');
  return ch.lastQueue;
}

export async function declare(ch: AmqpChannel, a: QueueDeclareArgs): Promise<void> {
  const r = await ch.session.declareQueue({
    name: a.passive ? queueName(ch, a.queue) : a.queue,
    passive: a.passive,
    durable: a.durable,
    exclusive: a.exclusive,
    autoDelete: a.autoDelete,
    arguments: a.arguments,
  });
  ch.lastQueue = r.queue;
  if (!a.nowait)
    ch.conn.sendMethod(ch.number, 'queue.declare-ok', {
      queue: r.queue,
      messageCount: r.messageCount,
      consumerCount: r.consumerCount,
    });
}

export async function bind(ch: AmqpChannel, a: QueueBindArgs): Promise<void> {
  const q = queueName(ch, a.queue);
  // §1.7.2.3: an empty routing key with an empty queue name binds with the queue's name.
  const key = a.queue === '' && a.routingKey === '' ? q : a.routingKey;
  await ch.session.bindQueue(q, a.exchange, key, a.arguments);
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'queue.bind-ok', {});
}

export async function unbind(ch: AmqpChannel, a: QueueUnbindArgs): Promise<void> {
  await ch.session.unbindQueue(queueName(ch, a.queue), a.exchange, a.routingKey, a.arguments);
  ch.conn.sendMethod(ch.number, 'queue.unbind-ok', {});
}

export async function purge(ch: AmqpChannel, a: QueuePurgeArgs): Promise<void> {
  const n = await ch.session.purgeQueue(queueName(ch, a.queue));
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'queue.purge-ok', { messageCount: n });
}

export async function remove(ch: AmqpChannel, a: QueueDeleteArgs): Promise<void> {
  const n = await ch.session.deleteQueue(queueName(ch, a.queue), {
    ifUnused: a.ifUnused,
    ifEmpty: a.ifEmpty,
  });
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'queue.delete-ok', { messageCount: n });
}
