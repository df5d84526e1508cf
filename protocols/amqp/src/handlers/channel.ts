import { BrokerError } from '@junction/core';
import type { AmqpChannel } from '../channel.js';

/** channel.flow: the client asks us to stop (or resume) sending it deliveries. */
export function flow(ch: AmqpChannel, a: { active: boolean }): void {
  ch.session.flow(a.active);
  ch.conn.sendMethod(ch.number, 'channel.flow-ok', { active: a.active });
}

/** A flow-ok answers a channel.flow we never send; a close-ok on an open channel answers nothing. Both are ignored. */
export function ignore(): void {}

/** access.request is deprecated (0-9-1 keeps it for old clients); RabbitMQ answers with ticket 1. */
export function accessRequest(ch: AmqpChannel): void {
  ch.conn.sendMethod(ch.number, 'access.request-ok', { ticket: 1 });
}

/** §2.3.7 / constants: opening a channel that is already open is a channel-error (504), a hard error. */
export function reopen(ch: AmqpChannel): void {
  throw new BrokerError(
    'CHANNEL_ERROR',
    `CHANNEL_ERROR - second 'channel.open' seen on channel ${ch.number}`,
  );
}
