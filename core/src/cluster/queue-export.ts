/**
 * The owner's side of a queue used from another node (one per channel, NodePeer builds it).
 * A forwarded publish goes through the same path as a local one (publish.ts deliverTo: the
 * queue's admission, the one store write, delivery) and is answered when that write
 * committed, the promise a local publisher's confirm waits for. A proxy consumer is a real
 * `Consumer` on the queue whose owner is this export: its prefetch is the credit the remote
 * client asked for (capped by `maxCredit`), so priorities, consumer priorities, single active
 * consumer, TTL and dead-lettering are the queue's own code. Its deliveries go out as `dlv`
 * frames and stay unacked here until a `stl` settles them. When the channel goes down every
 * proxy is removed and its unacked deliveries are requeued, in delivery order, flagged
 * redelivered (their delivery count went up when they went out).
 */
import type { Logger } from 'pino';
import { BrokerError } from '../errors.js';
import { Consumer, type ConsumerOwner } from '../queues/consumer.js';
import type { Queue } from '../queues/queue-type.js';
import type { QueuedMessage } from '../queues/queued-message.js';
import { deliverTo } from '../publish.js';
import type { Delivery } from '../session.js';
import type { Vhost } from '../vhost.js';
import {
  MAX_BATCH_PUBLISHES,
  MAX_WIRE_BODY_BYTES,
  fromWire,
  toWire,
  type Frame,
  type PublishResult,
  type Reply,
  type WirePublish,
} from './frames.js';
import type { PeerLimits } from './node-peer.js';
import { isRemoteQueue } from './remote-queue.js';

type Sub = Extract<Frame, { t: 'sub' }>;

/** One remote consumer, as a consumer of a local queue. */
class Proxy implements ConsumerOwner {
  readonly consumer: Consumer;
  /** Deliveries not settled yet, by delivery id, in delivery order. */
  readonly unacked = new Map<number, QueuedMessage>();
  subscribed = true;
  /** No more deliveries: a message could not go out (tooLarge). */
  private stopped = false;

  constructor(
    private readonly exp: QueueExport,
    readonly id: number,
    readonly vhost: Vhost,
    readonly queue: Queue,
    sub: Sub,
    credit: number,
  ) {
    this.consumer = new Consumer(
      queue,
      this,
      {
        tag: sub.tag,
        noAck: false,
        exclusive: sub.excl,
        priority: sub.prio,
        prefetch: credit,
        filter: undefined,
        arguments: sub.args,
      },
      // Never called: the queue delivers through the owner (deliver() below), not the sink.
      { deliver: (_d: Delivery) => true, cancelled: () => undefined },
    );
  }

  get connectionId(): string {
    return this.exp.connectionId;
  }

  hasCredit(): boolean {
    return this.exp.open && !this.stopped;
  }

  /**
   * A message too large for the channel: it goes back to the queue (no loss) and this proxy
   * is cancelled with the reason, after the queue's dispatch that offered it has returned.
   */
  private tooLarge(c: Consumer, q: Queue, e: QueuedMessage): void {
    this.stopped = true;
    setImmediate(() => {
      q.settle(e, 'requeue', true);
      const text = `PRECONDITION_FAILED - a message of ${e.msg.body.length} bytes in queue '${q.name}' is over the node channel's limit (${MAX_WIRE_BODY_BYTES})`;
      if (this.subscribed) {
        q.removeConsumer(c);
        this.consumerCancelled(c, new BrokerError('PRECONDITION_FAILED', text));
      }
      q.dispatch();
    });
  }

  deliver(c: Consumer, q: Queue, e: QueuedMessage): void {
    if (e.msg.body.length > MAX_WIRE_BODY_BYTES) {
      this.tooLarge(c, q, e);
      return;
    }
    const d = this.exp.nextDelivery();
    const n = e.deliveryCount;
    e.deliveryCount++;
    c.unacked++;
    this.unacked.set(d, e);
    this.exp.send({ t: 'dlv', id: this.id, d, m: toWire(e.msg), n, e: e.expiresAt });
  }

  consumerCancelled(_c: Consumer, reason: BrokerError): void {
    this.subscribed = false;
    // Replaced by a queue of the same name (vhost.replaceQueue: its ownership moved), not deleted.
    const now = this.vhost.queues.get(this.queue.name);
    const moved = now !== undefined && now !== this.queue;
    this.exp.send({ t: 'cxl', id: this.id, code: reason.code, text: reason.message, moved });
    this.exp.forgetIfDone(this);
  }
}

export class QueueExport {
  readonly connectionId: string;
  open = true;
  private readonly proxies = new Map<number, Proxy>();
  /** basic.get entries not settled yet (settled with proxy id 0), with their queue. */
  private readonly gets = new Map<number, { queue: Queue; entry: QueuedMessage }>();
  private lastDelivery = 0;

  constructor(
    private readonly peer: string,
    readonly send: (f: Frame) => boolean,
    private readonly vhostOf: (name: string) => Vhost | undefined,
    private readonly log: Logger,
    private readonly limits: PeerLimits,
  ) {
    this.connectionId = `node:${peer}`;
  }

  nextDelivery(): number {
    return ++this.lastDelivery;
  }

  /** The local queue `q` of vhost `v`, or the failure to answer with. */
  private local(v: string, q: string): { vhost: Vhost; queue: Queue } | Reply {
    const vhost = this.vhostOf(v);
    const queue = vhost?.queues.get(q);
    if (!vhost || !queue || isRemoteQueue(queue))
      return { ok: false, why: 'not-owner', text: `queue '${q}' in vhost '${v}' is not served by this node` };
    return { vhost, queue };
  }

  async request(f: Frame): Promise<Reply> {
    if (!this.open) return { ok: false, why: 'not-owner', text: 'channel closed' };
    switch (f.t) {
      case 'enq':
        return this.enqueue(f);
      case 'sub':
        return this.subscribe(f);
      case 'unsub': {
        const p = this.proxies.get(f.id);
        if (p?.subscribed) {
          p.subscribed = false;
          p.queue.removeConsumer(p.consumer);
          this.forgetIfDone(p);
        }
        return { ok: true };
      }
      case 'get':
        return this.get(f);
      case 'stats': {
        const l = this.local(f.v, f.q);
        return 'queue' in l ? { ok: true, stats: l.queue.stats() } : l;
      }
      case 'purge': {
        const l = this.local(f.v, f.q);
        return 'queue' in l ? { ok: true, count: l.queue.purge() } : l;
      }
      default:
        return { ok: false, why: 'refused', code: 'COMMAND_INVALID', text: `unknown request '${f.t}'` };
    }
  }

  private async enqueue(f: Extract<Frame, { t: 'enq' }>): Promise<Reply> {
    const l = this.local(f.v, f.q);
    if (!('queue' in l)) return l;
    if (!Array.isArray(f.ps) || f.ps.length > MAX_BATCH_PUBLISHES)
      return { ok: false, why: 'refused', code: 'SYNTAX_ERROR', text: 'malformed publish batch' };
    // In order, each through the local publish path; answered together once all are settled.
    const each = f.ps.map((p) => this.enqueueOne(l.vhost, l.queue, p));
    return { ok: true, each: await Promise.all(each) };
  }

  private async enqueueOne(vhost: Vhost, queue: Queue, p: WirePublish): Promise<PublishResult> {
    const body: unknown = p?.m?.b;
    if (!(body instanceof Uint8Array))
      return { ok: false, why: 'refused', code: 'SYNTAX_ERROR', text: 'message without a body' };
    const r = deliverTo(vhost, [queue], fromWire(p.m), p.ttl ?? undefined);
    if (r.rejected) return { ok: false, why: 'rejected', text: `queue '${queue.name}' refused the message` };
    try {
      await r.persisted;
    } catch (err) {
      this.log.warn({ err, peer: this.peer, queue: queue.name }, 'a forwarded publish was not stored');
      return { ok: false, why: 'failed', text: `the owner's store failed: ${(err as Error).message}` };
    }
    return r.congested ? { ok: true, congested: true } : { ok: true };
  }

  private subscribe(f: Sub): Reply {
    const l = this.local(f.v, f.q);
    if (!('queue' in l)) return l;
    if (!wellFormedSub(f))
      return { ok: false, why: 'refused', code: 'SYNTAX_ERROR', text: 'malformed consumer' };
    if (this.proxies.has(f.id))
      return { ok: false, why: 'refused', code: 'NOT_ALLOWED', text: `proxy consumer ${f.id} exists` };
    if (this.proxies.size >= this.limits.maxProxyConsumers) {
      return {
        ok: false,
        why: 'refused',
        code: 'RESOURCE_LOCKED',
        text: `RESOURCE_LOCKED - node ${this.peer} has ${this.proxies.size} consumers on this node (the limit)`,
      };
    }
    const q = l.queue;
    const existing = q.consumers.all();
    if (existing.some((c) => c.spec.exclusive) || (f.excl && existing.length > 0)) {
      const text = `ACCESS_REFUSED - queue '${q.name}' in vhost '${f.v}' in exclusive use`;
      return { ok: false, why: 'refused', code: 'ACCESS_REFUSED', text };
    }
    const credit = f.credit > 0 && f.credit <= this.limits.maxCredit ? f.credit : this.limits.maxCredit;
    const p = new Proxy(this, f.id, l.vhost, q, f, credit);
    try {
      q.addConsumer(p.consumer);
    } catch (err) {
      if (err instanceof BrokerError) return { ok: false, why: 'refused', code: err.code, text: err.message };
      throw err;
    }
    this.proxies.set(f.id, p);
    // After the answer has gone out (the remote knows the proxy is live), as a local consume-ok.
    setImmediate(() => q.dispatch());
    return { ok: true };
  }

  private async get(f: Extract<Frame, { t: 'get' }>): Promise<Reply> {
    const l = this.local(f.v, f.q);
    if (!('queue' in l)) return l;
    // Taken unacked even for a no-ack get, so a message that cannot go out stays in the queue.
    const e = await l.queue.get(false);
    if (!e) return { ok: true, got: null };
    if (e.msg.body.length > MAX_WIRE_BODY_BYTES) {
      l.queue.settle(e, 'requeue', true);
      const text = `PRECONDITION_FAILED - the next message of queue '${f.q}' is over the node channel's limit (${MAX_WIRE_BODY_BYTES} bytes)`;
      return { ok: false, why: 'refused', code: 'PRECONDITION_FAILED', text };
    }
    const d = this.nextDelivery();
    const n = e.deliveryCount;
    e.deliveryCount++;
    if (f.noAck) l.queue.settle(e, 'ack', true);
    else this.gets.set(d, { queue: l.queue, entry: e });
    return { ok: true, got: { d, m: toWire(e.msg), n, e: e.expiresAt, left: l.queue.messageCount } };
  }

  /** A `stl` frame: the remote client settled these deliveries. */
  settled(f: Extract<Frame, { t: 'stl' }>): void {
    if (!this.open || !Array.isArray(f.d)) return;
    if (f.id === 0) {
      const touched = new Set<Queue>();
      for (const d of f.d) {
        const g = this.gets.get(d);
        if (!g) continue;
        this.gets.delete(d);
        g.queue.settle(g.entry, f.o, true);
        touched.add(g.queue);
      }
      for (const q of touched) q.dispatch();
      return;
    }
    const p = this.proxies.get(f.id);
    if (!p) return;
    for (const d of f.d) {
      const e = p.unacked.get(d);
      if (!e) continue;
      p.unacked.delete(d);
      p.consumer.unacked--;
      p.queue.settle(e, f.o, true);
    }
    this.forgetIfDone(p);
    p.queue.dispatch();
  }

  /** A cancelled proxy is forgotten once nothing of it is unacked; true if it was. */
  forgetIfDone(p: Proxy): boolean {
    if (p.subscribed || p.unacked.size > 0) return false;
    this.proxies.delete(p.id);
    return true;
  }

  /** The channel went down: the remote's consumers go, what it held comes back redelivered. */
  down(): void {
    if (!this.open) return;
    this.open = false;
    const touched = new Set<Queue>();
    for (const p of this.proxies.values()) {
      if (p.subscribed) p.queue.removeConsumer(p.consumer);
      p.subscribed = false;
      for (const e of p.unacked.values()) {
        p.consumer.unacked--;
        p.queue.settle(e, 'requeue', true);
      }
      p.unacked.clear();
      touched.add(p.queue);
    }
    for (const g of this.gets.values()) {
      g.queue.settle(g.entry, 'requeue', true);
      touched.add(g.queue);
    }
    const consumers = this.proxies.size;
    this.proxies.clear();
    this.gets.clear();
    for (const q of touched) q.dispatch();
    if (consumers > 0)
      this.log.info(
        { peer: this.peer, consumers },
        'node channel down: its consumers removed, unacked requeued',
      );
  }
}

/** The fields a `sub` frame must have, of the right types (the sender is a node, but a bug is a bug). */
function wellFormedSub(f: Sub): boolean {
  return (
    Number.isSafeInteger(f.id) &&
    f.id > 0 &&
    typeof f.tag === 'string' &&
    Number.isFinite(f.prio) &&
    typeof f.excl === 'boolean' &&
    Number.isFinite(f.credit) &&
    typeof f.args === 'object' &&
    f.args !== null &&
    !Array.isArray(f.args)
  );
}
