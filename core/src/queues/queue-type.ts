/**
 * The queue-type seam. A queue type is a registered module (like an exchange type, see
 * registry.ts beside this file) that makes queues; every queue the core holds is one of its
 * queues, seen by the vhost, the sessions and management only through the `Queue` interface
 * below. `classic` (classic.ts, queue.ts) is today's queue: destructive reads, priorities,
 * TTL, length limits, dead-lettering, paging. Another type (a stream: non-destructive reads,
 * one position per consumer, acks that only give credit back) implements the same interface
 * and never needs the vhost's internals: what it may use of the broker is `QueueContext`.
 *
 * The life of a publish, as the vhost drives it (one message, the queues it was routed to):
 *   1. `enqueue()` on every queue: each admits or refuses the message (its limits) and, for a
 *      copy it keeps in the store, stages a record in the publish's one store write
 *      (`Admission.write`), or starts its own write and returns its promise (a stream log);
 *   2. the vhost submits the write (one store call for the whole fan-out);
 *   3. `enqueued()` on every queue that took it: now it may deliver.
 * The publisher's confirm waits for every promise of step 1/2.
 *
 * Consumers and credit: a session builds a `Consumer` (consumer.ts) and hands it to
 * `addConsumer()`. Whether a consumer may take one more message is `consumer.canTake()`: its
 * prefetch against its unacked count, and its session's gates (flow, global prefetch, a full
 * socket). A queue delivers by calling `consumer.owner.deliver(consumer, queue, entry)`; the
 * session then owns the delivery until it calls `settle()` with the entry it was given. When
 * credit frees up (an ack, a socket drained, basic.qos) the session calls `dispatch()`.
 */
import type { BrokerEvents, DeathReason } from '../events.js';
import type { Destination } from '../exchanges/exchange-type.js';
import type { FlowHolder } from '../flow.js';
import type { FieldTable, Message } from '../message.js';
import type { SettleOutcome } from '../session.js';
import type { EnqueueRecord, Store } from '../storage/store.js';
import type { Logger } from 'pino';
import type { Consumer } from './consumer.js';
import type { QueuedMessage } from './queued-message.js';
import type { PolicyDefinition } from './queue-settings.js';

export interface QueueOptions {
  durable: boolean;
  autoDelete: boolean;
  /** Owning connection id for exclusive queues. */
  exclusiveOwner: string | null;
  arguments: FieldTable;
}

/** What the broker lends a queue of any type. */
export interface QueueContext {
  /** The vhost's name (events, store keys). */
  readonly vhost: string;
  readonly events: BrokerEvents;
  readonly store: Store;
  readonly log: Logger;
  /** Deep-queue paging window (messages, body bytes); null: keep every body in memory. */
  readonly paging: { readonly maxMessages: number; readonly maxBytes: number } | null;
  /**
   * Republishes messages the queue gives up on (expired, rejected, over a limit) through
   * `exchange` (the queue's dead-letter exchange; undefined: only observers hear of them).
   */
  deadLetter(
    queue: Queue,
    entries: readonly QueuedMessage[],
    reason: DeathReason,
    exchange: string | undefined,
    routingKey: string | undefined,
  ): void;
  /** x-expires ran out, or auto-delete's last consumer left: the vhost deletes the queue. */
  unused(queue: Queue): void;
}

/** What a type gets to make one queue. */
export interface QueueInit {
  readonly context: QueueContext;
  readonly name: string;
  readonly options: QueueOptions;
  /** The definition of the policy that matches the queue's name now, if any. */
  readonly policy: PolicyDefinition | undefined;
  /**
   * From its stored definition at broker start (recover() follows, not open()): arguments
   * this broker refuses now should be logged and replaced by defaults, not refuse the queue.
   */
  readonly recovering: boolean;
}

export interface QueueType {
  /** The `x-queue-type` argument that selects it (and management's `type` field). */
  readonly name: string;
  /**
   * A new queue, from a declaration or from its stored definition at recovery. Throws
   * PRECONDITION_FAILED (AMQP 406) for arguments or options the type refuses (checked before
   * the queue exists anywhere). Synchronous: the vhost registers the queue at once, so two
   * declares in one turn see each other; storage the queue must open goes in `open()`.
   */
  create(init: QueueInit): Queue;
}

/** The one store write a publish makes, shared by every queue it reaches (a fan-out's body is written once). */
export interface PublishWrite {
  /**
   * Stages this queue's entry of the message (never delivered yet); the vhost submits the
   * write once every queue has been asked, before any of them delivers.
   */
  stage(queue: string, expiresAt: number): void;
}

/** One message offered to one queue. */
export interface Admission {
  /** Broker-wide id, the same in every queue the message reaches (store records share it). */
  readonly messageId: number;
  /** The message's own expiration in ms (undefined: none); the queue may lower it. */
  readonly ttl: number | undefined;
  /** Delivery mode 2 and a durable store: a copy in a stored queue must be written. */
  readonly persistent: boolean;
  /** Epoch ms of the publish. */
  readonly now: number;
  readonly write: PublishWrite;
}

/**
 * 'rejected': a reject-publish limit refused it (the publisher gets a nack). Otherwise the
 * queue took it; `persisted` is a write of the queue's own (not staged in the publish's
 * write) that the confirm must wait for, else null.
 */
export type EnqueueOutcome = 'rejected' | { readonly persisted: Promise<void> | null };

/** The stored entries of one queue, at broker start. */
export interface StoredEntries {
  /** In enqueue order (ascending message id). */
  readonly records: AsyncIterable<EnqueueRecord>;
  /** How many there are (a queue that pages counts the ones it leaves in the store). */
  count(): Promise<number>;
  /** No stored id is above it. */
  readonly maxMessageId: number;
}

/** The consumers of a queue, read-only (sessions check exclusivity, management lists them). */
export interface ConsumerView {
  readonly size: number;
  all(): readonly Consumer[];
  /** Single active consumer mode: the one that receives (undefined: not in that mode, or none). */
  readonly active: Consumer | undefined;
}

/** What management shows of a queue; every type fills it from its own state. */
export interface QueueStats {
  /** Messages a consumer could be given now (a stream: the messages it retains). */
  readonly ready: number;
  readonly unacked: number;
  readonly readyBytes: number;
  readonly consumers: number;
  /** Single active consumer mode: its tag (null: none yet); undefined: not in that mode. */
  readonly singleActiveConsumer: string | null | undefined;
  /** Since the queue was made (this run): messages in, handed out, acked, and given up on. */
  readonly published: number;
  readonly delivered: number;
  readonly acked: number;
  readonly redelivered: number;
  readonly deadLettered: number;
  readonly dropped: number;
}

export interface Queue extends Destination {
  readonly kind: 'queue';
  readonly name: string;
  readonly type: QueueType;
  readonly options: QueueOptions;
  /** Kept in the store: durable and not exclusive (an exclusive queue dies with its connection). */
  readonly stored: boolean;
  /** Set by destroy(); a queue is never used again after it. */
  readonly deleted: boolean;

  // ---- declare / recover ----------------------------------------------------------------
  /** After create() for a new queue: opens whatever storage it keeps of its own. */
  open(): Promise<void>;
  /** Instead of open() at broker start: takes its stored entries back; returns how many. */
  recover(stored: StoredEntries): Promise<number>;
  /** A declare, consume or get of the queue (restarts the x-expires clock). */
  touch(): void;
  /** The policy matching the queue changed (or went: undefined). Throws if it cannot apply. */
  applyPolicy(policy: PolicyDefinition | undefined): void;

  // ---- enqueue --------------------------------------------------------------------------
  /** Step 1 of a publish (see the top of this file): admit or refuse, stage the write. */
  enqueue(msg: Message, admission: Admission): EnqueueOutcome;
  /** Step 3: the publish's write is submitted (`write`, null if nothing was staged): deliver. */
  enqueued(write: Promise<void> | null): void;
  /** Consumers fall behind: publishers into the queue should be held back (flow.ts). */
  readonly congested: boolean;
  /** Publishers held back by this queue (flow.ts); the queue releases them when it drains. */
  flowHolders: Set<FlowHolder> | undefined;

  // ---- consume / credit -----------------------------------------------------------------
  readonly consumers: ConsumerView;
  /**
   * Registers a consumer; throws a BrokerError to refuse it (its arguments, a missing
   * prefetch), leaving nothing behind. Delivers nothing yet: the session calls dispatch()
   * once its consume-ok is out.
   */
  addConsumer(c: Consumer): void;
  removeConsumer(c: Consumer): void;
  /** Credit may have freed up (or a consumer arrived): deliver what can be delivered now. */
  dispatch(): void;
  /**
   * basic.get: the next message or undefined; with noAck it is settled at once. Throws a
   * BrokerError where the type has no such read.
   */
  get(noAck: boolean): Promise<QueuedMessage | undefined>;

  // ---- settle ---------------------------------------------------------------------------
  /**
   * The session settles an entry this queue handed out (a delivery or a get). `unacked`:
   * it was waiting for an ack (false for a no-ack delivery, settled as 'ack' at once).
   */
  settle(entry: QueuedMessage, outcome: SettleOutcome, unacked: boolean): void;

  // ---- purge / delete -------------------------------------------------------------------
  /** Drops every ready message; returns how many. */
  purge(): number;
  /**
   * The queue is deleted: drops its messages (returns how many), detaches its consumers
   * without telling them (the vhost cancels them), stops its timers. Synchronous, so no
   * publish reaches a half-deleted queue; dropStored() follows.
   */
  destroy(): number;
  /** After destroy() of a stored queue: removes everything the queue kept in the store. */
  dropStored(): Promise<void>;

  // ---- stats ----------------------------------------------------------------------------
  /** Ready messages (what declare-ok and if-empty count). */
  readonly messageCount: number;
  readonly consumerCount: number;
  /** Delivered, not yet settled. */
  readonly unacked: number;
  stats(): QueueStats;
}
