import type { FieldTable } from '@junction/core';
import type { AmqpChannel } from '../channel.js';

interface DeclareArgs {
  exchange: string;
  type: string;
  passive: boolean;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  nowait: boolean;
  arguments: FieldTable;
}

export async function declare(ch: AmqpChannel, a: DeclareArgs): Promise<void> {
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

export async function remove(ch: AmqpChannel, a: { exchange: string; ifUnused: boolean; nowait: boolean }): Promise<void> {
  await ch.session.deleteExchange(a.exchange, { ifUnused: a.ifUnused });
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'exchange.delete-ok', {});
}

interface BindArgs {
  destination: string;
  source: string;
  routingKey: string;
  nowait: boolean;
  arguments: FieldTable;
}

/** RabbitMQ extension: exchange-to-exchange bindings. */
export async function bind(ch: AmqpChannel, a: BindArgs): Promise<void> {
  await ch.session.bindExchange(a.destination, a.source, a.routingKey, a.arguments);
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'exchange.bind-ok', {});
}

export async function unbind(ch: AmqpChannel, a: BindArgs): Promise<void> {
  await ch.session.unbindExchange(a.destination, a.source, a.routingKey, a.arguments);
  if (!a.nowait) ch.conn.sendMethod(ch.number, 'exchange.unbind-ok', {});
}
