/**
 * A virtual host: the namespace that owns exchanges, queues, bindings and policies, and
 * the place where a publish is routed into queues. Permission checks happen in the
 * session, before anything here is called.
 */
import type { Logger } from 'pino';
import { BrokerError, accessRefused, notFound, preconditionFailed, resourceLocked } from './errors.js';
import type { BrokerEvents, DeathReason } from './events.js';
import type { Binding, BoundDestination, Destination, IndexEntry } from './exchanges/exchange-type.js';
import { Exchange, bindingId } from './exchanges/exchange.js';
import { invalidExchangeType } from './exchanges/invalid.js';
import type { ExchangeTypeRegistry } from './exchanges/registry.js';
import { route } from './exchanges/route.js';
import type { DirectSubscription } from './direct-subscription.js';
import { deliverTo, type PublishScope } from './publish.js';
import { isRemoteQueue } from './cluster/remote-queue.js';
import { NO_ARGUMENTS, type FieldTable } from './message.js';
import { checkName } from './names.js';
import { randomToken } from './random-token.js';
import { Limits, VHOST_LIMITS, type VhostLimitName } from './limits.js';
import { PolicySet, type Policy } from './policies.js';
import { deadLetteredMessage, isDeathCycle } from './queues/dead-letter.js';
import type { Queue, QueueContext, QueueOptions } from './queues/queue-type.js';
import type { QueueTypeRegistry } from './queues/registry.js';
import { ClientSessions, RetainedMessages } from './retained.js';
import type { QueuedMessage } from './queues/queued-message.js';
import { SESSION_OWNED_ARG, equivalenceArgs } from './queues/queue-settings.js';
import type { ExchangeDeclaration, QueueDeclaration, QueueDeclared, StoredWill } from './session.js';
import type {
  BindingDefinition,
  DefinitionChange,
  EnqueueRecord,
  QueueDefinition,
  Store,
} from './storage/store.js';
import type { QueueHosting } from './queues/queue-hosting.js';

/** What a vhost needs from its broker. */
export interface VhostContext {
  readonly store: Store;
  readonly events: BrokerEvents;
  readonly exchangeTypes: ExchangeTypeRegistry;
  readonly queueTypes: QueueTypeRegistry;
  readonly log: Logger;
  /** Deep-queue paging window (messages, body bytes); null: queues keep every body in memory. */
  readonly paging: { readonly maxMessages: number; readonly maxBytes: number } | null;
  nextMessageId(): number;
  /** No message id handed out so far, nor any in the store, is above it. */
  lastMessageId(): number;
  /** Publishes a client's stored will in this vhost as the will's user. */
  publishWill(vhost: string, clientId: string, will: StoredWill): Promise<void>;
  /** Cluster mode: which node serves each stored queue (queue-hosting.ts); absent on a single node. */
  readonly queueHosting?: QueueHosting | undefined;
}

const builtinExchanges: [string, string][] = [
  ['', 'direct'],
  ['amq.direct', 'direct'],
  ['amq.fanout', 'fanout'],
  ['amq.topic', 'topic'],
  ['amq.headers', 'headers'],
  ['amq.match', 'headers'],
];

export class Vhost implements QueueContext, PublishScope {
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  readonly policies = new PolicySet();
  /** RabbitMQ's vhost limits (max-connections, max-queues); the broker stores them with the vhost. */
  readonly limits = new Limits<VhostLimitName>(VHOST_LIMITS, 'vhost');
  /** Bindings by destination, to unbind a deleted queue or exchange everywhere. */
  private readonly bindingsTo = new Map<Destination, Set<Binding>>();
  /** Retained messages by routing key (MQTT retain), matched against new subscriptions. */
  readonly retained: RetainedMessages;
  /** Persistent client sessions (MQTT clean-session=0) by client id. */
  readonly clientSessions: ClientSessions;

  constructor(
    readonly name: string,
    private readonly ctx: VhostContext,
  ) {
    this.retained = new RetainedMessages(name, ctx);
    this.clientSessions = new ClientSessions(
      name,
      ctx,
      async (names) => {
        for (const n of names) {
          const q = this.queues.get(n);
          // A queue someone still consumes from (a shared subscription's, through a member whose
          // session is not stored) outlives this session.
          if (q && q.consumerCount === 0) await this.removeQueue(q);
        }
      },
      (clientId, will) => ctx.publishWill(name, clientId, will),
    );
    for (const [n, type] of builtinExchanges) {
      const x = new Exchange(name, n, ctx.exchangeTypes.get(type), {
        durable: true,
        autoDelete: false,
        internal: false,
        arguments: {},
      });
      this.exchanges.set(n, x);
    }
  }

  /** The broker's logger, for failures no caller can be told about. */
  get log(): Logger {
    return this.ctx.log;
  }

  get events(): BrokerEvents {
    return this.ctx.events;
  }

  // QueueContext: what queues of every type are lent.
  get vhost(): string {
    return this.name;
  }

  get store(): Store {
    return this.ctx.store;
  }

  get paging(): VhostContext['paging'] {
    return this.ctx.paging;
  }

  nextMessageId(): number {
    return this.ctx.nextMessageId();
  }

  // ---- exchanges ----------------------------------------------------------------------

  exchange(name: string): Exchange {
    const x = this.exchanges.get(name);
    if (!x) throw notFound(`exchange '${name}' in vhost '${this.name}'`);
    return x;
  }

  async declareExchange(d: ExchangeDeclaration): Promise<void> {
    const existing = this.exchanges.get(d.name);
    if (d.passive) {
      if (!existing) throw notFound(`exchange '${d.name}' in vhost '${this.name}'`);
      return;
    }
    if (d.name === '' || (d.name.startsWith('amq.') && !existing)) {
      throw accessRefused(`exchange name '${d.name}' contains reserved prefix 'amq.*'`);
    }
    checkName('exchange', d.name);
    const args = d.arguments ?? {};
    if (existing) {
      this.checkEquivalent('exchange', d.name, [
        ['type', d.type, existing.type.name],
        ['durable', d.durable ?? false, existing.options.durable],
        ['auto_delete', d.autoDelete ?? false, existing.options.autoDelete],
        ['internal', d.internal ?? false, existing.options.internal],
        ['alternate-exchange', args['alternate-exchange'], existing.options.arguments['alternate-exchange']],
      ]);
      return;
    }
    const type = this.ctx.exchangeTypes.get(d.type);
    const x = new Exchange(this.name, d.name, type, {
      durable: d.durable ?? false,
      autoDelete: d.autoDelete ?? false,
      internal: d.internal ?? false,
      arguments: args,
    });
    this.applyExchangePolicy(x);
    this.exchanges.set(d.name, x);
    if (x.durable) {
      try {
        await this.persist([{ op: 'put', kind: 'exchange', value: this.exchangeDefinition(x) }]);
      } catch (err) {
        // Memory follows the store: an exchange that was not stored does not exist.
        if (this.exchanges.get(d.name) === x && x.bindings.size === 0) this.exchanges.delete(d.name);
        throw err;
      }
    }
    if (this.events.observed) this.events.emit('exchangeDeclared', { vhost: this.name, exchange: d.name });
  }

  /** Recovery: an exchange from the store, even if its type is gone. */
  restoreExchange(name: string, typeName: string, options: Exchange['options']): void {
    const type = this.ctx.exchangeTypes.has(typeName)
      ? this.ctx.exchangeTypes.get(typeName)
      : invalidExchangeType(typeName);
    const x = new Exchange(this.name, name, type, options);
    this.applyExchangePolicy(x);
    this.exchanges.set(name, x);
  }

  async deleteExchange(name: string, ifUnused: boolean): Promise<void> {
    if (name === '' || builtinExchanges.some(([n]) => n === name)) {
      throw accessRefused(`operation not permitted on exchange '${name || 'amq.default'}'`);
    }
    const x = this.exchanges.get(name);
    // RabbitMQ: deleting an exchange that does not exist succeeds (idempotent delete).
    if (!x) return;
    if (ifUnused && x.bindings.size > 0)
      throw preconditionFailed(`exchange '${name}' in vhost '${this.name}' in use`);
    await this.removeExchange(x);
  }

  isBuiltinExchange(name: string): boolean {
    return builtinExchanges.some(([n]) => n === name);
  }

  /** Another node deleted it: memory only (definitions-mirror.ts). */
  async forgetExchange(name: string): Promise<void> {
    const x = this.exchanges.get(name);
    if (x && !this.isBuiltinExchange(name)) await this.removeExchange(x, { alreadyStored: true });
  }

  private async removeExchange(x: Exchange, opts: { alreadyStored?: boolean } = {}): Promise<void> {
    this.exchanges.delete(x.name);
    const changes: DefinitionChange[] = [];
    for (const b of [...x.bindings.values()]) this.dropBinding(x, b, changes);
    for (const b of [...(this.bindingsTo.get(x) ?? [])]) {
      const source = this.exchanges.get(b.source);
      if (source) this.dropBinding(source, b, changes);
    }
    this.bindingsTo.delete(x);
    if (x.durable) changes.push({ op: 'delete', kind: 'exchange', key: { vhost: this.name, name: x.name } });
    if (!opts.alreadyStored) await this.persist(changes);
    if (this.events.observed) this.events.emit('exchangeDeleted', { vhost: this.name, exchange: x.name });
  }

  // ---- queues ---------------------------------------------------------------------------

  queue(name: string, connectionId?: string): Queue {
    const q = this.queues.get(name);
    if (!q) throw notFound(`queue '${name}' in vhost '${this.name}'`);
    if (connectionId !== undefined) this.checkExclusive(q, connectionId);
    return q;
  }

  private checkExclusive(q: Queue, connectionId: string): void {
    const owner = q.options.exclusiveOwner;
    if (owner !== null && owner !== connectionId) {
      throw resourceLocked(
        `cannot obtain exclusive access to locked queue '${q.name}' in vhost '${this.name}'`,
      );
    }
  }

  /** @param serverNamed the name came from serverQueueName() (so it may start with amq.) */
  async declareQueue(d: QueueDeclaration, connectionId: string, serverNamed = false): Promise<QueueDeclared> {
    const existing = this.queues.get(d.name);
    if (d.passive) {
      if (!existing) throw notFound(`queue '${d.name}' in vhost '${this.name}'`);
      this.checkExclusive(existing, connectionId);
      existing.touch();
      return {
        queue: existing.name,
        messageCount: existing.messageCount,
        consumerCount: existing.consumerCount,
      };
    }
    checkName('queue', d.name);
    const args = d.arguments ?? NO_ARGUMENTS;
    if (existing) {
      this.checkExclusive(existing, connectionId);
      this.checkEquivalent('queue', d.name, [
        ['durable', d.durable ?? false, existing.options.durable],
        ['exclusive', d.exclusive ?? false, existing.options.exclusiveOwner !== null],
        ['auto_delete', d.autoDelete ?? false, existing.options.autoDelete],
        ...equivalenceArgs.map((k): [string, unknown, unknown] => [
          k,
          args[k],
          existing.options.arguments[k],
        ]),
      ]);
      existing.touch();
      return {
        queue: existing.name,
        messageCount: existing.messageCount,
        consumerCount: existing.consumerCount,
      };
    }
    const name = d.name === '' ? serverQueueName() : d.name;
    if (d.name.startsWith('amq.') && !serverNamed)
      throw accessRefused(`queue name '${d.name}' contains reserved prefix 'amq.*'`);
    const maxQueues = this.limits.get('max-queues');
    if (maxQueues !== undefined && this.queues.size >= maxQueues) {
      throw preconditionFailed(
        `cannot declare queue '${name}': queue limit in virtual host '${this.name}' (${maxQueues}) is reached`,
      );
    }
    const options: QueueOptions = {
      durable: d.durable ?? false,
      autoDelete: d.autoDelete ?? false,
      exclusiveOwner: d.exclusive ? connectionId : null,
      arguments: args,
    };
    // A cluster places a stored queue (and takes its lease when it lands here) before it exists.
    const hosting = this.ctx.queueHosting;
    if (hosting && isStored(options)) {
      await hosting.place(this.name, name);
      const raced = this.queues.get(name);
      if (raced) return { queue: name, messageCount: raced.messageCount, consumerCount: raced.consumerCount };
    }
    const q = this.createQueue(name, options, false);
    try {
      await q.open();
      // An exclusive queue dies with its connection, so it is never stored, durable or not.
      if (q.stored) await this.persist([{ op: 'put', kind: 'queue', value: this.queueDefinition(q) }]);
    } catch (err) {
      // Memory follows the store: a queue that was not stored does not exist (and takes
      // nothing that was published into it meanwhile: those publishes failed too).
      if (this.queues.get(name) === q) {
        this.queues.delete(name);
        q.destroy();
        for (const b of [...(this.bindingsTo.get(q) ?? [])])
          this.exchanges.get(b.source)?.removeBinding(b.id);
        this.bindingsTo.delete(q);
      }
      throw err;
    }
    if (this.events.observed) this.events.emit('queueDeclared', { vhost: this.name, queue: name });
    return { queue: name, messageCount: 0, consumerCount: 0 };
  }

  /**
   * Cluster: puts `q` where the queue of its name is (a local queue whose ownership moved to
   * another node, replaced by a RemoteQueue, or the other way round). Bindings and consumers
   * move to `q`; a consumer `q` refuses is cancelled; publishes a RemoteQueue held for want of
   * an owner are published into `q` (their confirms follow its commit), so `q` must have
   * recovered its stored entries first (else it would read them back from the store a second
   * time: buildQueue, open or recover, then replaceQueue). The old queue is
   * destroyed in memory only: its stored entries are the owner's, and deliveries still
   * unacked from it settle there as no-ops (a destroyed queue writes no more marks; the owner
   * redelivers them).
   */
  replaceQueue(q: Queue): void {
    const old = this.queues.get(q.name);
    this.queues.set(q.name, q);
    if (!old || old === q) return;
    const held = isRemoteQueue(old) ? old.takeHeld() : [];
    const consumers = [...old.consumers.all()];
    old.destroy();
    const bindings = this.bindingsTo.get(old);
    this.bindingsTo.delete(old);
    if (bindings) {
      const moved = new Set<Binding>();
      for (const b of bindings) {
        const x = this.exchanges.get(b.source);
        if (!x) continue;
        x.removeBinding(b.id);
        const nb: Binding = { ...b, destination: q };
        x.addBinding(nb);
        moved.add(nb);
      }
      this.bindingsTo.set(q, moved);
    }
    for (const c of consumers) {
      c.queue = q;
      try {
        q.addConsumer(c);
      } catch (err) {
        const reason =
          err instanceof BrokerError
            ? err
            : new BrokerError('INTERNAL_ERROR', `INTERNAL_ERROR - ${String(err)}`);
        c.owner.consumerCancelled(c, reason);
      }
    }
    for (const h of held) {
      const r = deliverTo(this, [q], h.msg, h.ttl);
      if (r.rejected) h.reject(new Error(`queue '${q.name}' in vhost '${this.name}' refused the message`));
      else if (r.persisted) r.persisted.then(h.resolve, h.reject);
      else h.resolve();
    }
    q.dispatch();
  }

  /** Recovery: a durable queue from the store (its entries follow through recover()). */
  restoreQueue(name: string, autoDelete: boolean, args: FieldTable): Queue {
    return this.createQueue(name, { durable: true, autoDelete, exclusiveOwner: null, arguments: args }, true);
  }

  /**
   * A queue of the type its arguments name (406 for an unknown one), registered at once; in a
   * cluster a stored queue another node serves is its stand-in instead (queue-hosting.ts).
   */
  private createQueue(name: string, options: QueueOptions, recovering: boolean): Queue {
    const q = this.buildQueue(name, options, recovering);
    this.queues.set(name, q);
    return q;
  }

  /**
   * Another node stored this queue (definitions-mirror.ts): its stand-in here, or, when this
   * node serves it, the queue with its stored entries (paged: a deep queue loads its head).
   */
  async adoptStoredQueue(def: QueueDefinition): Promise<Queue> {
    const q = this.restoreQueue(def.name, def.autoDelete, def.arguments);
    await this.loadStored(q);
    return q;
  }

  /**
   * This node starts or stops serving a stored queue (cluster ownership): the queue object is
   * replaced by a fresh one made by the hosting's current answer (the queue itself, loaded
   * from the store, or a stand-in), keeping its bindings and consumers (replaceQueue: a
   * stand-in refuses them, so they are cancelled). The old one's messages are dropped from
   * memory only: the store keeps them for the next owner.
   */
  async rehost(name: string): Promise<Queue | undefined> {
    const old = this.queues.get(name);
    if (!old?.stored) return undefined;
    const fresh = this.buildQueue(name, old.options, true);
    // Recovered before it takes the old one's place: replaceQueue publishes held messages
    // into it, which a later recovery would read back from the store a second time.
    await this.loadStored(fresh);
    if (this.queues.get(name) !== old) {
      fresh.destroy();
      return this.queues.get(name);
    }
    this.replaceQueue(fresh);
    return fresh;
  }

  /** A freshly made stored queue takes its entries from the store (nothing for a stand-in). */
  private async loadStored(q: Queue): Promise<void> {
    const ref = { vhost: this.name, queue: q.name };
    const store = this.ctx.store;
    await q.recover({
      records: storedPages(store, ref),
      count: () => store.countEntries(ref),
      maxMessageId: this.ctx.lastMessageId(),
    });
  }

  /**
   * A queue of the type its arguments name (406 for an unknown one), not registered: a node
   * that takes a queue over builds it, recovers it from the store, then replaceQueue()s it.
   * In a cluster, a stored queue another node serves is built as its stand-in (queue-hosting.ts).
   */
  buildQueue(name: string, options: QueueOptions, recovering: boolean): Queue {
    const policy = this.policies.match('queues', name)?.definition;
    const type = this.ctx.queueTypes.forArguments(options.arguments, policy);
    const standIn = isStored(options) ? this.ctx.queueHosting?.standIn(this, name, options, type) : undefined;
    return standIn ?? type.create({ context: this, name, options, policy, recovering });
  }

  /**
   * Recovery, once the stored sessions are known: a queue that only consumers and stored
   * sessions keep (`x-session-owned`, an MQTT shared subscription's group queue) is removed when
   * no stored session lists it. No connection consumes yet, so nothing would ever remove it: its
   * last members were clean ones connected when the broker stopped.
   */
  async dropUnlistedSessionQueues(): Promise<void> {
    const unlisted = [...this.queues.values()].filter(
      (q) => q.options.arguments[SESSION_OWNED_ARG] === true && !this.clientSessions.listed(q.name),
    );
    for (const q of unlisted) {
      await this.removeQueue(q);
      this.ctx.log.info({ vhost: this.name, queue: q.name }, 'session queue no session lists removed');
    }
  }

  async deleteQueue(
    name: string,
    opts: { ifUnused?: boolean; ifEmpty?: boolean },
    connectionId: string | null,
  ): Promise<number> {
    const q = this.queues.get(name);
    // RabbitMQ: deleting a queue that does not exist succeeds with a count of 0.
    if (!q) return 0;
    if (connectionId !== null) this.checkExclusive(q, connectionId);
    if (opts.ifUnused && q.consumerCount > 0)
      throw preconditionFailed(`queue '${name}' in vhost '${this.name}' in use`);
    if (opts.ifEmpty && q.messageCount > 0)
      throw preconditionFailed(`queue '${name}' in vhost '${this.name}' is not empty`);
    return this.removeQueue(q);
  }

  /** `alreadyStored`: another node deleted it, and the store with it; memory only. */
  async removeQueue(q: Queue, opts: { alreadyStored?: boolean } = {}): Promise<number> {
    if (this.queues.get(q.name) !== q) return 0;
    this.queues.delete(q.name);
    const consumers = [...q.consumers.all()];
    const count = q.destroy();
    const changes: DefinitionChange[] = [];
    for (const b of [...(this.bindingsTo.get(q) ?? [])]) {
      const source = this.exchanges.get(b.source);
      if (source) this.dropBinding(source, b, changes);
    }
    this.bindingsTo.delete(q);
    // Built only for consumers to cancel: a device's queue ends after its consumer has gone,
    // and an error (its stack trace) per disconnect was 2% of a fleet's teardown.
    let gone: BrokerError | undefined;
    for (const c of consumers) {
      gone ??= new BrokerError(
        'NOT_FOUND',
        `NOT_FOUND - queue '${q.name}' in vhost '${this.name}' was deleted`,
      );
      c.owner.consumerCancelled(c, gone);
    }
    if (opts.alreadyStored) {
      this.ctx.queueHosting?.removed(this.name, q.name);
    } else {
      if (q.stored) {
        changes.push({ op: 'delete', kind: 'queue', key: { vhost: this.name, name: q.name } });
        await q.dropStored();
        this.ctx.queueHosting?.removed(this.name, q.name);
      }
      await this.persist(changes);
    }
    if (this.events.observed) this.events.emit('queueDeleted', { vhost: this.name, queue: q.name });
    return count;
  }

  purgeQueue(name: string, connectionId: string): number {
    return this.queue(name, connectionId).purge();
  }

  // ---- bindings -------------------------------------------------------------------------

  /** The exchange a binding is made in: never the default one, which binds every queue itself. */
  private bindingSource(source: string): Exchange {
    if (source === '') throw accessRefused(`operation not permitted on the default exchange`);
    return this.exchange(source);
  }

  /** `alreadyStored`: another node stored it (definitions-mirror.ts); memory only. */
  async bind(
    source: string,
    destination: BoundDestination,
    routingKey: string,
    args: FieldTable,
    opts: { alreadyStored?: boolean } = {},
  ): Promise<void> {
    const x = this.bindingSource(source);
    checkName('routing key', routingKey);
    x.type.validateBinding(routingKey, args);
    const b: Binding = {
      source,
      destination,
      routingKey,
      args,
      id: bindingId(destination, routingKey, args),
    };
    if (!x.addBinding(b)) return;
    let set = this.bindingsTo.get(destination);
    if (!set) this.bindingsTo.set(destination, (set = new Set()));
    set.add(b);
    const destDurable =
      destination.kind === 'queue' ? (destination as Queue).stored : (destination as Exchange).durable;
    if (x.durable && destDurable && !opts.alreadyStored) {
      try {
        await this.persist([{ op: 'put', kind: 'binding', value: this.bindingDefinition(b) }]);
      } catch (err) {
        // Memory follows the store: a binding that was not stored does not route.
        if (x.bindings.get(b.id) === b) {
          x.removeBinding(b.id);
          set.delete(b);
        }
        throw err;
      }
    }
  }

  async unbind(
    source: string,
    destination: Destination,
    routingKey: string,
    args: FieldTable,
  ): Promise<void> {
    const x = this.bindingSource(source);
    const b = x.bindings.get(bindingId(destination, routingKey, args));
    if (!b) return;
    const changes: DefinitionChange[] = [];
    this.dropBinding(x, b, changes);
    await this.persist(changes);
  }

  /** Another node deleted a binding: memory only (definitions-mirror.ts). */
  forgetBinding(d: BindingDefinition): void {
    const x = this.exchanges.get(d.source);
    const dest =
      d.destinationType === 'queue' ? this.queues.get(d.destination) : this.exchanges.get(d.destination);
    const b = x && dest ? x.bindings.get(bindingId(dest, d.routingKey, d.arguments)) : undefined;
    if (x && b) this.dropBinding(x, b, []);
  }

  /** The bindings the store holds: a durable source and a stored destination. */
  storedBindings(): Binding[] {
    return this.bindings().filter((b) => {
      const d = b.destination;
      return (
        this.exchanges.get(b.source)?.durable &&
        (d.kind === 'queue' ? (d as Queue).stored : (d as Exchange).durable)
      );
    });
  }

  private dropBinding(x: Exchange, b: Binding, changes: DefinitionChange[]): void {
    x.removeBinding(b.id);
    this.bindingsTo.get(b.destination)?.delete(b);
    if (x.durable) changes.push({ op: 'delete', kind: 'binding', key: this.bindingDefinition(b) });
    // AMQP 0-9-1 exchange.declare auto-delete: deleted when its last binding goes.
    if (x.options.autoDelete && x.bindings.size === 0 && this.exchanges.get(x.name) === x) {
      void this.removeExchange(x).catch((err: unknown) =>
        this.ctx.log.error({ err }, 'auto-delete of exchange failed'),
      );
    }
  }

  bindings(): Binding[] {
    const out: Binding[] = [];
    for (const x of this.exchanges.values()) out.push(...x.bindings.values());
    return out;
  }

  // ---- direct subscriptions ------------------------------------------------------------

  /**
   * Binds a direct subscription (no queue: direct-subscription.ts) in an exchange's index. It is
   * no binding record: not listed, not stored, gone with its connection.
   */
  bindDirect(d: DirectSubscription): void {
    const x = this.bindingSource(d.exchange);
    checkName('routing key', d.pattern);
    x.type.validateBinding(d.pattern, NO_ARGUMENTS);
    x.index.add(directBinding(d));
  }

  unbindDirect(d: DirectSubscription): void {
    d.close();
    // An exchange deleted meanwhile took its index, and the binding, with it.
    const x = this.exchanges.get(d.exchange);
    if (x) x.index.remove(directBinding(d));
  }

  /**
   * Whether a subscription named `name` can be direct instead of a queue: not when a queue
   * policy would apply to that name or the vhost limits its queues (both work on queues).
   */
  directAllowed(name: string): boolean {
    return this.limits.get('max-queues') === undefined && this.policies.match('queues', name) === undefined;
  }

  // ---- QueueContext ---------------------------------------------------------------------

  deadLetter(
    queue: Queue,
    entries: readonly QueuedMessage[],
    reason: DeathReason,
    dlx: string | undefined,
    dlrk: string | undefined,
  ): void {
    const x = dlx === undefined ? undefined : this.exchanges.get(dlx);
    const now = Date.now();
    for (const e of entries) {
      if (this.events.observed)
        this.events.emit('deadLettered', { vhost: this.name, queue: queue.name, message: e.msg, reason });
      if (!x || dlx === undefined) continue;
      const msg = deadLetteredMessage(e.msg, queue.name, reason, dlx, dlrk, now);
      const targets = route(this, x, msg).filter((q) => !isDeathCycle(msg, q.name));
      if (targets.length === 0) continue;
      const r = deliverTo(this, targets, msg, undefined);
      r.persisted?.catch((err: unknown) =>
        this.ctx.log.error({ err }, 'storing a dead-lettered message failed'),
      );
    }
  }

  unused(queue: Queue): void {
    void this.removeQueue(queue).catch((err: unknown) =>
      this.ctx.log.error({ err }, 'auto-delete of queue failed'),
    );
  }

  // ---- policies -------------------------------------------------------------------------

  async setPolicy(p: Policy): Promise<void> {
    this.policies.put(p);
    this.reapplyPolicies();
    await this.persist([{ op: 'put', kind: 'policy', value: { vhost: this.name, ...p } }]);
  }

  async deletePolicy(name: string): Promise<boolean> {
    const had = this.policies.delete(name);
    this.reapplyPolicies();
    if (had) await this.persist([{ op: 'delete', kind: 'policy', key: { vhost: this.name, name } }]);
    return had;
  }

  reapplyPolicies(): void {
    for (const q of this.queues.values()) {
      try {
        q.applyPolicy(this.policies.match('queues', q.name)?.definition);
      } catch (err) {
        this.ctx.log.warn({ err, queue: q.name }, 'policy not applied');
      }
    }
    for (const x of this.exchanges.values()) this.applyExchangePolicy(x);
  }

  private applyExchangePolicy(x: Exchange): void {
    const own = x.options.arguments['alternate-exchange'];
    const policyAe = this.policies.match('exchanges', x.name)?.definition['alternate-exchange'];
    x.alternateExchange = typeof own === 'string' ? own : typeof policyAe === 'string' ? policyAe : undefined;
  }

  // ---- definitions ----------------------------------------------------------------------

  exchangeDefinition(x: Exchange) {
    return {
      vhost: this.name,
      name: x.name,
      type: x.type.name,
      durable: x.options.durable,
      autoDelete: x.options.autoDelete,
      internal: x.options.internal,
      arguments: x.options.arguments,
    };
  }

  queueDefinition(q: Queue) {
    return {
      vhost: this.name,
      name: q.name,
      durable: q.options.durable,
      autoDelete: q.options.autoDelete,
      arguments: q.options.arguments,
    };
  }

  bindingDefinition(b: Binding) {
    return {
      vhost: this.name,
      source: b.source,
      destination: b.destination.name,
      destinationType: b.destination.kind,
      routingKey: b.routingKey,
      arguments: b.args,
    };
  }

  private async persist(changes: DefinitionChange[]): Promise<void> {
    if (changes.length && this.ctx.store.capabilities.durable) await this.ctx.store.writeDefinitions(changes);
  }

  private checkEquivalent(kind: string, name: string, pairs: [string, unknown, unknown][]): void {
    for (const [field, received, current] of pairs) {
      if (!same(received, current)) {
        throw preconditionFailed(
          `inequivalent arg '${field}' for ${kind} '${name}' in vhost '${this.name}': received ${show(received)} but current is ${show(current)}`,
        );
      }
    }
  }
}

/** Kept in the store: durable and not exclusive (as Queue.stored). */
function isStored(o: QueueOptions): boolean {
  return o.durable && o.exclusiveOwner === null;
}

/** A queue's stored entries, read a page at a time as the queue asks for them. */
async function* storedPages(
  store: Store,
  ref: { vhost: string; queue: string },
): AsyncIterable<EnqueueRecord> {
  let after = 0;
  for (;;) {
    const page = await store.readEntries(ref, after, STORED_PAGE);
    for (const r of page) yield r;
    if (page.length < STORED_PAGE) return;
    after = page[page.length - 1]!.messageId;
  }
}

const STORED_PAGE = 500;

/** A name for a queue declared with an empty name (AMQP server-named queues). */
export function serverQueueName(): string {
  return `amq.gen-${randomToken()}`;
}

/** A direct subscription as its exchange's index takes it (indexes keep only key, id and destination). */
function directBinding(d: DirectSubscription): IndexEntry {
  return { destination: d, routingKey: d.pattern, args: NO_ARGUMENTS, id: d.id };
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint'))
    return BigInt(a) === BigInt(b);
  return JSON.stringify(a) === JSON.stringify(b);
}

function show(v: unknown): string {
  return v === undefined ? 'none' : `'${String(v)}'`;
}
