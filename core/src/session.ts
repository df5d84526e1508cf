/**
 * The seam between protocol adapters and the core. Adapters see only these types:
 * they authenticate, open a connection, open sessions on it (an AMQP channel, an MQTT
 * client session, a STOMP connection) and drive everything through Session.
 */
import type { DirectSink, DirectSubscription } from './direct-subscription.js';
import type { BrokerError } from './errors.js';
import type { FieldTable, Message } from './message.js';

export type Protocol = 'amqp' | 'mqtt' | 'stomp' | 'http' | 'internal';

export interface ConnectionInfo {
  /** Unique per broker process. */
  readonly id: string;
  readonly protocol: Protocol;
  /** e.g. "AMQP 0-9-1", "MQTT 3.1.1", "STOMP 1.2". */
  readonly protocolVersion?: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;
  readonly clientProperties?: FieldTable;
  readonly clientId?: string;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface Principal {
  readonly username: string;
  readonly tags: readonly string[];
}

export interface ExchangeDeclaration {
  name: string;
  type: string;
  durable?: boolean;
  autoDelete?: boolean;
  internal?: boolean;
  passive?: boolean;
  arguments?: FieldTable;
}

export interface QueueDeclaration {
  /** '' asks for a server-generated name. */
  name: string;
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  passive?: boolean;
  arguments?: FieldTable;
  /**
   * The adapter declares a queue the broker keeps for a protocol feature (an MQTT shared
   * subscription's group queue), so broker-reserved arguments such as `x-session-owned` are
   * allowed. Never set from a client's request.
   */
  brokerOwned?: boolean;
}

export interface QueueDeclared {
  queue: string;
  messageCount: number;
  consumerCount: number;
}

export interface PublishOptions {
  /** Return the message (via PublishOutcome.returned) when it reaches no queue. */
  mandatory?: boolean;
}

export interface PublishOutcome {
  /** false when a queue refused it (reject-publish overflow) or the store failed: nack. */
  ok: boolean;
  /** Set with ok=false when the store failed to write it (else a queue refused it). */
  storeFailed?: boolean;
  /** Set when mandatory and unroutable: the adapter sends basic.return (before the confirm). */
  returned?: { replyCode: number; replyText: string };
}

export interface ConsumeOptions {
  /** '' or undefined: the core generates one. */
  consumerTag?: string;
  noAck?: boolean;
  exclusive?: boolean;
  /** Consumer priority (x-priority): higher-priority consumers get messages first. */
  priority?: number;
  /**
   * Per-consumer prefetch. Undefined: the session's default per-consumer prefetch
   * (Session.qos with global=false) applies.
   */
  prefetch?: number;
  arguments?: FieldTable;
  /** Core-evaluated filter (STOMP/JMS selectors): messages that do not match are left for others. */
  filter?: (msg: Message) => boolean;
}

export interface Delivery {
  readonly message: Message;
  /** Session-scoped, monotonically increasing from 1. 0 for no-ack deliveries is never used: tags always increase. */
  readonly deliveryTag: number;
  readonly redelivered: boolean;
  /** When the message expires in its queue (per-message or queue TTL), epoch ms; 0: never. */
  readonly expiresAt: number;
  readonly consumerTag: string;
  readonly queue: string;
  /** Exchange and routing key the message was last routed with (changed by dead-lettering). */
  readonly exchange: string;
  readonly routingKey: string;
}

export interface GetResult extends Delivery {
  /** Messages left in the queue after this one. */
  readonly messageCount: number;
}

export interface DeliverySink {
  /** Returns false when the transport is full: the core stops delivering until Session.resume(). */
  deliver(delivery: Delivery): boolean;
  /** The consumer was cancelled by the broker (queue deleted, ...): consumer cancel notify. */
  cancelled(reason: BrokerError): void;
}

export type SettleOutcome = 'ack' | 'requeue' | 'reject';

export interface Transaction {
  publish(msg: Message, opts?: PublishOptions): void;
  settle(deliveryTag: number, outcome: SettleOutcome, multiple?: boolean): void;
  /** Applies everything in order; resolves when persistent messages are durably stored. */
  commit(): Promise<PublishOutcome[]>;
  rollback(): void;
}

export interface Session {
  readonly id: string;
  /** Consumers this session has now (AMQP's per-channel consumer limit counts them). */
  readonly consumerCount: number;
  declareExchange(decl: ExchangeDeclaration): Promise<void>;
  deleteExchange(name: string, opts?: { ifUnused?: boolean }): Promise<void>;
  declareQueue(decl: QueueDeclaration): Promise<QueueDeclared>;
  deleteQueue(name: string, opts?: { ifUnused?: boolean; ifEmpty?: boolean }): Promise<number>;
  purgeQueue(name: string): Promise<number>;
  bindQueue(queue: string, exchange: string, routingKey: string, args?: FieldTable): Promise<void>;
  unbindQueue(queue: string, exchange: string, routingKey: string, args?: FieldTable): Promise<void>;
  bindExchange(destination: string, source: string, routingKey: string, args?: FieldTable): Promise<void>;
  unbindExchange(destination: string, source: string, routingKey: string, args?: FieldTable): Promise<void>;

  /**
   * Routes and enqueues. The callback, when given, runs once the outcome is final: for a
   * persistent message on a durable queue that is after the store's durable commit
   * (publisher confirms, MQTT PUBACK, STOMP RECEIPT wait for it). Callbacks run in publish order.
   * Throws BrokerError for errors that end the session (unknown exchange, internal exchange, access).
   */
  publish(msg: Message, opts?: PublishOptions, done?: (outcome: PublishOutcome) => void): void;

  consume(queue: string, opts: ConsumeOptions, sink: DeliverySink): Promise<string>;
  /**
   * A subscription bound straight to `sink`, without a queue (direct-subscription.ts), for a
   * client whose subscription would be an exclusive transient queue only it consumes. Checks
   * what declaring, binding and consuming that queue (`name`) would: configure and write on
   * it, read on the exchange. Undefined when the vhost's queue policies or limits would apply
   * to that queue: the caller declares the queue then.
   */
  subscribeDirect(
    exchange: string,
    pattern: string,
    name: string,
    sink: DirectSink,
  ): DirectSubscription | undefined;
  /** Unbinds a direct subscription; its waiting messages are dropped (as a deleted queue's). */
  unsubscribeDirect(sub: DirectSubscription): void;
  cancel(consumerTag: string): Promise<void>;
  get(queue: string, opts?: { noAck?: boolean }): Promise<GetResult | null>;
  settle(deliveryTag: number, outcome: SettleOutcome, multiple?: boolean): void;
  /** Redeliver (requeue=true: back to the queues; false: to the same consumers) every unacked message. */
  recover(requeue: boolean): void;
  /** AMQP basic.qos semantics as RabbitMQ: global=false sets the prefetch of consumers created after; true limits the session. 0 = unlimited. */
  qos(prefetchCount: number, global: boolean): void;
  /** channel.flow: false stops deliveries to this session's consumers until true. */
  flow(active: boolean): void;
  /** Called by the adapter when a full transport drained. */
  resume(): void;
  beginTransaction(): Transaction;
  /** Requeues unacked messages, cancels consumers. Idempotent. */
  close(): Promise<void>;
}

export interface RetainedEntry {
  readonly routingKey: string;
  readonly message: Message;
}

/** A persistent client session (MQTT clean-session=0): what must be resumed on reconnect. */
export interface ClientSessionState {
  /** Subscriptions: topic filter -> QoS. */
  subscriptions: Record<string, number>;
  /** The session's queues: removed with it when it expires. */
  queues?: string[];
  /**
   * How long the session outlives its connection (MQTT 5 Session Expiry Interval), ms;
   * absent: until the client ends it. A session restored without `expiresAt` (its broker
   * stopped while the client was connected) expires this long after the restart.
   */
  expiryMs?: number;
  /** Epoch ms at which the core removes the session and its queues (set while it is offline). */
  expiresAt?: number;
  /** A will waiting out its delay (MQTT 5 Will Delay Interval) while the client is away. */
  will?: StoredWill;
  [key: string]: unknown;
}

/**
 * A will the core publishes for an offline client: at `publishAt`, or when the session ends
 * first (it expires, or a Clean Start replaces it). A state saved without it (the client took
 * its session up again) drops it. It goes out as `user`, with that user's permissions, and
 * its store outlives a restart with the session.
 */
export interface StoredWill {
  readonly message: Message;
  /** Also set (or, with an empty body, clear) the retained message of its routing key. */
  readonly retain: boolean;
  /** Epoch ms. */
  readonly publishAt: number;
  readonly user: string;
}

export interface Connection {
  readonly info: ConnectionInfo;
  readonly principal: Principal;
  readonly vhost: string;
  openSession(): Session;
  /**
   * Sets (null: clears) the retained message of a routing key in this vhost; resolves once
   * it is durable. Checks write permission on the exchange the message names.
   */
  retain(routingKey: string, msg: Message | null): Promise<void>;
  /** Retained messages whose routing key matches a topic pattern (`*`, `#`). */
  retainedMatching(pattern: string): RetainedEntry[];
  sessionState(clientId: string): ClientSessionState | undefined;
  /** Resolves once durable; null forgets the session. */
  saveSessionState(clientId: string, state: ClientSessionState | null): Promise<void>;
  /** Some stored client session other than `clientId`'s lists `queue` (a shared group queue). */
  sessionQueueListedByOthers(clientId: string, queue: string): boolean;
  /** Closes every session, deletes exclusive queues. Idempotent. */
  close(reason?: string): Promise<void>;
}

export interface ConnectionControl {
  /** The broker (management, shutdown) asks the adapter to close this connection. */
  close(reason: string): Promise<void>;
  /** connection.blocked / unblocked (memory alarm): adapters stop reading publishes. */
  setBlocked?(blocked: boolean, reason: string): void;
  /** Publisher flow control: stop (true) or resume (false) reading from this connection. See flow.ts. */
  throttle?(on: boolean): void;
}

/**
 * One SCRAM-SHA-256 exchange: the client's first message gets the server's (salt, iteration
 * count, nonce), its final message (the proof) gets the principal and the server's final
 * message (the server's signature). Each throws a BrokerError ACCESS_REFUSED on a malformed
 * message, a wrong proof or an unknown user; `noCredentials` on it is set when the user
 * exists but has no SCRAM keys (its password was imported as a hash).
 */
export interface ScramLogin {
  start(clientFirst: Buffer): Buffer;
  finish(clientFinal: Buffer): { principal: Principal; serverFinal: Buffer };
}

export interface BrokerApi {
  /** Throws BrokerError ACCESS_REFUSED on bad credentials. */
  authenticate(creds: Credentials, conn: ConnectionInfo): Promise<Principal>;
  /**
   * A login the transport has already proved (a verified client certificate naming `username`):
   * no password, but the user must exist (and loopback-only users stay on loopback). Throws
   * ACCESS_REFUSED otherwise.
   */
  authenticateExternal(username: string, conn: ConnectionInfo): Promise<Principal>;
  /** A SCRAM-SHA-256 login exchange (RFC 7677) for one connection. */
  scram(conn: ConnectionInfo): ScramLogin;
  /** Throws NOT_ALLOWED for an unknown vhost (subject 'unknown-vhost') or a user without permission on it. */
  connect(principal: Principal, vhost: string, info: ConnectionInfo, control: ConnectionControl): Connection;
}
