/**
 * SUBSCRIBE and UNSUBSCRIBE: the connection's subscriptions, each one core consumer, and
 * the hot path that turns a core delivery into a MESSAGE frame.
 */
import { compileSelector, type Delivery, type FieldTable, type Message } from '@junction/core';
import type { Acks } from './acks.js';
import type { StompContext } from './context.js';
import { destinationOf, parseDestination } from './destinations.js';
import { encodeFrame, encodeHead, ZERO_COPY_BODY } from './encode.js';
import { StompProtocolError } from './errors.js';
import {
  appendPropertyHeaders,
  booleanHeader,
  consumerArguments,
  HeaderError,
  wantsDurable,
} from './headers.js';
import type { Frame } from './parser.js';
import type { ConnectionQueues } from './queues.js';
import { subscriptionQueue } from './subscription-queue.js';

export type AckMode = 'auto' | 'client' | 'client-individual';

export interface Subscription {
  readonly id: string;
  readonly ack: AckMode;
  consumerTag: string;
  readonly queue: string;
  /** MESSAGE destination override (temp queues show the name the client used). */
  readonly destination: string | undefined;
  /** A durable topic subscription's queue: deleted by UNSUBSCRIBE with durable:true. */
  readonly durableQueue: string | undefined;
  /** Unacked delivery tags, ascending (Set keeps insertion order and tags only grow). */
  readonly unacked: Set<number>;
}

interface ConsumeOptions {
  prefetch?: number;
  filter?: (m: Message) => boolean;
  exclusive?: boolean;
  /** Stream consumer arguments (x-stream-offset, x-stream-consumer-name). */
  arguments?: FieldTable;
}

export class Subscriptions {
  private readonly subs = new Map<string, Subscription>();

  constructor(
    private readonly ctx: StompContext,
    private readonly queues: ConnectionQueues,
    private readonly acks: Acks,
  ) {}

  async subscribe(frame: Frame): Promise<void> {
    const h = frame.headers;
    const dest = parseDestination(h['destination']);
    let id = h['id'];
    if (id === undefined) {
      if (this.ctx.version >= 11)
        throw new StompProtocolError('Missing header', 'SUBSCRIBE requires an id header');
      id = h['destination']!; // STOMP 1.0: the destination identifies the subscription
    }
    if (this.subs.has(id))
      throw new StompProtocolError('Duplicate subscription', `subscription id '${id}' is already in use`);
    this.checkRoom();
    const ack = ackMode(h['ack']);
    const opts = consumeOptions(h);
    const q = await subscriptionQueue(this.ctx, this.queues, dest, frame, id);
    await this.start(id, ack, q.queue, q.destination, q.durableQueue, opts);
    this.ctx.receipt(frame);
  }

  async unsubscribe(frame: Frame): Promise<void> {
    const h = frame.headers;
    const id = h['id'] ?? (this.ctx.version === 10 ? h['destination'] : undefined);
    if (id === undefined) throw new StompProtocolError('Missing header', 'UNSUBSCRIBE requires an id header');
    const sub = this.subs.get(id);
    if (!sub) throw new StompProtocolError('Unknown subscription', `no subscription with id '${id}'`);
    this.subs.delete(id);
    await this.ctx.session.cancel(sub.consumerTag);
    if (sub.durableQueue !== undefined && wantsDurable(h)) {
      // Removing a durable subscription for good (RabbitMQ: UNSUBSCRIBE with durable:true).
      await this.ctx.session.deleteQueue(sub.durableQueue);
    }
    this.ctx.receipt(frame);
  }

  /**
   * The real queue behind /temp-queue/<name>, used as a SEND destination or reply-to: it is
   * subscribed automatically (subscription id = the temp-queue destination, auto ack), as
   * RabbitMQ does.
   */
  async replyQueue(name: string): Promise<string> {
    const real = await this.queues.ensureTempQueue(name);
    const subId = '/temp-queue/' + name;
    if (!this.subs.has(subId) && ![...this.subs.values()].some((s) => s.queue === real))
      await this.start(subId, 'auto', real, subId, undefined, {});
    return real;
  }

  private checkRoom(): void {
    const max = this.ctx.cfg.maxSubscriptions;
    if (this.subs.size >= max)
      throw new StompProtocolError('Too many subscriptions', `at most ${max} subscriptions per connection`);
  }

  private async start(
    id: string,
    ack: AckMode,
    queue: string,
    destination: string | undefined,
    durableQueue: string | undefined,
    opts: ConsumeOptions,
  ): Promise<void> {
    this.checkRoom(); // here too: reply-to temp queues subscribe implicitly
    const sub: Subscription = {
      id,
      ack,
      consumerTag: '',
      queue,
      destination,
      durableQueue,
      unacked: new Set(),
    };
    // Registered before consume() resolves: deliveries may start before it does.
    this.subs.set(id, sub);
    try {
      sub.consumerTag = await this.ctx.session.consume(
        queue,
        { noAck: ack === 'auto', ...opts },
        {
          deliver: (d) => this.deliver(sub, d),
          cancelled: (reason) => {
            this.subs.delete(sub.id);
            this.ctx.errorAndClose({
              message: 'Subscription cancelled',
              detail: `subscription '${sub.id}' cancelled by the broker: ${reason.message}`,
              internal: false,
            });
          },
        },
      );
    } catch (err) {
      this.subs.delete(id);
      throw err;
    }
  }

  /** The hot path: one MESSAGE frame per delivery. false tells the core to pause until drain. */
  private deliver(sub: Subscription, d: Delivery): boolean {
    const ctx = this.ctx;
    if (!ctx.isOpen()) return false;
    const tag = d.deliveryTag;
    const mid = String(tag);
    const h = [
      'subscription',
      sub.id,
      'message-id',
      mid,
      'destination',
      sub.destination ?? destinationOf(d.exchange, d.routingKey),
      'redelivered',
      d.redelivered ? 'true' : 'false',
    ];
    if (sub.ack !== 'auto') {
      if (ctx.version >= 12) h.push('ack', mid);
      this.acks.track(sub, tag);
    }
    appendPropertyHeaders(h, d.message.properties);
    const body = d.message.body;
    if (body.length >= ZERO_COPY_BODY) {
      // Large bodies go out by reference: the message's Buffer is shared, never copied.
      return ctx.writeParts(Buffer.from(encodeHead('MESSAGE', h, body.length, ctx.version), 'utf8'), body);
    }
    return ctx.write(encodeFrame('MESSAGE', h, body, ctx.version));
  }
}

function ackMode(v: string | undefined): AckMode {
  const ack = v ?? 'auto';
  if (ack !== 'auto' && ack !== 'client' && ack !== 'client-individual')
    throw new StompProtocolError(
      'Invalid ack mode',
      `ack must be auto, client or client-individual, got '${ack.slice(0, 32)}'`,
    );
  return ack;
}

/** prefetch-count, selector, exclusive and stream arguments: how the core consumer takes messages. */
function consumeOptions(h: Record<string, string>): ConsumeOptions {
  const opts: ConsumeOptions = {};
  const args = consumerArguments(h);
  if (args) opts.arguments = args;
  const pc = h['prefetch-count'];
  if (pc !== undefined) {
    if (!/^\d{1,9}$/.test(pc.trim()))
      throw new HeaderError(`prefetch-count must be a non-negative integer, got '${pc.slice(0, 32)}'`);
    opts.prefetch = Number(pc.trim());
  }
  const selector = h['selector'];
  if (selector !== undefined && selector.trim() !== '') {
    try {
      opts.filter = compileSelector(selector);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new StompProtocolError(
        'Invalid selector',
        `invalid selector '${selector.slice(0, 200)}': ${why}`,
      );
    }
  }
  if (booleanHeader(h, 'exclusive') === true) opts.exclusive = true;
  return opts;
}
