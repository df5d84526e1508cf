/**
 * The per-message path of a publish: route it from its exchange, then hand it to the queues
 * (queue-type.ts, "The life of a publish"): every queue admits or refuses it and stages its
 * stored copy, the staged copies go to the store in one write, then the queues deliver.
 * Nothing is delivered before its write is submitted, so the store sees every delivery mark and
 * removal after the entry it is about. The vhost is only the scope (its exchanges, queues and
 * store); none of its code runs per message.
 */
import type { Exchange } from './exchanges/exchange.js';
import { route, type RouteTarget, type RoutingScope } from './exchanges/route.js';
import type { DirectSubscription } from './direct-subscription.js';
import type { Message } from './message.js';
import type { Admission, PublishWrite, Queue } from './queues/queue-type.js';
import type { EnqueueRecord, Store } from './storage/store.js';

export interface PublishScope extends RoutingScope {
  /** The vhost's name (store records). */
  readonly name: string;
  readonly store: Store;
  nextMessageId(): number;
}

export interface RouteResult {
  /** Queues that took the message. */
  routed: number;
  /** A queue refused it (reject-publish): the publisher gets a nack. */
  rejected: boolean;
  /** Settles when every persistent copy is durable; null when nothing needed storing. */
  persisted: Promise<void> | null;
  /** Queues (or direct subscriptions) whose consumers fall behind: the publisher should be held back (flow.ts). */
  congested: RouteTarget[] | null;
}

const unrouted = (): RouteResult => ({ routed: 0, rejected: false, persisted: null, congested: null });

/** Routes a message from the exchange it names into queues. The caller checked access and the exchange. */
export function publish(
  scope: PublishScope,
  x: Exchange,
  msg: Message,
  ttl: number | undefined,
): RouteResult {
  const targets = route(scope, x, msg);
  if (targets.length === 0) return unrouted();
  return deliverTo(scope, targets, withoutBcc(msg), ttl);
}

/** Queues get their copy first (and their store write), then direct subscriptions theirs. */
export function deliverTo(
  scope: PublishScope,
  targets: readonly RouteTarget[],
  msg: Message,
  ttl: number | undefined,
): RouteResult {
  let directs: DirectSubscription[] | undefined;
  let queues = targets as readonly Queue[];
  // Per message: a plain loop, no closures (most publishes reach queues only).
  for (let i = 0; i < targets.length; i++) {
    if (targets[i]!.kind !== 'direct') continue;
    directs = targets.filter((t) => t.kind === 'direct');
    queues = targets.filter((t) => t.kind === 'queue');
    break;
  }
  const r = queues.length === 0 ? unrouted() : enqueueTo(scope, queues, msg, ttl);
  if (directs === undefined) return r;
  const now = Date.now();
  for (const d of directs) {
    d.offer(msg, ttl, now);
    r.routed++;
    if (d.congested) (r.congested ??= []).push(d);
  }
  return r;
}

/** Hands a routed message to its queues: admit, one write, deliver. */
function enqueueTo(
  scope: PublishScope,
  queues: readonly Queue[],
  msg: Message,
  ttl: number | undefined,
): RouteResult {
  const store = scope.store;
  const admission = new StagedWrite(
    scope.name,
    scope.nextMessageId(),
    msg,
    ttl,
    msg.properties.deliveryMode === 2 && store.capabilities.durable,
  );
  let rejected: Set<Queue> | null = null;
  let own: Promise<void>[] | null = null;
  let congested: RouteTarget[] | null = null;
  let asked = 0;
  let persisted: Promise<void> | null = null;
  try {
    for (const q of queues) {
      asked++;
      const r = q.enqueue(msg, admission);
      if (r === 'rejected') (rejected ??= new Set()).add(q);
      else if (r.persisted) (own ??= []).push(r.persisted);
    }
  } finally {
    // Every queue that admitted it hears of the write, whatever happened: it holds its deliveries until then.
    persisted = admission.submit(store);
    for (let i = 0; i < asked; i++) {
      const q = queues[i]!;
      if (!rejected?.has(q)) q.enqueued(persisted);
      if (q.congested) (congested ??= []).push(q);
    }
  }
  if (own) persisted = Promise.all(persisted ? [persisted, ...own] : own).then(() => undefined);
  const refused = rejected?.size ?? 0;
  return { routed: queues.length - refused, rejected: refused > 0, persisted, congested };
}

/**
 * The publish's one store write (records staged by the queues, submitted once), and the
 * admission every queue is offered: one object per publish.
 */
class StagedWrite implements PublishWrite, Admission {
  private records: EnqueueRecord[] | null = null;
  readonly now = Date.now();
  readonly write: PublishWrite = this;

  constructor(
    private readonly vhost: string,
    readonly messageId: number,
    private readonly msg: Message,
    readonly ttl: number | undefined,
    readonly persistent: boolean,
  ) {}

  stage(queue: string, expiresAt: number): void {
    const { msg, messageId } = this;
    (this.records ??= []).push({
      vhost: this.vhost,
      queue,
      messageId,
      expiresAt,
      deliveryCount: 0,
      message: {
        id: messageId,
        exchange: msg.exchange,
        routingKey: msg.routingKey,
        properties: msg.properties,
        body: msg.body,
      },
    });
  }

  /**
   * The write of everything staged (null if nothing was). Never throws: the queues waiting
   * for it must hear of it either way (a store that throws fails the publish, as a rejection).
   */
  submit(store: Store): Promise<void> | null {
    const records = this.records;
    this.records = null;
    if (!records) return null;
    try {
      return store.enqueue(records);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
}

/** RabbitMQ sender-selected distribution: BCC routes the message but is never delivered. */
function withoutBcc(msg: Message): Message {
  const headers = msg.properties.headers;
  if (headers === undefined || !('BCC' in headers)) return msg;
  const { BCC: _bcc, ...rest } = headers;
  return { ...msg, properties: { ...msg.properties, headers: rest }, encodedProperties: undefined };
}
