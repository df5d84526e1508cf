/**
 * Typed broker errors. Each code carries the AMQP 0-9-1 reply code it maps to and
 * whether it is a soft error (closes the channel / session) or a hard error (closes
 * the connection). Each protocol adapter renders these in its own wire format:
 * AMQP close frames, STOMP ERROR frames, MQTT return codes / disconnects.
 */
export const ErrorCodes = {
  NO_ROUTE: { replyCode: 312, scope: 'channel' },
  CONNECTION_FORCED: { replyCode: 320, scope: 'connection' },
  ACCESS_REFUSED: { replyCode: 403, scope: 'channel' },
  NOT_FOUND: { replyCode: 404, scope: 'channel' },
  RESOURCE_LOCKED: { replyCode: 405, scope: 'channel' },
  PRECONDITION_FAILED: { replyCode: 406, scope: 'channel' },
  FRAME_ERROR: { replyCode: 501, scope: 'connection' },
  SYNTAX_ERROR: { replyCode: 502, scope: 'connection' },
  COMMAND_INVALID: { replyCode: 503, scope: 'connection' },
  CHANNEL_ERROR: { replyCode: 504, scope: 'connection' },
  UNEXPECTED_FRAME: { replyCode: 505, scope: 'connection' },
  NOT_ALLOWED: { replyCode: 530, scope: 'connection' },
  NOT_IMPLEMENTED: { replyCode: 540, scope: 'connection' },
  INTERNAL_ERROR: { replyCode: 541, scope: 'connection' },
} as const satisfies Record<string, { replyCode: number; scope: 'channel' | 'connection' }>;

export type ErrorCode = keyof typeof ErrorCodes;
export type ErrorScope = 'channel' | 'connection';

/**
 * What an error is about, for the few cases an adapter must tell apart errors that share a
 * code: an unknown vhost and a refused one are both NOT_ALLOWED, but STOMP falls back to the
 * default vhost on the first only; a reached vhost or user limit is NOT_ALLOWED too, and MQTT
 * answers it with CONNACK 3 (server unavailable) instead of 5.
 */
export type ErrorSubject = 'unknown-vhost' | 'limit-reached';

const brand = Symbol.for('junction.BrokerError');

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly replyCode: number;
  /** channel: soft error, the session ends; connection: hard error, the connection ends. */
  readonly scope: ErrorScope;
  readonly subject: ErrorSubject | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; scope?: ErrorScope; subject?: ErrorSubject },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BrokerError';
    this.code = code;
    this.replyCode = ErrorCodes[code].replyCode;
    this.scope = options?.scope ?? ErrorCodes[code].scope;
    this.subject = options?.subject;
  }

  // Symbol.for branding so `instanceof` works across duplicate installs of @junction/core.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  get [brand](): true {
    return true;
  }
}

export const notFound = (what: string): BrokerError => new BrokerError('NOT_FOUND', `NOT_FOUND - no ${what}`);
export const preconditionFailed = (why: string): BrokerError =>
  new BrokerError('PRECONDITION_FAILED', `PRECONDITION_FAILED - ${why}`);
export const accessRefused = (why: string): BrokerError =>
  new BrokerError('ACCESS_REFUSED', `ACCESS_REFUSED - ${why}`);
export const unknownVhost = (name: string): BrokerError =>
  new BrokerError('NOT_ALLOWED', `NOT_ALLOWED - vhost '${name}' not found`, { subject: 'unknown-vhost' });
export const resourceLocked = (why: string): BrokerError =>
  new BrokerError('RESOURCE_LOCKED', `RESOURCE_LOCKED - ${why}`);

/**
 * A store refused a write to a queue because another node owns it now: the queue's fencing
 * epoch in the store has moved past the one this node was given (Store.setQueueEpoch). Nothing
 * of the refused write happened; the broker drops the queue, and whatever waited on the write
 * (a publisher confirm) is not confirmed.
 */
export class QueueFencedError extends Error {
  constructor(
    readonly vhost: string,
    readonly queue: string,
    readonly epoch: number,
    options?: { cause?: unknown },
  ) {
    super(`queue '${queue}' in vhost '${vhost}' is fenced: epoch ${epoch} is no longer the queue's`, options);
    this.name = 'QueueFencedError';
  }
}
