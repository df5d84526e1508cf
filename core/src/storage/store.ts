/**
 * The storage seam: the only way the core persists anything. Backends live in
 * packages/storage-*; the core never imports one. A store batches: many enqueue/remove
 * calls may share one durable commit (group commit), and each returned promise settles
 * when the commit that holds its write is durable: publisher confirms wait for that.
 */
import type { FieldTable, MessageProperties } from '../message.js';
import type { ClientSessionState } from '../session.js';
import type { ScramCredentials } from '../auth/scram.js';
import type { StreamLog, StreamSettings } from './stream-log.js';

export interface StoreCapabilities {
  /** false: nothing survives a restart (memory); the core then skips message writes entirely. */
  readonly durable: boolean;
  /**
   * true: the store can hold a confirm until a write is on the replicas a failover may promote
   * (`requireReplication`); the `mirrored` queue type is refused on a store without it.
   */
  readonly replicated?: boolean;
}

export interface StoredMessage {
  readonly id: number;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly body: Buffer;
}

export interface QueueRef {
  readonly vhost: string;
  readonly queue: string;
}

export interface StoredEntry extends QueueRef {
  readonly messageId: number;
  /** Epoch ms; 0 = never. */
  readonly expiresAt: number;
  /** > 0: was delivered before, so it is redelivered after a restart. */
  readonly deliveryCount: number;
}

export interface EnqueueRecord extends StoredEntry {
  readonly message: StoredMessage;
}

export interface ExchangeDefinition {
  vhost: string;
  name: string;
  type: string;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export interface QueueDefinition {
  vhost: string;
  name: string;
  durable: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
}

export interface BindingDefinition {
  vhost: string;
  source: string;
  destination: string;
  destinationType: 'queue' | 'exchange';
  routingKey: string;
  arguments: FieldTable;
}

export interface PolicyDefinitionRecord {
  vhost: string;
  name: string;
  pattern: string;
  applyTo: 'queues' | 'exchanges' | 'all';
  priority: number;
  definition: FieldTable;
}

export interface UserDefinition {
  name: string;
  passwordHash: string;
  tags: string[];
  /** RabbitMQ's user limits (max-connections, max-channels); absent = none. */
  limits?: Record<string, number>;
  /** SCRAM-SHA-256 keys, when the password was set (absent for an imported hash). */
  scram?: ScramCredentials;
}

export interface PermissionDefinition {
  vhost: string;
  user: string;
  configure: string;
  write: string;
  read: string;
}

export interface Definitions {
  /** limits: RabbitMQ's vhost limits (max-connections, max-queues); absent = none. */
  vhosts: { name: string; description?: string; limits?: Record<string, number> }[];
  users: UserDefinition[];
  permissions: PermissionDefinition[];
  exchanges: ExchangeDefinition[];
  queues: QueueDefinition[];
  bindings: BindingDefinition[];
  policies: PolicyDefinitionRecord[];
}

/** Definitions with nothing in them: what a fresh store recovers, and where a store's reading starts. */
export function emptyDefinitions(): Definitions {
  return { vhosts: [], users: [], permissions: [], exchanges: [], queues: [], bindings: [], policies: [] };
}

export type DefinitionChange =
  | { op: 'put'; kind: 'vhost'; value: Definitions['vhosts'][number] }
  | { op: 'put'; kind: 'user'; value: UserDefinition }
  | { op: 'put'; kind: 'permission'; value: PermissionDefinition }
  | { op: 'put'; kind: 'exchange'; value: ExchangeDefinition }
  | { op: 'put'; kind: 'queue'; value: QueueDefinition }
  | { op: 'put'; kind: 'binding'; value: BindingDefinition }
  | { op: 'put'; kind: 'policy'; value: PolicyDefinitionRecord }
  | { op: 'delete'; kind: 'vhost'; key: { name: string } }
  | { op: 'delete'; kind: 'user'; key: { name: string } }
  | { op: 'delete'; kind: 'permission'; key: { vhost: string; user: string } }
  | { op: 'delete'; kind: 'exchange'; key: { vhost: string; name: string } }
  | { op: 'delete'; kind: 'queue'; key: { vhost: string; name: string } }
  | { op: 'delete'; kind: 'binding'; key: BindingDefinition }
  | { op: 'delete'; kind: 'policy'; key: { vhost: string; name: string } };

export interface RecoveredState {
  /** null: a fresh store; the broker creates its defaults (vhost "/", the default user). */
  definitions: Definitions | null;
  /** Entries per durable queue, in enqueue order (ascending messageId). */
  messages(queue: QueueRef): AsyncIterable<EnqueueRecord>;
  /** Highest message id ever stored, so new ids never collide. */
  maxMessageId: number;
}

export interface RetainedMessage {
  readonly topic: string;
  readonly message: StoredMessage;
}

/** Stored as the core's ClientSessionState. */
export type MqttSessionState = ClientSessionState;

export interface Store {
  readonly capabilities: StoreCapabilities;
  /**
   * Set when the store failed in a way no single operation's caller could be told about
   * (e.g. a background checkpoint): the store is then read-only and refuses writes with it.
   */
  readonly failure?: Error | undefined;
  /** Called once when `failure` is set (at once if it already is): the broker logs it. */
  onFailure?(listener: (err: Error) => void): void;
  open(): Promise<RecoveredState>;
  /** Flushes the pending group commit, then releases the backend. */
  close(): Promise<void>;
  writeDefinitions(changes: readonly DefinitionChange[]): Promise<void>;
  /** Resolves once every record is durable (one group commit). */
  enqueue(records: readonly EnqueueRecord[]): Promise<void>;
  /** Ack / drop / expire; the message body goes when no queue references it. */
  remove(entries: readonly (QueueRef & { messageId: number })[]): Promise<void>;
  /** Redelivered flag survives restarts: the entry was handed to a consumer. */
  markDelivered(entries: readonly (QueueRef & { messageId: number })[]): Promise<void>;
  /**
   * Optional, cheaper form of markDelivered for queues that deliver in id order: every entry
   * of `queue` with an id up to `messageId` has been handed to a consumer. One write per
   * queue however many messages it covers; the core calls it once per event-loop turn.
   * Entries enqueued later with lower ids do not exist (ids only grow).
   */
  markDeliveredThrough?(queue: QueueRef, messageId: number): Promise<void>;
  /**
   * Optional (cluster mode): the fencing epoch under which this node owns `queue`, or undefined
   * to write unfenced again (single node; the default). While an epoch is set, every write to
   * the queue (enqueue, remove, markDelivered, dropQueue, its stream's appends and trims) runs
   * only if the store's epoch for the queue is still this one, and fails with
   * QueueFencedError (errors.ts) otherwise, having changed nothing. Stores without a shared
   * backend (memory, embedded) have no other writer and leave it out.
   */
  setQueueEpoch?(queue: QueueRef, epoch: number | undefined): void;
  /** Drops every entry of a queue (purge, delete). */
  dropQueue(queue: QueueRef): Promise<void>;
  /**
   * Paging (deep queues): at most `limit` entries of a queue with messageId > afterMessageId,
   * ascending, with their bodies. Entries whose body is missing are skipped. Reflects every
   * write whose promise has settled.
   */
  readEntries(queue: QueueRef, afterMessageId: number, limit: number): Promise<EnqueueRecord[]>;
  /** How many entries a queue has in the store (recovery counts the paged tail with it). */
  countEntries(queue: QueueRef): Promise<number>;
  putRetained(vhost: string, topic: string, msg: StoredMessage | null): Promise<void>;
  retained(vhost: string): AsyncIterable<RetainedMessage>;
  putMqttSession(vhost: string, clientId: string, state: MqttSessionState | null): Promise<void>;
  mqttSessions(vhost: string): AsyncIterable<{ clientId: string; state: MqttSessionState }>;
  /**
   * Opens (creating if new) the log of a `stream` queue (stream-log.ts). A stream's entries live
   * apart from the queue records above: they are never removed by acks, only by retention.
   * Opening a stream that is open returns the open log (the settings it was opened with stay).
   * Recovery does not list streams: the stream queue type opens each stream queue the
   * definitions name.
   */
  openStream(ref: QueueRef, settings: StreamSettings): Promise<StreamLog>;
  /**
   * Deletes a stream and everything it holds (segments, consumer offsets, producer sequences),
   * closing its log first if open. Deleting the queue's definition does not do this: the
   * stream queue type calls it when the queue is deleted.
   */
  dropStream(ref: QueueRef): Promise<void>;
  /**
   * Only on a store with `capabilities.replicated`: from now on (`required` true) an enqueue
   * into `queue` settles only once its write is on the replicas a failover may promote, or
   * fails with the reason it could not be within the store's bound. The `mirrored` queue
   * type calls it for each of its queues (false when the queue is deleted).
   */
  requireReplication?(queue: QueueRef, required: boolean): void;
}
