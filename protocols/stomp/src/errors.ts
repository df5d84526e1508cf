/**
 * Turning anything thrown while handling a frame into the `message` header and body of a
 * STOMP ERROR frame. Client mistakes say what was wrong; unexpected failures say only
 * "internal error" (details go to the log, not to the peer).
 */
import { BrokerError } from '@junction/core';
import { DestinationError } from './destinations.js';
import { HeaderError } from './headers.js';
import { FrameError } from './parser.js';

/** A client-caused protocol error (bad frame, missing header, unknown command...). */
export class StompProtocolError extends Error {
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

export interface ErrorReport {
  message: string;
  detail: string;
  /** true when the cause is unexpected and worth logging at error level. */
  internal: boolean;
}

export function describeError(err: unknown): ErrorReport {
  if (err instanceof StompProtocolError)
    return { message: err.message, detail: err.detail ?? err.message, internal: false };
  if (err instanceof FrameError) return { message: 'Malformed frame', detail: err.message, internal: false };
  if (err instanceof DestinationError)
    return { message: 'Invalid destination', detail: err.message, internal: false };
  if (err instanceof HeaderError) return { message: 'Invalid header', detail: err.message, internal: false };
  if (err instanceof BrokerError) {
    // The core's messages start with the AMQP code name ("NOT_FOUND - no queue 'x'...").
    return { message: err.message, detail: `${err.message} (reply code ${err.replyCode})`, internal: false };
  }
  return { message: 'Internal error', detail: 'internal error', internal: true };
}
