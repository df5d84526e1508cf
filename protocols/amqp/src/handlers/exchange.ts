import type { AmqpChannel } from '../channel.js';
import type {
  ExchangeBindArgs,
  ExchangeDeclareArgs,
  ExchangeDeleteArgs,
  ExchangeUnbindArgs,
} from '../wire/methods.gen.js';

export async function declare(ch: AmqpChannel, a: ExchangeDeclareArgs): Promise<void> {
  await ch.session.declareExchange({
    name: a.exchange,
    type: a.type,
    passive: a.passive,
    durable: a.durable,
    autoDelete: a.autoDelete,
    internal: a.internal,
    arguments: a.arguments,
  });
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'exchange.declare-ok', {});
}

export async function remove(ch: AmqpChannel, a: ExchangeDeleteArgs): Promise<void> {
  await ch.session.deleteExchange(a.exchange, { ifUnused: a.ifUnused });
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'exchange.delete-ok', {});
}

/** RabbitMQ extension: exchange-to-exchange bindings. */
export async function bind(ch: AmqpChannel, a: ExchangeBindArgs): Promise<void> {
  await ch.session.bindExchange(a.destination, a.source, a.routingKey, a.arguments);
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'exchange.bind-ok', {});
}

export async function unbind(ch: AmqpChannel, a: ExchangeUnbindArgs): Promise<void> {
  await ch.session.unbindExchange(a.destination, a.source, a.routingKey, a.arguments);
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'exchange.unbind-ok', {});
}
