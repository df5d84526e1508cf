/**
 * SEND: the destination's exchange and routing key (declaring a /queue/ or temp queue on
 * first use), the reply-to rewrite for temp queues, and the publish, whose RECEIPT waits for
 * the core's outcome (for a persistent message, its durable commit).
 */
import { createMessage } from '@junction/core';
import type { StompContext } from './context.js';
import { DestinationError, parseDestination, type Destination } from './destinations.js';
import { propertiesFromSend, queueArguments } from './headers.js';
import type { Frame } from './parser.js';
import type { ConnectionQueues } from './queues.js';
import type { Subscriptions } from './subscriptions.js';
import type { Transactions } from './transactions.js';

type Route = readonly [exchange: string, routingKey: string];

export class SendRouter {
  private pendingReceipts = 0;
  private receiptWaiters: Array<() => void> = [];

  constructor(
    private readonly ctx: StompContext,
    private readonly queues: ConnectionQueues,
    private readonly subs: Subscriptions,
    private readonly txs: Transactions,
  ) {}

  /** Synchronous unless the destination or the reply-to queue must be declared first. */
  send(frame: Frame): void | Promise<void> {
    const h = frame.headers;
    const dest = parseDestination(h['destination']);
    const txId = h['transaction'];
    if (txId !== undefined) this.txs.get(txId); // an unknown transaction fails before any declare
    let replyTo = h['reply-to'];
    let tempReply: string | undefined;
    if (replyTo !== undefined && replyTo.startsWith('/temp-queue/')) {
      tempReply = replyTo.slice('/temp-queue/'.length);
      if (tempReply.length === 0) throw new DestinationError('Invalid reply-to: temp queue name is empty');
      const real = this.queues.tempQueue(tempReply);
      if (real !== undefined) {
        replyTo = '/reply-queue/' + real;
        tempReply = undefined;
      }
    }
    const route = this.knownRoute(dest);
    if (route === undefined || tempReply !== undefined) {
      return (async () => {
        const r = route ?? (await this.declareRoute(dest, frame));
        if (tempReply !== undefined) replyTo = '/reply-queue/' + (await this.subs.replyQueue(tempReply));
        this.publish(frame, r, replyTo);
      })();
    }
    this.publish(frame, route, replyTo);
  }

  /** Resolves once every RECEIPT of an earlier SEND went out (DISCONNECT's receipt promises that). */
  async settled(): Promise<void> {
    if (this.pendingReceipts > 0) await new Promise<void>((r) => this.receiptWaiters.push(r));
  }

  /** The route when no async work is needed, undefined otherwise. */
  private knownRoute(d: Destination): Route | undefined {
    switch (d.kind) {
      case 'queue':
        return this.queues.isDeclared(d.name) ? ['', d.name] : undefined;
      case 'topic':
        return ['amq.topic', d.key];
      case 'exchange':
        return [d.exchange, d.key];
      case 'amq-queue':
      case 'reply-queue':
        return ['', d.name];
      case 'temp-queue': {
        const real = this.queues.tempQueue(d.name);
        return real === undefined ? undefined : ['', real];
      }
    }
  }

  private async declareRoute(d: Destination, frame: Frame): Promise<Route> {
    if (d.kind === 'queue') {
      // The SEND that creates the queue sets its x- arguments, as RabbitMQ's plugin does.
      await this.queues.declare(d.name, queueArguments(frame.headers));
      return ['', d.name];
    }
    if (d.kind === 'temp-queue') return ['', await this.subs.replyQueue(d.name)];
    return this.knownRoute(d)!;
  }

  private publish(frame: Frame, [exchange, routingKey]: Route, replyTo: string | undefined): void {
    const h = frame.headers;
    const msg = createMessage(exchange, routingKey, frame.body, propertiesFromSend(h, replyTo, Date.now()));
    const txId = h['transaction'];
    if (txId !== undefined) {
      this.txs.get(txId).tx.publish(msg);
      this.ctx.receipt(frame);
      return;
    }
    const receipt = h['receipt'];
    if (receipt === undefined) {
      this.ctx.session.publish(msg);
      return;
    }
    this.pendingReceipts++;
    this.ctx.session.publish(msg, undefined, (outcome) => {
      if (outcome.ok) this.ctx.send('RECEIPT', ['receipt-id', receipt]);
      else
        this.ctx.errorAndClose(
          {
            message: 'Message rejected',
            detail: `the message to '${h['destination']}' was not accepted`,
            internal: false,
          },
          receipt,
        );
      if (--this.pendingReceipts === 0) {
        const w = this.receiptWaiters;
        this.receiptWaiters = [];
        for (const f of w) f();
      }
    });
  }
}
