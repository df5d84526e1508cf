/**
 * One AMQP channel: content assembly (method + header + body frames, §4.2.6), strict
 * in-order processing of methods (a publish after a declare waits for the declare), soft
 * errors (channel.close with the reply code), and the bridge between the core Session and
 * the wire: consumer sinks, confirms, returns, transactions.
 */
import {
  BrokerError,
  type Delivery,
  type DeliverySink,
  type Message,
  type MessageProperties,
  type Session,
  type Transaction,
} from '@junction/core';
import { asBrokerError, closeArgs } from './close-codes.js';
import {
  FrameType,
  decodeContentHeader,
  decodeMethod,
  encodeContent,
  type AmqpMethod,
} from './wire/index.js';
import type { AmqpConnection } from './connection.js';
import { handlers } from './handlers/index.js';

interface ContentInProgress {
  readonly exchange: string;
  readonly routingKey: string;
  readonly mandatory: boolean;
  properties: MessageProperties | undefined;
  /** The header's encoded properties, reused verbatim when the message is delivered over AMQP. */
  propertyBytes: Buffer | undefined;
  bodySize: number;
  received: number;
  chunks: Buffer[];
}

const PUBLISH_CLASS = 60;
const PUBLISH_METHOD = 40;

export class AmqpChannel {
  /** publisher confirms: the next publish sequence number (§ confirm.select, RabbitMQ extension). */
  confirm = false;
  private publishSeq = 0;
  tx: Transaction | undefined;
  /** AMQP 0-9-1 queue.declare: an empty queue name later on the channel means this one. */
  lastQueue = '';
  private content: ContentInProgress | undefined;
  private busy = false;
  private readonly backlog: (() => void)[] = [];
  private closed = false;
  private confirmedUpTo = 0;
  private ackScheduled = false;

  constructor(
    readonly conn: AmqpConnection,
    readonly number: number,
    readonly session: Session,
  ) {}

  // ---- frames in ------------------------------------------------------------------------------

  onFrame(type: number, payload: Buffer): void {
    if (type === FrameType.METHOD) {
      // §4.2.6: content frames of a publish must follow it with nothing in between.
      if (this.content)
        throw new BrokerError(
          'UNEXPECTED_FRAME',
          `UNEXPECTED_FRAME - expected content frame on channel ${this.number}, got a method`,
        );
      const m = decodeMethod(payload);
      if (m.classId === PUBLISH_CLASS && m.methodId === PUBLISH_METHOD) {
        const a = m.args as { exchange: string; routingKey: string; mandatory: boolean; immediate: boolean };
        // RabbitMQ dropped immediate in 3.0 and refuses it the same way.
        if (a.immediate) throw new BrokerError('NOT_IMPLEMENTED', 'NOT_IMPLEMENTED - immediate=true');
        this.content = {
          exchange: a.exchange,
          routingKey: a.routingKey,
          mandatory: a.mandatory,
          properties: undefined,
          propertyBytes: undefined,
          bodySize: 0,
          received: 0,
          chunks: [],
        };
        return;
      }
      this.onMethod(m);
      return;
    }
    const c = this.content;
    if (type === FrameType.HEADER) {
      if (!c || c.properties)
        throw new BrokerError(
          'UNEXPECTED_FRAME',
          `UNEXPECTED_FRAME - unexpected content header on channel ${this.number}`,
        );
      const h = decodeContentHeader(payload);
      if (h.classId !== PUBLISH_CLASS)
        throw new BrokerError('UNEXPECTED_FRAME', `UNEXPECTED_FRAME - content header for class ${h.classId}`);
      c.properties = h.properties;
      c.propertyBytes = h.propertyBytes;
      c.bodySize = h.bodySize;
      if (h.bodySize > this.conn.config.maxMessageSize) {
        this.content = undefined;
        this.softError(
          new BrokerError(
            'PRECONDITION_FAILED',
            `PRECONDITION_FAILED - message size ${h.bodySize} is larger than configured max size ${this.conn.config.maxMessageSize}`,
          ),
          PUBLISH_CLASS,
          PUBLISH_METHOD,
        );
        return;
      }
      if (h.bodySize === 0) this.completePublish(c, Buffer.alloc(0));
      return;
    }
    if (type === FrameType.BODY) {
      if (!c || !c.properties)
        throw new BrokerError(
          'UNEXPECTED_FRAME',
          `UNEXPECTED_FRAME - unexpected content body on channel ${this.number}`,
        );
      c.received += payload.length;
      if (c.received > c.bodySize)
        throw new BrokerError(
          'FRAME_ERROR',
          `FRAME_ERROR - content body exceeds the declared size ${c.bodySize}`,
        );
      if (c.received === c.bodySize && c.chunks.length === 0) {
        this.completePublish(c, payload);
        return;
      }
      c.chunks.push(payload);
      if (c.received === c.bodySize) this.completePublish(c, Buffer.concat(c.chunks, c.bodySize));
      return;
    }
    throw new BrokerError('FRAME_ERROR', `FRAME_ERROR - unknown frame type ${type}`);
  }

  private onMethod(m: AmqpMethod): void {
    if (m.name === 'channel.close') {
      this.run(m, async () => {
        await this.release();
        this.conn.channels.delete(this.number);
        this.conn.sendMethod(this.number, 'channel.close-ok', {});
      });
      return;
    }
    const handler = handlers[m.name] as
      ((ch: AmqpChannel, args: unknown) => void | Promise<void>) | undefined;
    if (!handler) {
      // Methods only a server sends, or that this server does not implement.
      throw new BrokerError('COMMAND_INVALID', `COMMAND_INVALID - unexpected method ${m.name} from a client`);
    }
    this.run(m, () => handler(this, m.args));
  }

  /**
   * Runs a method's handler in order with the ones before it. Synchronous handlers (the
   * hot path: publish, ack) run at once while nothing is pending; an async one (declares
   * that may wait for the store) holds back everything after it on this channel.
   */
  private run(m: { classId: number; methodId: number }, fn: () => void | Promise<void>): void {
    if (this.busy) {
      this.backlog.push(() => this.run(m, fn));
      return;
    }
    let r: void | Promise<void>;
    try {
      r = fn();
    } catch (err) {
      this.fail(err, m.classId, m.methodId);
      return;
    }
    if (r instanceof Promise) {
      this.busy = true;
      r.then(
        () => this.next(),
        (err: unknown) => {
          this.fail(err, m.classId, m.methodId);
          this.next();
        },
      );
    }
  }

  private next(): void {
    this.busy = false;
    while (!this.busy && this.backlog.length > 0 && !this.closed) this.backlog.shift()!();
    if (this.closed) this.backlog.length = 0;
  }

  private fail(err: unknown, classId: number, methodId: number): void {
    const e = asBrokerError(err);
    if (e.code === 'INTERNAL_ERROR')
      this.conn.log.error({ err, conn: this.conn.id, channel: this.number }, 'internal error');
    if (e.scope === 'connection') this.conn.hardError(e, classId, methodId);
    else this.softError(e, classId, methodId);
  }

  // ---- publishing -----------------------------------------------------------------------------

  private completePublish(c: ContentInProgress, body: Buffer): void {
    this.content = undefined;
    const msg: Message = {
      exchange: c.exchange,
      routingKey: c.routingKey,
      properties: c.properties ?? {},
      body,
      encodedProperties: c.propertyBytes && { protocol: 'amqp', bytes: c.propertyBytes },
    };
    this.run({ classId: PUBLISH_CLASS, methodId: PUBLISH_METHOD }, () => this.publish(msg, c.mandatory));
  }

  private publish(msg: Message, mandatory: boolean): void {
    if (this.tx) {
      this.tx.publish(msg, { mandatory });
      return;
    }
    if (this.confirm) {
      const seq = ++this.publishSeq;
      this.session.publish(msg, { mandatory }, (o) => {
        if (o.returned) this.sendReturn(msg, o.returned);
        this.confirmed(seq, o.ok);
      });
    } else if (mandatory) {
      this.session.publish(msg, { mandatory }, (o) => {
        if (o.returned) this.sendReturn(msg, o.returned);
      });
    } else {
      this.session.publish(msg);
    }
  }

  /** Outcomes arrive in publish order: acks are coalesced into one basic.ack(multiple) per turn. */
  private confirmed(seq: number, ok: boolean): void {
    if (this.closed) return;
    if (ok) {
      this.confirmedUpTo = seq;
      if (!this.ackScheduled) {
        this.ackScheduled = true;
        setImmediate(() => this.flushAcks());
      }
      return;
    }
    this.flushAcks();
    this.confirmedUpTo = seq;
    this.lastAcked = seq;
    this.conn.sendMethod(this.number, 'basic.nack', { deliveryTag: seq, multiple: false, requeue: false });
  }

  private lastAcked = 0;

  private flushAcks(): void {
    this.ackScheduled = false;
    if (this.closed || this.confirmedUpTo <= this.lastAcked) return;
    const multiple = this.confirmedUpTo - this.lastAcked > 1;
    this.conn.sendMethod(this.number, 'basic.ack', { deliveryTag: this.confirmedUpTo, multiple });
    this.lastAcked = this.confirmedUpTo;
  }

  enableConfirms(): void {
    this.confirm = true;
  }

  sendReturn(msg: Message, r: { replyCode: number; replyText: string }): void {
    if (this.closed) return;
    this.conn.link.send(
      encodeContent(
        this.number,
        this.conn.frameMax,
        'basic.return',
        {
          replyCode: r.replyCode,
          replyText: r.replyText,
          exchange: msg.exchange,
          routingKey: msg.routingKey,
        },
        msg,
      ),
    );
  }

  // ---- delivering -----------------------------------------------------------------------------

  /** A DeliverySink writing basic.deliver frames; false when the socket is full. */
  sink(consumerTag: string): DeliverySink {
    return {
      deliver: (d: Delivery) => {
        if (this.closed) return false;
        let frames: Buffer[];
        try {
          frames = encodeContent(
            this.number,
            this.conn.frameMax,
            'basic.deliver',
            {
              consumerTag: d.consumerTag,
              deliveryTag: d.deliveryTag,
              redelivered: d.redelivered,
              exchange: d.exchange,
              routingKey: d.routingKey,
            },
            d.message,
          );
        } catch (err) {
          // A message we cannot encode is a broker bug: close this connection (its unacked
          // messages are requeued) rather than let the error unwind into the core.
          this.conn.log.error({ err, conn: this.conn.id }, 'cannot encode a delivery');
          this.conn.hardError(asBrokerError(err));
          return false;
        }
        return this.conn.link.send(frames);
      },
      cancelled: (reason) => {
        // RabbitMQ consumer cancel notify: tell clients that asked for it.
        if (this.closed) return;
        this.conn.log.debug({ channel: this.number, reason: reason.message }, 'consumer cancelled by broker');
        if (this.conn.capability('consumer_cancel_notify')) {
          this.conn.sendMethod(this.number, 'basic.cancel', { consumerTag, nowait: true });
        }
      },
    };
  }

  resume(): void {
    if (!this.closed) this.session.resume();
  }

  // ---- closing --------------------------------------------------------------------------------

  /** A soft error: channel.close with the reply code; the channel's frames are dropped until close-ok. */
  softError(err: BrokerError, classId: number, methodId: number): void {
    if (this.closed) return;
    this.conn.log.debug(
      { conn: this.conn.id, channel: this.number, code: err.replyCode, reason: err.message },
      'closing channel on error',
    );
    this.conn.sendMethod(this.number, 'channel.close', { ...closeArgs(err, classId, methodId) });
    this.conn.channels.delete(this.number);
    this.conn.closingChannels.add(this.number);
    void this.release();
  }

  /** Requeues unacked deliveries and cancels consumers. */
  release(): Promise<void> {
    this.closed = true;
    this.content = undefined;
    this.backlog.length = 0;
    return this.session.close();
  }
}
