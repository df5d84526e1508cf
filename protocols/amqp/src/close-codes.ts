/**
 * The one place that turns errors into AMQP close frames. Soft errors (BrokerError scope
 * 'channel') close the channel; hard errors close the connection (AMQP 0-9-1 §1.2 / the
 * constants table: 3xx/4xx soft, 5xx hard, except where RabbitMQ says otherwise).
 */
import { BrokerError } from '@junction/core';

export interface CloseArgs {
  replyCode: number;
  replyText: string;
  classId: number;
  methodId: number;
}

/** Anything thrown while handling a method, as a BrokerError (unknown errors become 541 INTERNAL_ERROR). */
export function asBrokerError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  return new BrokerError('INTERNAL_ERROR', `INTERNAL_ERROR - ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
  });
}

export function closeArgs(err: BrokerError, classId = 0, methodId = 0): CloseArgs {
  // reply-text is a shortstr: at most 255 bytes on the wire.
  let text = err.message;
  while (Buffer.byteLength(text) > 255) text = text.slice(0, -1);
  return { replyCode: err.replyCode, replyText: text, classId, methodId };
}
