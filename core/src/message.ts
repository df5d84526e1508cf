/**
 * One message model for every protocol: a body plus the AMQP basic properties, which
 * MQTT and STOMP map onto at their edges. The body Buffer is shared, never copied,
 * between the hops that do not change it (fanout to many queues shares one Message).
 */
export type FieldValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | Buffer
  | Date
  | FieldTable
  | FieldValue[]
  | TypedFieldValue;

/** A value whose AMQP wire type is pinned (e.g. a 'timestamp' or 'float'); adapters keep it round-trip exact. */
export interface TypedFieldValue {
  readonly '!': string;
  readonly value: unknown;
}

export interface FieldTable {
  [key: string]: FieldValue;
}

/**
 * The arguments of a declaration or consume that gave none: one frozen table for all (an
 * empty object per queue and per consumer is 56 bytes per MQTT device).
 */
export const NO_ARGUMENTS: FieldTable = Object.freeze({});

export interface MessageProperties {
  contentType?: string | undefined;
  contentEncoding?: string | undefined;
  headers?: FieldTable | undefined;
  /** 1 = transient, 2 = persistent. */
  deliveryMode?: number | undefined;
  priority?: number | undefined;
  correlationId?: string | undefined;
  replyTo?: string | undefined;
  /** Per-message TTL in milliseconds, as a decimal string (AMQP semantics). */
  expiration?: string | undefined;
  messageId?: string | undefined;
  /** Seconds since the epoch. */
  timestamp?: number | undefined;
  type?: string | undefined;
  userId?: string | undefined;
  appId?: string | undefined;
  clusterId?: string | undefined;
}

export interface Message {
  /** Exchange the publisher named ('' = default exchange). */
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly body: Buffer;
  /**
   * Opaque per-protocol cache of the encoded properties, so an adapter that delivers
   * a message in the protocol it arrived in can skip re-encoding. Cleared by any hop
   * that changes properties (dead-lettering).
   */
  encodedProperties?: { protocol: string; bytes: Buffer } | undefined;
}

export function createMessage(
  exchange: string,
  routingKey: string,
  body: Buffer,
  properties: MessageProperties = {},
): Message {
  return { exchange, routingKey, properties, body };
}
