/**
 * The Session implementation: one per AMQP channel, MQTT client or STOMP connection.
 * It owns delivery tags, unacked deliveries, consumers, prefetch (per consumer and per
 * session), flow, transport back-pressure, confirm ordering and transactions.
 */
import type { UserStore } from './auth/users.js';
import { DirectSubscription, type DirectSink } from './direct-subscription.js';
import { BrokerError, accessRefused, notFound, preconditionFailed } from './errors.js';
import type { Exchange } from './exchanges/exchange.js';
import type { Message } from './message.js';
import { Consumer, type ConsumerOwner } from './queues/consumer.js';
import type { Queue } from './queues/queue-type.js';
import type { QueuedMessage } from './queues/queued-message.js';
import type {
  ConsumeOptions,
  DeliverySink,
  ExchangeDeclaration,
  GetResult,
  PublishOptions,
  PublishOutcome,
  QueueDeclaration,
  QueueDeclared,
  Session,
  SettleOutcome,
  Transaction,
} from './session.js';
import { NO_ARGUMENTS, type FieldTable } from './message.js';
import { checkName } from './names.js';
import { randomToken } from './random-token.js';
import { publish } from './publish.js';
import { SmallMap } from './small-map.js';
import { SESSION_OWNED_ARG } from './queues/queue-settings.js';
import { serverQueueName, type Vhost } from './vhost.js';
import type { PublisherFlow } from './flow.js';

interface Unacked {
  readonly queue: Queue;
  readonly entry: QueuedMessage;
  readonly consumer: Consumer | null;
}

interface PendingOutcome {
  outcome: PublishOutcome;
  done: (o: PublishOutcome) => void;
  ready: boolean;
}

/** What a session needs from the connection that opened it. */
export interface SessionParent {
  readonly id: string;
  readonly flow: PublisherFlow;
  readonly username: string;
  readonly vhostRef: Vhost;
  readonly users: UserStore;
  /**
   * Unacked consumer deliveries this session holds at most while the client set no
   * session-wide prefetch (AMQP basic.qos global, STOMP connection): a client that asks for no
   * prefetch cannot pin an unbounded number of messages. 0 = unlimited.
   */
  readonly maxUnacked: number;
  sessionClosed(s: ChannelSession): void;
  queueDeclared(q: Queue): void;
}

const NO_ROUTE = { replyCode: 312, replyText: 'NO_ROUTE' };

let sessionCounter = 0;
/** Every consumer-less session's table (ChannelSession.consumers): nothing is ever set in it. */
const NO_CONSUMERS = new SmallMap<string, Consumer>();

export class ChannelSession implements Session, ConsumerOwner {
  /** Its number; the id is made when asked for (a string per idle device's session is 24 bytes). */
  private readonly n = ++sessionCounter;
  private nextTag = 0;
  /**
   * Created by the first delivery that waits for an ack, like `writable` by the first publish:
   * an idle MQTT device's session holds neither (two empty tables are ~300 bytes per device).
   */
  private unacked: Map<number, Unacked> | undefined;
  /**
   * Usually none or one (an MQTT device's subscription): fields until a second. The shared empty
   * one until the first consumer (a direct subscription's session has none): read, never set.
   */
  private consumers: SmallMap<string, Consumer> = NO_CONSUMERS;
  private defaultPrefetch = 0;
  private globalPrefetch = 0;
  private consumerUnacked = 0;
  private flowActive = true;
  private transportBlocked = false;
  private closed = false;
  /** Confirms waiting for an earlier one; created by the first (an MQTT device has none). */
  private pending: PendingOutcome[] | undefined;
  /** Exchanges this session may write to, checked once (permissions are per user, not per message). */
  private writable: Set<string> | undefined;
  /** Direct subscriptions, unbound when the session closes; created by the first. */
  private directs: DirectSubscription[] | undefined;

  constructor(private readonly parent: SessionParent) {}

  get id(): string {
    return `s${this.n}`;
  }

  get connectionId(): string {
    return this.parent.id;
  }

  private get vhost(): Vhost {
    return this.parent.vhostRef;
  }

  private authorize(access: 'configure' | 'write' | 'read', kind: 'queue' | 'exchange', name: string): void {
    this.parent.users.authorize(this.vhost.name, this.parent.username, access, kind, name);
  }

  get consumerCount(): number {
    return this.consumers.size;
  }

  get unackedCount(): number {
    return this.unacked?.size ?? 0;
  }

  // ---- topology ---------------------------------------------------------------------------

  async declareExchange(d: ExchangeDeclaration): Promise<void> {
    this.assertOpen();
    if (!d.passive) this.authorize('configure', 'exchange', d.name);
    const ae = d.arguments?.['alternate-exchange'];
    if (!d.passive && typeof ae === 'string') {
      // RabbitMQ: declaring an alternate exchange needs write on the AE and read on this one.
      this.authorize('write', 'exchange', ae);
      this.authorize('read', 'exchange', d.name);
    }
    await this.vhost.declareExchange(d);
  }

  async deleteExchange(name: string, opts: { ifUnused?: boolean } = {}): Promise<void> {
    this.assertOpen();
    this.authorize('configure', 'exchange', name);
    await this.vhost.deleteExchange(name, opts.ifUnused ?? false);
  }

  async declareQueue(d: QueueDeclaration): Promise<QueueDeclared> {
    this.assertOpen();
    // A server-named queue is named here, so configure permission is checked on that name
    // like on any other (RabbitMQ: 403 without configure on amq.gen-*).
    const named = !d.passive && d.name === '' ? { ...d, name: serverQueueName() } : d;
    if (!d.passive) {
      if (!d.brokerOwned && d.arguments && Object.hasOwn(d.arguments, SESSION_OWNED_ARG))
        throw preconditionFailed(
          `invalid arg '${SESSION_OWNED_ARG}': reserved for the queues of MQTT shared subscriptions`,
        );
      this.authorize('configure', 'queue', named.name);
      const dlx = d.arguments?.['x-dead-letter-exchange'];
      if (typeof dlx === 'string') {
        // RabbitMQ: dead-lettering publishes into the DLX, so declaring one needs write on it
        // (and read on the queue), checked at declare time.
        this.authorize('write', 'exchange', dlx);
        this.authorize('read', 'queue', named.name);
      }
    }
    const r = await this.vhost.declareQueue(named, this.parent.id, named !== d);
    if (d.exclusive && !d.passive) {
      const q = this.vhost.queues.get(r.queue);
      if (q) this.parent.queueDeclared(q);
    }
    return r;
  }

  async deleteQueue(name: string, opts: { ifUnused?: boolean; ifEmpty?: boolean } = {}): Promise<number> {
    this.assertOpen();
    this.authorize('configure', 'queue', name);
    return this.vhost.deleteQueue(name, opts, this.parent.id);
  }

  async purgeQueue(name: string): Promise<number> {
    this.assertOpen();
    this.authorize('read', 'queue', name);
    return this.vhost.purgeQueue(name, this.parent.id);
  }

  async bindQueue(queue: string, exchange: string, routingKey: string, args: FieldTable = {}): Promise<void> {
    await this.vhost.bind(exchange, this.queueBindingTarget(queue, exchange), routingKey, args);
  }

  async unbindQueue(
    queue: string,
    exchange: string,
    routingKey: string,
    args: FieldTable = {},
  ): Promise<void> {
    await this.vhost.unbind(exchange, this.queueBindingTarget(queue, exchange), routingKey, args);
  }

  async bindExchange(
    destination: string,
    source: string,
    routingKey: string,
    args: FieldTable = {},
  ): Promise<void> {
    await this.vhost.bind(source, this.exchangeBindingTarget(destination, source), routingKey, args);
  }

  async unbindExchange(
    destination: string,
    source: string,
    routingKey: string,
    args: FieldTable = {},
  ): Promise<void> {
    await this.vhost.unbind(source, this.exchangeBindingTarget(destination, source), routingKey, args);
  }

  /** Binding or unbinding a queue needs write on the queue and read on the exchange (as RabbitMQ). */
  private queueBindingTarget(queue: string, exchange: string) {
    this.assertOpen();
    const q = this.vhost.queue(queue, this.parent.id);
    this.authorize('write', 'queue', queue);
    this.authorize('read', 'exchange', exchange);
    return q;
  }

  /** Exchange-to-exchange: write on the destination, read on the source. */
  private exchangeBindingTarget(destination: string, source: string) {
    this.assertOpen();
    const d = this.vhost.exchange(destination);
    this.authorize('write', 'exchange', destination);
    this.authorize('read', 'exchange', source);
    return d;
  }

  // ---- publishing -------------------------------------------------------------------------

  publish(msg: Message, opts?: PublishOptions, done?: (outcome: PublishOutcome) => void): void {
    this.assertOpen();
    const x = this.publishTarget(msg);
    const ttl = parseExpiration(msg.properties.expiration);
    const r = publish(this.vhost, x, msg, ttl);
    if (r.congested) for (const q of r.congested) this.parent.flow.hold(q);
    const outcome: PublishOutcome =
      r.routed === 0 && !r.rejected && opts?.mandatory
        ? { ok: true, returned: NO_ROUTE }
        : { ok: !r.rejected };
    if (outcome.returned && this.vhost.events.observed)
      this.vhost.events.emit('returned', { vhost: this.vhost.name, message: msg });
    if (!done) {
      // No confirm to fail (the publisher asked for none): the store's failure is logged.
      r.persisted?.catch((err: unknown) =>
        this.vhost.log.warn(
          { err, vhost: this.vhost.name, exchange: x.name, routingKey: msg.routingKey },
          'a persistent message published without confirms was not stored',
        ),
      );
      return;
    }
    if (r.persisted === null && (this.pending?.length ?? 0) === 0) {
      done(outcome);
      return;
    }
    // Confirms go out in publish order: a transient message waits behind an earlier persistent one.
    const p: PendingOutcome = { outcome, done, ready: r.persisted === null };
    (this.pending ??= []).push(p);
    r.persisted?.then(
      () => this.outcomeReady(p),
      () => {
        p.outcome = { ...p.outcome, ok: false, storeFailed: true };
        this.outcomeReady(p);
      },
    );
  }

  private outcomeReady(p: PendingOutcome): void {
    p.ready = true;
    const pending = this.pending!;
    while (pending.length > 0 && pending[0]!.ready) {
      const head = pending.shift()!;
      head.done(head.outcome);
    }
  }

  private publishTarget(msg: Message): Exchange {
    const x = this.vhost.exchanges.get(msg.exchange);
    if (!x) throw notFound(`exchange '${msg.exchange}' in vhost '${this.vhost.name}'`);
    if (!this.writable?.has(msg.exchange)) {
      this.authorize('write', 'exchange', msg.exchange);
      (this.writable ??= new Set()).add(msg.exchange);
    }
    if (x.options.internal)
      throw accessRefused(`cannot publish to internal exchange '${x.name}' in vhost '${this.vhost.name}'`);
    const userId = msg.properties.userId;
    if (userId !== undefined && userId !== this.parent.username) {
      throw preconditionFailed(
        `user_id property set to '${userId}' but authenticated user was '${this.parent.username}'`,
      );
    }
    return x;
  }

  // ---- consuming --------------------------------------------------------------------------

  async consume(queue: string, opts: ConsumeOptions, sink: DeliverySink): Promise<string> {
    this.assertOpen();
    const q = this.vhost.queue(queue, this.parent.id);
    this.authorize('read', 'queue', queue);
    const tag = opts.consumerTag || `amq.ctag-${randomToken()}`;
    if (this.consumers.has(tag)) {
      throw new BrokerError('NOT_ALLOWED', `NOT_ALLOWED - attempt to reuse consumer tag '${tag}'`);
    }
    const existing = q.consumers.all();
    if (existing.some((c) => c.spec.exclusive) || (opts.exclusive && existing.length > 0)) {
      throw accessRefused(`queue '${queue}' in vhost '${this.vhost.name}' in exclusive use`);
    }
    const xPriority = opts.arguments?.['x-priority'];
    const priority = opts.priority ?? (typeof xPriority === 'number' ? xPriority : 0);
    const c = new Consumer(
      q,
      this,
      {
        tag,
        noAck: opts.noAck ?? false,
        exclusive: opts.exclusive ?? false,
        priority,
        prefetch: opts.prefetch ?? this.defaultPrefetch,
        filter: opts.filter,
        arguments: opts.arguments ?? NO_ARGUMENTS,
      },
      sink,
    );
    q.addConsumer(c);
    if (this.consumers === NO_CONSUMERS) this.consumers = new SmallMap();
    this.consumers.set(tag, c);
    // Deliveries start on the next turn, after the adapter has answered consume-ok
    // (AMQP 0-9-1: basic.consume-ok precedes the first basic.deliver).
    setImmediate(() => q.dispatch());
    return tag;
  }

  subscribeDirect(
    exchange: string,
    pattern: string,
    name: string,
    sink: DirectSink,
  ): DirectSubscription | undefined {
    this.assertOpen();
    checkName('queue', name);
    // What declaring, binding and consuming its exclusive queue would check.
    this.authorize('configure', 'queue', name);
    this.authorize('write', 'queue', name);
    this.authorize('read', 'exchange', exchange);
    this.authorize('read', 'queue', name);
    if (!this.vhost.directAllowed(name)) return undefined;
    const d = new DirectSubscription(name, exchange, pattern, sink, this.vhost.name, this.vhost.events);
    this.vhost.bindDirect(d);
    // A one-element literal: the first push onto [] reserves 17 slots.
    if (this.directs === undefined) this.directs = [d];
    else this.directs.push(d);
    return d;
  }

  unsubscribeDirect(sub: DirectSubscription): void {
    const i = this.directs?.indexOf(sub) ?? -1;
    if (i < 0) return;
    this.directs!.splice(i, 1);
    this.vhost.unbindDirect(sub);
  }

  async cancel(consumerTag: string): Promise<void> {
    const c = this.consumers.get(consumerTag);
    if (!c) return;
    this.consumers.delete(consumerTag);
    c.queue.removeConsumer(c);
  }

  async get(queue: string, opts: { noAck?: boolean } = {}): Promise<GetResult | null> {
    this.assertOpen();
    const q = this.vhost.queue(queue, this.parent.id);
    this.authorize('read', 'queue', queue);
    const noAck = opts.noAck ?? false;
    const e = await q.get(noAck);
    if (!e) return null;
    const tag = ++this.nextTag;
    const redelivered = e.deliveryCount > 0;
    e.deliveryCount++;
    if (!noAck) (this.unacked ??= new Map()).set(tag, { queue: q, entry: e, consumer: null });
    return {
      message: e.msg,
      deliveryTag: tag,
      redelivered,
      expiresAt: e.expiresAt,
      consumerTag: '',
      queue: q.name,
      exchange: e.msg.exchange,
      routingKey: e.msg.routingKey,
      messageCount: q.messageCount,
    };
  }

  // ConsumerOwner
  hasCredit(): boolean {
    return (
      !this.closed &&
      this.flowActive &&
      !this.transportBlocked &&
      (this.unackedLimit === 0 || this.consumerUnacked < this.unackedLimit)
    );
  }

  /** The session-wide ceiling on unacked consumer deliveries: the client's, else the broker's. */
  private get unackedLimit(): number {
    return this.globalPrefetch > 0 ? this.globalPrefetch : this.parent.maxUnacked;
  }

  deliver(c: Consumer, q: Queue, e: QueuedMessage): void {
    const tag = ++this.nextTag;
    const redelivered = e.deliveryCount > 0;
    e.deliveryCount++;
    if (c.spec.noAck) q.settle(e, 'ack', false);
    else {
      (this.unacked ??= new Map()).set(tag, { queue: q, entry: e, consumer: c });
      c.unacked++;
      this.consumerUnacked++;
    }
    const events = this.vhost.events;
    if (events.observed)
      events.emit('delivered', { vhost: this.vhost.name, queue: q.name, message: e.msg, consumerTag: c.tag });
    const more = c.sink.deliver({
      message: e.msg,
      deliveryTag: tag,
      redelivered,
      expiresAt: e.expiresAt,
      consumerTag: c.tag,
      queue: q.name,
      exchange: e.msg.exchange,
      routingKey: e.msg.routingKey,
    });
    if (!more) this.transportBlocked = true;
  }

  consumerCancelled(c: Consumer, reason: BrokerError): void {
    if (this.consumers.get(c.tag) !== c) return;
    this.consumers.delete(c.tag);
    c.sink.cancelled(reason);
  }

  // ---- settling ---------------------------------------------------------------------------

  settle(deliveryTag: number, outcome: SettleOutcome, multiple = false): void {
    this.assertOpen();
    // RabbitMQ: a tag this session never handed out is unknown, multiple or not (a
    // multiple ack above the last tag must not settle everything silently).
    if (deliveryTag > this.nextTag) throw preconditionFailed(`unknown delivery tag ${deliveryTag}`);
    const wasFull = this.unackedLimit > 0 && this.consumerUnacked >= this.unackedLimit;
    const unacked = (this.unacked ??= new Map());
    if (!multiple) {
      const u = unacked.get(deliveryTag);
      if (!u) throw preconditionFailed(`unknown delivery tag ${deliveryTag}`);
      unacked.delete(deliveryTag);
      this.apply(u, outcome);
      // One message, one queue (every MQTT PUBACK, STOMP ACK): no set unless all queues are due.
      if (this.globalPrefetch > 0 || wasFull) this.redispatch(new Set([u.queue]), wasFull);
      else u.queue.dispatch();
      return;
    }
    // Tags increase and the map keeps insertion order: walk from the oldest up to the tag.
    // AMQP 0-9-1 basic.ack: multiple with tag 0 means "everything outstanding".
    const touched = new Set<Queue>();
    for (const [tag, u] of unacked) {
      if (deliveryTag !== 0 && tag > deliveryTag) break;
      unacked.delete(tag);
      this.apply(u, outcome);
      touched.add(u.queue);
    }
    this.redispatch(touched, wasFull);
  }

  private apply(u: Unacked, outcome: SettleOutcome): void {
    if (u.consumer) {
      u.consumer.unacked--;
      this.consumerUnacked--;
    }
    u.queue.settle(u.entry, outcome, true);
  }

  /**
   * Freed credit or requeued messages: let the affected queues deliver, and all of ours when a
   * session-wide limit applies (the client's prefetch, or the broker's ceiling once it was reached).
   */
  private redispatch(touched: Set<Queue>, wasFull = false): void {
    if (this.globalPrefetch > 0 || wasFull) for (const c of this.consumers.values()) touched.add(c.queue);
    for (const q of touched) q.dispatch();
  }

  recover(_requeue: boolean): void {
    this.assertOpen();
    // Both forms requeue: the messages come back flagged redelivered, to whichever
    // consumer is next (RabbitMQ implements basic.recover the same way).
    this.settle(0, 'requeue', true);
  }

  qos(prefetchCount: number, global: boolean): void {
    if (global) this.globalPrefetch = prefetchCount;
    else this.defaultPrefetch = prefetchCount;
    this.redispatch(new Set());
  }

  flow(active: boolean): void {
    this.flowActive = active;
    if (active) this.redispatch(new Set([...this.consumers.values()].map((c) => c.queue)));
  }

  resume(): void {
    if (!this.transportBlocked) return;
    this.transportBlocked = false;
    this.redispatch(new Set([...this.consumers.values()].map((c) => c.queue)));
  }

  beginTransaction(): Transaction {
    const ops: (() => void)[] = [];
    const outcomes: Promise<PublishOutcome>[] = [];
    return {
      publish: (msg, opts) => {
        this.assertOpen();
        // Check what can be checked now, so a bad publish fails at once rather than at commit.
        this.publishTarget(msg);
        parseExpiration(msg.properties.expiration);
        ops.push(() => outcomes.push(new Promise((resolve) => this.publish(msg, opts, resolve))));
      },
      settle: (tag, outcome, multiple = false) => {
        this.assertOpen();
        if (tag > this.nextTag || (!multiple && !this.unacked?.has(tag)))
          throw preconditionFailed(`unknown delivery tag ${tag}`);
        ops.push(() => this.settle(tag, outcome, multiple));
      },
      commit: async () => {
        const run = ops.splice(0);
        outcomes.length = 0;
        for (const op of run) op();
        return Promise.all(outcomes);
      },
      rollback: () => {
        ops.length = 0;
      },
    };
  }

  // ---- lifecycle --------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.directs ?? []) this.vhost.unbindDirect(d);
    this.directs = undefined;
    for (const c of this.consumers.values()) c.queue.removeConsumer(c);
    this.consumers.clear();
    const touched = new Set<Queue>();
    // Requeue in delivery order so each message returns to its original place.
    for (const u of this.unacked?.values() ?? []) {
      if (u.consumer) u.consumer.unacked--;
      u.queue.settle(u.entry, 'requeue', true);
      touched.add(u.queue);
    }
    this.unacked?.clear();
    this.consumerUnacked = 0;
    for (const q of touched) q.dispatch();
    this.parent.sessionClosed(this);
  }

  private assertOpen(): void {
    if (this.closed) throw new BrokerError('CHANNEL_ERROR', 'CHANNEL_ERROR - session is closed');
  }
}

/** AMQP expiration: a decimal string of milliseconds >= 0. */
export function parseExpiration(expiration: string | undefined): number | undefined {
  if (expiration === undefined) return undefined;
  if (!/^\d{1,15}$/.test(expiration)) throw preconditionFailed(`invalid expiration '${expiration}'`);
  return Number(expiration);
}
