/**
 * An MQTT client's subscriptions as core queues, and its outbound QoS 1/2 flows.
 *
 * A subscription of a session that outlives its connection (3.1.1 clean session 0, MQTT 5
 * Session Expiry Interval above 0) is a durable queue bound to `amq.topic` with the filter as
 * binding key, where QoS 1/2 messages wait while the device is offline; queues are named after
 * the client id and the filter, so a persistent session finds its queues again. Messages come
 * back through a consumer per subscription; a PUBACK (or PUBREC) settles the core delivery.
 * A shared subscription consumes from its group's queue. A subscription of a session that
 * ends with its connection is a direct subscription (the core's direct-subscription.ts: bound
 * in `amq.topic` straight to this connection, no queue, consumer or binding per device),
 * unless a queue policy or limit of the vhost would apply to its queue: then it is an
 * exclusive auto-delete queue as before.
 */
import { createHash } from 'node:crypto';
import {
  BrokerError,
  SmallMap,
  type ClientSessionState,
  type StoredWill,
  type Connection,
  type Delivery,
  type DeliverySink,
  type DirectSink,
  type DirectSubscription,
  type Message,
  type Session,
  type SubscriptionSnapshot,
} from '@junction/core';
import { ackPacket, suback, unsuback5, type SubscriptionRequest } from './codec.js';
import type { MqttConfig } from './config.js';
import type { MqttConnection } from './connection.js';
import { QOS_HEADER, retainedExpiresAt, wasRetained } from './message-properties.js';
import { encodeProperties, type Properties } from './properties.js';
import { MalformedPacket, Reason, reasonFor, subackCode } from './reason-codes.js';
import {
  GROUP_QUEUE_ARGUMENTS,
  GROUP_QUEUE_PREFIX,
  groupQueueName,
  isSharedFilter,
  parseSharedFilter,
  type SharedFilter,
} from './shared-subscriptions.js';
import { filterProblem, filterToPattern, keyToTopic, skipsDollarTopics } from './topics.js';

/** MQTT 5 subscription options (3.8.3.1) and identifier (3.8.2.1.2); 3.1.1 gets the defaults. */
export interface SubscriptionOptions {
  /** Messages this connection published are not sent back to it. */
  noLocal: boolean;
  /** Live messages keep the RETAIN flag they were published with. */
  retainAsPublished: boolean;
  /** 0: retained messages at subscribe; 1: only if the subscription is new; 2: none. */
  retainHandling: number;
  /** Sent with every message this subscription delivers; 0: none. */
  subscriptionId: number;
}

const DEFAULT_OPTIONS: SubscriptionOptions = {
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  subscriptionId: 0,
};

/** Options as stored with a session: [filter, no local | retain as published << 1 | retain handling << 2, id]. */
type StoredOptions = [string, number, number];
const packOptions = (s: Subscription): StoredOptions => [
  s.filter,
  (s.noLocal ? 1 : 0) | (s.retainAsPublished ? 2 : 0) | (s.retainHandling << 2),
  s.subscriptionId,
];
const unpackOptions = ([, bits, id]: StoredOptions): SubscriptionOptions => ({
  noLocal: (bits & 1) !== 0,
  retainAsPublished: (bits & 2) !== 0,
  retainHandling: (bits >> 2) & 3,
  subscriptionId: id,
});

interface Inflight {
  /** The core delivery to settle; undefined for retained messages and direct ones, which are in no queue. */
  tag: number | undefined;
  /** Sent through a direct subscription: the message, told to it when acknowledged. */
  direct: { sub: DirectSubscription; message: Message } | undefined;
  qos: number;
  /** QoS 2: PUBREC received, PUBCOMP awaited. */
  released: boolean;
}

/** Packet ids are 16 bits, 0 excluded (MQTT-2.3.1-1). */
const PACKET_IDS = 0xffff;
/**
 * The most QoS 1/2 messages in flight to one client from each source: its session's
 * deliveries (the session prefetch), retained messages (this window) and direct
 * subscriptions' messages (sent while all in flight are fewer than the window). The three
 * together stay inside the id space, so an id is always free for a delivery.
 */
export const MAX_RECEIVE_WINDOW = Math.floor(PACKET_IDS / 3);

interface PendingRetained {
  sub: Subscription;
  routingKey: string;
  message: Message;
  /** When it expires (MQTT 5 Message Expiry Interval), epoch ms; 0: never. */
  expiresAt: number;
}
const TOPIC_CACHE_MAX = 4096;
/**
 * Topic name bytes by routing key, shared by every connection: a topic's bytes are the same
 * for each subscriber (a cache per connection cost a table and a Buffer per idle device).
 */
const topicCache = new Map<string, Buffer>();

function topicBytes(routingKey: string): Buffer {
  let b = topicCache.get(routingKey);
  if (!b) {
    if (topicCache.size >= TOPIC_CACHE_MAX) topicCache.clear();
    b = Buffer.from(keyToTopic(routingKey), 'utf8');
    topicCache.set(routingKey, b);
  }
  return b;
}

/** The QoS a message was published with: MQTT's own header, else persistent = 1 (as RabbitMQ). */
export function messageQos(msg: Message): number {
  const q = msg.properties.headers?.[QOS_HEADER];
  if (typeof q === 'number' && q >= 0 && q <= 2) return q;
  return msg.properties.deliveryMode === 2 ? 1 : 0;
}

/** 16 hex digits of the SHA-1: a string of its own, where slicing the 40 would keep them all. */
function shortHash(s: string): string {
  return createHash('sha1').update(s).digest().toString('hex', 0, 8);
}

/**
 * One subscription of the client. A direct one's client side (the core's DirectSink) is the
 * subscription itself, as methods: a sink object beside it cost 40 bytes per device.
 */
class Subscription implements SubscriptionOptions, DirectSink {
  /** The consumer of its queue; '' for a direct one. */
  consumerTag = '';
  /** QoS 0 subscriptions consume without acknowledgements. */
  noAck: boolean;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: number;
  subscriptionId: number;
  /** Bound without a queue (no consumer tag, no delivery tags). */
  direct: DirectSubscription | undefined = undefined;

  constructor(
    private readonly owner: Subscriptions,
    readonly filter: string,
    public qos: number,
    readonly queue: string,
    readonly skipDollar: boolean,
    options: SubscriptionOptions,
    /** A `$share/...` subscription: its queue is the group's, shared with the other members. */
    readonly shared: boolean,
  ) {
    this.noAck = qos === 0;
    this.noLocal = options.noLocal;
    this.retainAsPublished = options.retainAsPublished;
    this.retainHandling = options.retainHandling;
    this.subscriptionId = options.subscriptionId;
  }

  hasRoom(): boolean {
    return this.owner.hasRoom(this);
  }

  deliver(msg: Message, expiresAt: number): boolean {
    return this.owner.deliverDirect(this, msg, expiresAt);
  }
}

/** A subscription's consumer, as methods (two closures per subscription cost ~170 bytes). */
class SubscriptionSink implements DeliverySink {
  constructor(
    private readonly owner: Subscriptions,
    private readonly sub: Subscription,
  ) {}

  deliver(d: Delivery): boolean {
    return this.owner.deliver(this.sub, d);
  }

  cancelled(reason: BrokerError): void {
    this.owner.cancelled(this.sub, reason);
  }
}

export class Subscriptions {
  /** By filter; a device usually has one (fields until a second: SmallMap). */
  private readonly active = new SmallMap<string, Subscription>();
  /** Created by the first QoS 1/2 message out (an idle device holds no empty table). */
  private inflight: Map<number, Inflight> | undefined;
  private nextPacketId = 1;
  /** Created on use, like the retained queue: an idle device holds no empty arrays. */
  private ackLater: number[] | undefined;
  /** Retained messages matched by new subscriptions, sent as the client's window allows. */
  private retainedQueue: PendingRetained[] | undefined;
  private retainedHead = 0;
  private retainedInflight = 0;
  private readonly window: number;
  /** Some subscription has No Local: the connection then remembers what it publishes. */
  anyNoLocal = false;
  /** Queues are durable and the session is stored; decided by open(). */
  private persistent = false;

  constructor(
    private readonly conn: MqttConnection,
    private readonly core: Connection,
    private readonly session: Session,
    private readonly config: MqttConfig,
    /**
     * How long the session outlives the connection, ms: 0 = it ends with it (3.1.1 clean
     * session), undefined = until the client ends it (3.1.1 clean session 0, MQTT 5 0xFFFFFFFF).
     * An MQTT 5 DISCONNECT may change it.
     */
    public expiryMs: number | undefined,
    /** Most QoS 1/2 retained messages unacknowledged (the session's window). */
    window: number,
  ) {
    this.window = Math.max(1, window);
  }

  get count(): number {
    return this.active.size;
  }

  /** What management lists with the connection. */
  snapshot(): SubscriptionSnapshot[] {
    const out: SubscriptionSnapshot[] = [];
    for (const s of this.active.values())
      out.push({
        filter: s.filter,
        qos: s.qos,
        kind: s.direct ? 'direct' : 'queue',
        queue: s.queue,
        waiting: s.direct?.messageCount ?? 0,
      });
    return out;
  }

  /**
   * `mqtt-subscription-<client id>-<hash of the filter>`: stable across reconnects; a shared
   * subscription's is its group's queue.
   */
  queueName(filter: string): string {
    if (isSharedFilter(filter)) {
      const shared = parseSharedFilter(filter, this.config.maxTopicLevels);
      if (typeof shared === 'string') throw new MalformedPacket(shared, Reason.TopicFilterInvalid);
      return groupQueueName(shared);
    }
    const id = this.conn.clientId.length <= 128 ? this.conn.clientId : shortHash(this.conn.clientId);
    // Joined, not a template: a template's result is a rope (a string object per part), and
    // the name lives as long as the subscription (~100 bytes per device).
    return ['mqtt-subscription-', id, '-', shortHash(filter)].join('');
  }

  // ---- persistent sessions ------------------------------------------------------------------

  /**
   * At CONNECT: Clean Start (3.1.1 clean session) ends a stored session of the client id
   * (MQTT-3.1.2-4, MQTT-3.1.2-6), and so does its expiry; otherwise the stored session is
   * taken up, its expiry stopped while the client is connected. Returns Session Present.
   */
  async open(cleanStart: boolean): Promise<boolean> {
    const state = this.core.sessionState(this.conn.clientId);
    const live = state !== undefined && (state.expiresAt === undefined || state.expiresAt > Date.now());
    if (state && (cleanStart || !live)) await this.discardStored(state);
    if (cleanStart || !live) {
      this.persistent = this.expiryMs !== 0;
      return false;
    }
    // Durable queues from here on, even when this connection's expiry is 0: the session
    // then ends (queues deleted) when the connection does.
    this.persistent = true;
    const taken = this.stateOf(state.subscriptions, undefined);
    // No subscription is active yet: the stored options stay until resumeStored re-adds them.
    if (state['subscriptionOptions'] !== undefined)
      taken['subscriptionOptions'] = state['subscriptionOptions'];
    await this.core.saveSessionState(this.conn.clientId, taken);
    return true;
  }

  /**
   * The connection is ending (before the core session closes): a session with expiry 0 ends
   * with it, one with an expiry is kept until then, and the core removes it at that time.
   */
  async connectionEnding(will?: StoredWill): Promise<void> {
    if (!this.persistent || this.expiryMs === 0) {
      // The session ends: its member subscriptions stop consuming first, so the group queues
      // whose last member this was are unused and go too (leaveGroup).
      for (const sub of this.active.values()) if (sub.shared) await this.session.cancel(sub.consumerTag);
    }
    if (!this.persistent) {
      // Exclusive queues end with the connection; a group queue ends with its last member.
      for (const sub of this.active.values()) if (sub.shared) await this.leaveGroup(sub.queue);
      return;
    }
    if (this.expiryMs === 0) {
      const state = this.core.sessionState(this.conn.clientId);
      if (state) await this.discardStored(state);
      return;
    }
    // A delayed will waits in the stored session, so it outlives a restart with it.
    if (this.expiryMs !== undefined) await this.save(Date.now() + this.expiryMs, will);
    else if (will) await this.save(undefined, will);
  }

  private async discardStored(state: ClientSessionState): Promise<void> {
    const queues = state.queues ?? Object.keys(state.subscriptions).map((f) => this.queueName(f));
    // A queue that is gone already counts as deleted (deleteQueue returns 0); any other failure
    // (the store's, a revoked configure permission) keeps the stored state, so its queues stay
    // known, and reaches the caller: a Clean Start then fails instead of resuming old messages.
    for (const queue of queues)
      if (queue.startsWith(GROUP_QUEUE_PREFIX)) await this.leaveGroup(queue);
      else await this.session.deleteQueue(queue);
    await this.core.saveSessionState(this.conn.clientId, null);
  }

  /**
   * This client's member subscription of a group has ended (its consumer is cancelled): the
   * group queue, with its backlog, is deleted unless another member still consumes from it or
   * another stored session lists it.
   */
  private async leaveGroup(queue: string): Promise<void> {
    if (this.core.sessionQueueListedByOthers(this.conn.clientId, queue)) return;
    try {
      await this.session.deleteQueue(queue, { ifUnused: true });
    } catch (err) {
      // In use: another member consumes from it, and it ends with the last of them.
      if (!(err instanceof BrokerError && err.code === 'PRECONDITION_FAILED')) throw err;
    }
  }

  async resumeStored(): Promise<void> {
    const state = this.core.sessionState(this.conn.clientId);
    if (!state) return;
    const stored = new Map<string, SubscriptionOptions>();
    const options = Array.isArray(state['subscriptionOptions'])
      ? (state['subscriptionOptions'] as StoredOptions[])
      : [];
    for (const o of options) stored.set(o[0], unpackOptions(o));
    for (const [filter, qos] of Object.entries(state.subscriptions)) {
      try {
        await this.add(filter, qos, stored.get(filter) ?? DEFAULT_OPTIONS);
      } catch (err) {
        this.conn.log.warn(
          { conn: this.conn.id, filter, err },
          'MQTT stored subscription could not be resumed',
        );
      }
    }
  }

  private async save(expiresAt?: number, will?: StoredWill): Promise<void> {
    if (!this.persistent) return;
    // Keyed by client-chosen filters: a filter `__proto__` must be an entry, not the prototype.
    const subscriptions = Object.create(null) as Record<string, number>;
    for (const s of this.active.values()) subscriptions[s.filter] = s.qos;
    const state = this.stateOf(subscriptions, expiresAt);
    if (will) state.will = will;
    await this.core.saveSessionState(this.conn.clientId, state);
  }

  private stateOf(subscriptions: Record<string, number>, expiresAt: number | undefined): ClientSessionState {
    const state: ClientSessionState = {
      subscriptions,
      queues: Object.keys(subscriptions).map((f) => this.queueName(f)),
    };
    const options: StoredOptions[] = [];
    for (const s of this.active.values())
      if (s.noLocal || s.retainAsPublished || s.retainHandling !== 0 || s.subscriptionId !== 0)
        options.push(packOptions(s));
    if (options.length > 0) state['subscriptionOptions'] = options;
    if (this.expiryMs !== undefined) state.expiryMs = this.expiryMs;
    if (expiresAt !== undefined) state.expiresAt = expiresAt;
    return state;
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE ---------------------------------------------------------------

  async subscribe(packet: {
    packetId: number;
    subscriptions: SubscriptionRequest[];
    properties?: Properties;
  }): Promise<void> {
    const v5 = this.conn.v5;
    const subscriptionId = packet.properties?.subscriptionIdentifiers?.[0] ?? 0;
    const codes: number[] = [];
    const granted: Subscription[] = [];
    const problems: string[] = [];
    for (const { filter, qos, noLocal, retainAsPublished, retainHandling } of packet.subscriptions) {
      const shared = isSharedFilter(filter)
        ? parseSharedFilter(filter, this.config.maxTopicLevels)
        : undefined;
      // MQTT-3.8.3-4: No Local on a shared subscription is a Protocol Error.
      if (shared !== undefined && noLocal)
        throw new MalformedPacket('No Local on a shared subscription', Reason.ProtocolError);
      const problem =
        shared === undefined
          ? filterProblem(filter, this.config.maxTopicLevels)
          : typeof shared === 'string'
            ? shared
            : null;
      if (problem) {
        this.conn.log.info({ conn: this.conn.id, filter, problem }, 'MQTT subscription refused');
        codes.push(subackCode(Reason.TopicFilterInvalid, v5));
        problems.push(`${filter}: ${problem}`);
        continue;
      }
      try {
        const isNew = !this.active.has(filter);
        const sub = await this.add(filter, qos, {
          noLocal,
          retainAsPublished,
          retainHandling,
          subscriptionId,
        });
        // 3.8.3.1 Retain Handling: 0 always, 1 for a new subscription only, 2 never; a shared
        // subscription gets no retained messages (MQTT 5 4.8.2).
        if (!sub.shared && (retainHandling === 0 || (retainHandling === 1 && isNew))) granted.push(sub);
        codes.push(qos);
      } catch (err) {
        const why = (err as Error).message;
        this.conn.log.info({ conn: this.conn.id, filter, err: why }, 'MQTT subscription refused');
        codes.push(subackCode(reasonFor(err), v5));
        problems.push(`${filter}: ${why}`);
      }
    }
    await this.save();
    const properties = v5 && problems.length > 0 ? this.conn.ackProperties(problems.join('; ')) : undefined;
    this.conn.write(suback(packet.packetId, codes, v5 ? encodeProperties(properties ?? {}) : undefined));
    // MQTT-3.3.1-6: a new subscription gets the retained messages that match it.
    for (const sub of granted) this.sendRetained(sub);
  }

  async unsubscribe(packet: { packetId: number; filters: string[] }): Promise<void> {
    const codes: number[] = [];
    for (const filter of packet.filters) {
      const sub = this.active.get(filter);
      codes.push(sub ? Reason.Success : Reason.NoSubscriptionExisted);
      if (!sub) continue;
      this.active.delete(filter);
      if (sub.direct) {
        this.session.unsubscribeDirect(sub.direct);
        continue;
      }
      await this.session.cancel(sub.consumerTag);
      if (sub.shared) await this.leaveGroup(sub.queue);
      else await this.session.deleteQueue(sub.queue);
    }
    await this.save();
    this.conn.write(this.conn.v5 ? unsuback5(packet.packetId, codes) : ackPacket(0xb0, packet.packetId));
  }

  private async add(filter: string, qos: number, options: SubscriptionOptions): Promise<Subscription> {
    if (options.noLocal) this.anyNoLocal = true;
    const existing = this.active.get(filter);
    if (existing) {
      // New options replace the old ones (MQTT-3.8.4-3); deliveries read them from `existing`.
      Object.assign(existing, options);
      if (existing.qos === qos) return existing;
      if (existing.direct) {
        // Its waiting messages stay, and go out at the new QoS.
        existing.qos = qos;
        existing.noAck = qos === 0;
        return existing;
      }
      // A new QoS replaces the subscription (MQTT-3.8.4-3); its queue and backlog stay.
      this.active.delete(filter);
      await this.session.cancel(existing.consumerTag);
    }
    const max = this.config.maxSubscriptions;
    if (!existing && max > 0 && this.active.size >= max)
      // SUBACK 0x80 (3.1.1) / 0x97 quota exceeded (5) for this filter
      throw new BrokerError('NOT_ALLOWED', `at most ${max} subscriptions per client`, {
        subject: 'limit-reached',
      });
    const queue = this.queueName(filter);
    const shared = isSharedFilter(filter);
    // The group's filter: queueName has checked the shared filter already.
    const matched = shared
      ? (parseSharedFilter(filter, this.config.maxTopicLevels) as SharedFilter).filter
      : filter;
    if (!this.persistent && !shared) {
      const sub = this.subscription(filter, qos, queue, matched, options, shared);
      sub.direct = this.session.subscribeDirect('amq.topic', filterToPattern(matched), queue, sub);
      if (sub.direct) {
        this.active.set(filter, sub);
        return sub;
      }
    }
    // A group queue is durable, whichever member declares it first, so a member with a stored
    // session finds its backlog; it ends with its last member (leaveGroup), not with a connection.
    await this.session.declareQueue({
      name: queue,
      durable: this.persistent || shared,
      exclusive: !this.persistent && !shared,
      autoDelete: !this.persistent && !shared,
      // So recovery removes it when no stored session lists it (its members were clean ones).
      ...(shared ? { arguments: GROUP_QUEUE_ARGUMENTS, brokerOwned: true } : {}),
    });
    await this.session.bindQueue(queue, 'amq.topic', filterToPattern(matched));
    const sub = this.subscription(filter, qos, queue, matched, options, shared);
    sub.consumerTag = await this.session.consume(
      queue,
      { noAck: sub.noAck },
      new SubscriptionSink(this, sub),
    );
    this.active.set(filter, sub);
    return sub;
  }

  private subscription(
    filter: string,
    qos: number,
    queue: string,
    matched: string,
    options: SubscriptionOptions,
    shared: boolean,
  ): Subscription {
    return new Subscription(this, filter, qos, queue, skipsDollarTopics(matched), options, shared);
  }

  // ---- outbound PUBLISH ----------------------------------------------------------------------

  /** The queue went away under the client (deleted by an operator): the subscription ends. */
  cancelled(sub: Subscription, reason: BrokerError): void {
    this.active.delete(sub.filter);
    this.conn.log.info(
      { conn: this.conn.id, filter: sub.filter, reason: reason.message },
      'MQTT subscription cancelled by the broker',
    );
  }

  deliver(sub: Subscription, d: Delivery): boolean {
    return this.send(sub, d.message, d.redelivered, d.expiresAt, d.deliveryTag);
  }

  /** A direct subscription's message: as a delivery, with nothing to settle in the core. */
  deliverDirect(sub: Subscription, message: Message, expiresAt: number): boolean {
    return this.send(sub, message, false, expiresAt, undefined);
  }

  /**
   * Whether a direct subscription may send now: a QoS 1/2 one while fewer messages than the
   * window are in flight to the client (from any source), so its Receive Maximum holds.
   */
  hasRoom(sub: Subscription): boolean {
    return sub.noAck || (this.inflight?.size ?? 0) < this.window;
  }

  /** Lets direct subscriptions send what waits for the client: its socket drained, or it acknowledged. */
  resumeDirect(): void {
    for (const sub of this.active.values()) sub.direct?.resume();
  }

  /** `tag`: the core delivery to settle; undefined for a direct subscription's message. */
  private send(
    sub: Subscription,
    message: Message,
    redelivered: boolean,
    expiresAt: number,
    tag: number | undefined,
  ): boolean {
    const routingKey = message.routingKey;
    if (
      (sub.skipDollar && routingKey.charCodeAt(0) === 0x24) /* $ */ ||
      // MQTT-3.8.3-3: No Local keeps the connection's own messages from it.
      (sub.noLocal && this.conn.publishedHere(message))
    ) {
      if (!sub.noAck && tag !== undefined) this.acknowledgeLater(tag);
      return true;
    }
    const qos = Math.min(sub.qos, messageQos(message));
    const topic = topicBytes(routingKey);
    const id = qos === 0 ? 0 : this.nextFreePacketId();
    // MQTT-3.3.1-12/13: RETAIN is 0 on live messages unless Retain As Published.
    const retain = sub.retainAsPublished && wasRetained(message);
    const header = this.conn.publishHeader(
      topic,
      qos,
      id,
      redelivered,
      retain,
      message,
      expiresAt,
      sub.subscriptionId,
    );
    if (qos === 0 || !header) {
      // Too large for the client: dropped as if delivered (MQTT-3.1.2-25).
      if (!sub.noAck && tag !== undefined) this.acknowledgeLater(tag);
      return header ? this.conn.writePublish(header, message.body) : true;
    }
    this.takePacketId(id);
    const direct = sub.direct && { sub: sub.direct, message };
    (this.inflight ??= new Map()).set(id, { tag, direct, qos, released: false });
    return this.conn.writePublish(header, message.body);
  }

  /**
   * MQTT-3.3.1-6: a new subscription gets the retained messages that match it. They are
   * queued and sent while the client has room: at most `window` QoS 1/2 ones unacknowledged
   * (more as PUBACKs arrive) and never into a socket that needs to drain, so 65,536 retained
   * messages neither exhaust the packet ids nor fill the process with socket buffers.
   */
  private sendRetained(sub: Subscription): void {
    const now = Date.now();
    for (const { routingKey, message } of this.core.retainedMatching(filterToPattern(sub.filter))) {
      if (sub.skipDollar && routingKey.charCodeAt(0) === 0x24) continue;
      // MQTT-3.3.2-5: a retained message whose expiry has passed is not sent any more.
      const expiresAt = retainedExpiresAt(message);
      if (expiresAt !== 0 && expiresAt <= now) continue;
      (this.retainedQueue ??= []).push({ sub, routingKey, message, expiresAt });
    }
    this.pumpRetained();
  }

  /** Sends queued retained messages while the window and the socket allow; called on PUBACK and drain. */
  pumpRetained(): void {
    const q = this.retainedQueue;
    if (!q) return;
    while (this.retainedHead < q.length && this.retainedInflight < this.window) {
      const { sub, routingKey, message, expiresAt } = q[this.retainedHead]!;
      q[this.retainedHead++] = undefined as unknown as PendingRetained; // let it be collected
      if (this.active.get(sub.filter) !== sub) continue; // unsubscribed meanwhile
      const qos = Math.min(sub.qos, messageQos(message));
      const id = qos === 0 ? 0 : this.nextFreePacketId();
      const topic = topicBytes(routingKey);
      const header = this.conn.publishHeader(
        topic,
        qos,
        id,
        false,
        true,
        message,
        expiresAt,
        sub.subscriptionId,
      );
      if (!header) continue; // too large for the client (MQTT-3.1.2-25)
      if (qos > 0) {
        this.takePacketId(id);
        (this.inflight ??= new Map()).set(id, { tag: undefined, direct: undefined, qos, released: false });
        this.retainedInflight++;
      }
      if (!this.conn.writePublish(header, message.body)) break;
    }
    if (this.retainedHead >= q.length) {
      this.retainedQueue = undefined;
      this.retainedHead = 0;
    }
  }

  /**
   * An in-flight message is done: room for direct subscriptions, and a retained one frees
   * room in the retained window.
   */
  private finished(f: Inflight): void {
    if (f.direct) f.direct.sub.acked(f.direct.message);
    if ((this.inflight?.size ?? 0) === this.window - 1) this.resumeDirect();
    if (f.tag !== undefined || f.direct) return;
    this.retainedInflight--;
    this.pumpRetained();
  }

  /**
   * A delivery the client never acknowledges (sent at QoS 0 on a QoS 1 subscription) is
   * settled after the dispatch that produced it has returned, never from inside it.
   */
  private acknowledgeLater(tag: number): void {
    if (this.ackLater === undefined) {
      this.ackLater = [tag];
      queueMicrotask(() => {
        const tags = this.ackLater ?? [];
        this.ackLater = undefined;
        for (const t of tags) this.session.settle(t, 'ack');
      });
    } else this.ackLater.push(tag);
  }

  /**
   * The next free packet id. Deliveries are bounded by the session prefetch and retained
   * messages by the window, both at most MAX_RECEIVE_WINDOW, so a free id exists; the scan is
   * bounded anyway, and a full id space is an error, never a loop.
   */
  private nextFreePacketId(): number {
    if ((this.inflight?.size ?? 0) >= PACKET_IDS) throw new Error('every MQTT packet id is in flight');
    let id = this.nextPacketId;
    for (let tries = 0; tries < PACKET_IDS; tries++) {
      if (!this.inflight?.has(id)) return id;
      id = id === PACKET_IDS ? 1 : id + 1;
    }
    throw new Error('every MQTT packet id is in flight');
  }

  /** The id from nextFreePacketId is used: the next search starts after it. */
  private takePacketId(id: number): void {
    this.nextPacketId = id === PACKET_IDS ? 1 : id + 1;
  }

  // ---- acknowledgements from the client ------------------------------------------------------

  /** PUBACK: a QoS 1 delivery is done. Unknown ids are ignored, as the spec allows. */
  acknowledged(packetId: number): void {
    const f = this.inflight?.get(packetId);
    if (!f || f.qos !== 1) return;
    this.inflight!.delete(packetId);
    if (f.tag !== undefined) this.session.settle(f.tag, 'ack');
    this.finished(f);
  }

  /**
   * PUBREC: the client owns the QoS 2 message now; the id stays taken until PUBCOMP. False:
   * no QoS 2 message has that id in flight.
   */
  received(packetId: number): boolean {
    const f = this.inflight?.get(packetId);
    if (!f || f.qos !== 2) return false;
    if (f.released) return true; // a repeated PUBREC: PUBREL again
    f.released = true;
    if (f.tag !== undefined) this.session.settle(f.tag, 'ack');
    return true;
  }

  /** MQTT 5 PUBREC with a failure code: the client will not take the message; the flow ends. */
  refused(packetId: number): void {
    const f = this.inflight?.get(packetId);
    if (!f || f.qos !== 2) return;
    this.inflight!.delete(packetId);
    if (f.tag !== undefined && !f.released) this.session.settle(f.tag, 'ack');
    this.finished(f);
  }

  completed(packetId: number): void {
    const f = this.inflight?.get(packetId);
    if (!f?.released) return;
    this.inflight!.delete(packetId);
    this.finished(f);
  }
}
