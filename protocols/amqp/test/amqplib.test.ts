/**
 * The AMQP server driven by amqplib, the client most Node.js users run against RabbitMQ,
 * over real loopback sockets.
 */
import * as callbackApi from 'amqplib/callback_api';
import amqp, { type Channel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { until } from '@junction/testkit';
import { amqplibFixture } from './amqplib-fixture.js';

const fx = amqplibFixture({ frameMax: 131072 });
const connect = fx.connect;

/** Waits for a channel to be closed by the server and returns the error it carried. */
function closedWith(ch: Channel): Promise<{ code?: number; message: string }> {
  return new Promise((resolve) => ch.once('error', (e: { code?: number; message: string }) => resolve(e)));
}

let qn = 0;
const qname = (p = 'q') => `${p}-${++qn}`;

function collect(ch: Channel, queue: string, opts: { noAck?: boolean } = {}) {
  const got: ConsumeMessage[] = [];
  const ready = ch.consume(queue, (m) => m && got.push(m), { noAck: opts.noAck ?? true });
  return { got, ready };
}

describe('AMQP 0-9-1 with amqplib (promise API)', () => {
  it('declares, publishes, consumes and acks', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = qname();
    const ok = await ch.assertQueue(q);
    expect(ok).toEqual({ queue: q, messageCount: 0, consumerCount: 0 });
    ch.sendToQueue(q, Buffer.from('hello'), {
      contentType: 'text/plain',
      headers: { a: 1, nested: { b: 'x' } },
      messageId: 'm1',
    });
    const got: ConsumeMessage[] = [];
    await ch.consume(q, (m) => m && got.push(m));
    await until(() => got.length === 1, 'delivery');
    const m = got[0]!;
    expect(m.content.toString()).toBe('hello');
    expect(m.properties.contentType).toBe('text/plain');
    expect(m.properties.messageId).toBe('m1');
    expect(m.properties.headers).toMatchObject({ a: 1, nested: { b: 'x' } });
    expect(m.fields.redelivered).toBe(false);
    expect(fx.server.broker.vhost('/').queues.get(q)!.unacked).toBe(1);
    ch.ack(m);
    await until(() => fx.server.broker.vhost('/').queues.get(q)!.unacked === 0, 'the ack to reach the queue');
  });

  it('routes through exchanges, exchange-to-exchange bindings and an alternate exchange', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    await ch.assertExchange('e2e-src', 'topic');
    await ch.assertExchange('e2e-dst', 'fanout');
    await ch.assertExchange('e2e-ae', 'fanout');
    await ch.assertExchange('e2e-with-ae', 'direct', { alternateExchange: 'e2e-ae' });
    await ch.bindExchange('e2e-dst', 'e2e-src', 'metrics.#');
    const q1 = (await ch.assertQueue('', { exclusive: true })).queue;
    const q2 = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q1, 'e2e-dst', '');
    await ch.bindQueue(q2, 'e2e-ae', '');
    ch.publish('e2e-src', 'metrics.cpu.load', Buffer.from('via-e2e'));
    ch.publish('e2e-src', 'logs.x', Buffer.from('dropped'));
    ch.publish('e2e-with-ae', 'nobody', Buffer.from('via-ae'));
    const a = collect(ch, q1);
    const b = collect(ch, q2);
    await Promise.all([a.ready, b.ready]);
    await until(() => a.got.length === 1 && b.got.length === 1, 'routed messages');
    expect(a.got[0]!.content.toString()).toBe('via-e2e');
    expect(b.got[0]!.content.toString()).toBe('via-ae');
    expect(a.got[0]!.fields.exchange).toBe('e2e-src');
  });

  it('delivers a mixed-priority backlog strictly highest priority first', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = qname('prio');
    await ch.assertQueue(q, { maxPriority: 10 });
    const prios = Array.from({ length: 200 }, (_, i) => (i * 7) % 11);
    for (const [i, p] of prios.entries()) ch.sendToQueue(q, Buffer.from(`${p}:${i}`), { priority: p });
    await until(async () => (await ch.checkQueue(q)).messageCount === 200, 'backlog');
    const { got, ready } = collect(ch, q);
    await ready;
    await until(() => got.length === 200, 'all deliveries');
    const seen = got.map((m) => m.content.toString().split(':').map(Number) as [number, number]);
    // Strict: priorities never increase; within a priority, publish order.
    for (let i = 1; i < seen.length; i++) {
      const [p0, i0] = seen[i - 1]!;
      const [p1, i1] = seen[i]!;
      expect(p1 <= p0).toBe(true);
      if (p1 === p0) expect(i1 > i0).toBe(true);
    }
    expect(seen[0]![0]).toBe(10);
  });

  it('expires messages by queue TTL and per-message TTL into a dead-letter queue with x-death', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const dlq = qname('dlq');
    const q = qname('ttl');
    await ch.assertQueue(dlq);
    await ch.assertQueue(q, { messageTtl: 50, deadLetterExchange: '', deadLetterRoutingKey: dlq });
    ch.sendToQueue(q, Buffer.from('queue-ttl'));
    ch.sendToQueue(q, Buffer.from('msg-ttl'), { expiration: '10' });
    const { got, ready } = collect(ch, dlq);
    await ready;
    await until(() => got.length === 2, 'dead letters');
    const reasons = got.map(
      (m) => (m.properties.headers!['x-death'] as { reason: string; queue: string }[])[0],
    );
    expect(reasons.every((d) => d!.reason === 'expired' && d!.queue === q)).toBe(true);
    expect(got.map((m) => m.properties.headers!['x-first-death-reason'])).toEqual(['expired', 'expired']);
  });

  it('dead-letters rejected messages and nacked ones with requeue=false', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    await ch.assertExchange('dlx-fanout', 'fanout');
    const dlq = qname('dlq');
    const q = qname('work');
    await ch.assertQueue(dlq);
    await ch.bindQueue(dlq, 'dlx-fanout', '');
    await ch.assertQueue(q, { deadLetterExchange: 'dlx-fanout' });
    ch.sendToQueue(q, Buffer.from('a'));
    ch.sendToQueue(q, Buffer.from('b'));
    const work: ConsumeMessage[] = [];
    await ch.consume(q, (m) => m && work.push(m));
    await until(() => work.length === 2, 'deliveries');
    ch.reject(work[0]!, false);
    ch.nack(work[1]!, false, false);
    const { got, ready } = collect(ch, dlq);
    await ready;
    await until(() => got.length === 2, 'dead letters');
    expect(got.map((m) => (m.properties.headers!['x-death'] as { reason: string }[])[0]!.reason)).toEqual([
      'rejected',
      'rejected',
    ]);
  });

  it('applies x-max-length with drop-head, reject-publish and reject-publish-dlx (nacks with confirms)', async () => {
    const c = await connect();
    const ch = await c.createConfirmChannel();
    const dlq = qname('dlq');
    await ch.assertQueue(dlq);
    const results: Record<string, boolean[]> = {};
    for (const overflow of ['drop-head', 'reject-publish', 'reject-publish-dlx'] as const) {
      const q = qname(overflow);
      await ch.assertQueue(q, {
        maxLength: 2,
        arguments: { 'x-overflow': overflow },
        deadLetterExchange: '',
        deadLetterRoutingKey: dlq,
      });
      results[overflow] = await Promise.all(
        ['1', '2', '3'].map(
          (b) => new Promise<boolean>((r) => ch.sendToQueue(q, Buffer.from(b), {}, (err) => r(!err))),
        ),
      );
      const left: string[] = [];
      for (let m = await ch.get(q, { noAck: true }); m; m = await ch.get(q, { noAck: true }))
        left.push(m.content.toString());
      expect(left).toEqual(overflow === 'drop-head' ? ['2', '3'] : ['1', '2']);
    }
    expect(results).toEqual({
      'drop-head': [true, true, true],
      'reject-publish': [true, true, false],
      'reject-publish-dlx': [true, true, false],
    });
    // drop-head dead-letters the dropped head; reject-publish-dlx dead-letters the refused message.
    const dead: string[] = [];
    for (let m = await ch.get(dlq, { noAck: true }); m; m = await ch.get(dlq, { noAck: true }))
      dead.push(m.content.toString());
    expect(dead).toEqual(['1', '3']);
  });

  it('confirms every publish and returns unroutable mandatory messages before their confirm', async () => {
    const c = await connect();
    const ch: ConfirmChannel = await c.createConfirmChannel();
    const q = qname();
    await ch.assertQueue(q);
    const events: string[] = [];
    ch.on('return', (m: ConsumeMessage) =>
      events.push(`return:${m.content.toString()}:${m.fields.routingKey}`),
    );
    for (let i = 0; i < 500; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await ch.waitForConfirms();
    expect((await ch.checkQueue(q)).messageCount).toBe(500);
    await new Promise<void>((resolve, reject) =>
      ch.publish('amq.direct', 'no-such-key', Buffer.from('lost'), { mandatory: true }, (err) => {
        events.push('confirm');
        if (err) reject(err);
        else resolve();
      }),
    );
    expect(events).toEqual(['return:lost:no-such-key', 'confirm']);
  });

  it('respects prefetch under load', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = qname('prefetch');
    await ch.assertQueue(q);
    await ch.prefetch(10);
    let outstanding = 0;
    let maxOutstanding = 0;
    let done = 0;
    await ch.consume(q, (m) => {
      if (!m) return;
      outstanding++;
      maxOutstanding = Math.max(maxOutstanding, outstanding);
      setImmediate(() => {
        outstanding--;
        done++;
        ch.ack(m);
      });
    });
    for (let i = 0; i < 2000; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await until(() => done === 2000, 'all acked', 15_000);
    expect(maxOutstanding).toBe(10);
  });

  it('requeues unacked messages on cancel, channel close and connection close, flagged redelivered', async () => {
    const q = qname('requeue');
    const setup = await (await connect()).createChannel();
    await setup.assertQueue(q);
    for (let i = 0; i < 3; i++) setup.sendToQueue(q, Buffer.from(String(i)));

    // consumer cancelled: unacked messages stay with the channel until it closes
    const c1 = await connect();
    const ch1 = await c1.createChannel();
    const got1: ConsumeMessage[] = [];
    const { consumerTag } = await ch1.consume(q, (m) => m && got1.push(m));
    await until(() => got1.length === 3, 'first deliveries');
    await ch1.cancel(consumerTag);
    await ch1.close(); // channel close requeues
    await until(async () => (await setup.checkQueue(q)).messageCount === 3, 'requeue after channel close');

    const c2 = await connect();
    const ch2 = await c2.createChannel();
    const got2: ConsumeMessage[] = [];
    await ch2.consume(q, (m) => m && got2.push(m));
    await until(() => got2.length === 3, 'redeliveries');
    expect(got2.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([
      ['0', true],
      ['1', true],
      ['2', true],
    ]);
    await c2.close(); // connection close requeues
    await until(async () => (await setup.checkQueue(q)).messageCount === 3, 'requeue after connection close');

    const ch3 = await (await connect()).createChannel();
    const m = await ch3.get(q);
    if (!m) throw new Error('expected a message');
    expect(m.fields.redelivered).toBe(true);
    ch3.nack(m, false, true); // nack requeue puts it back first in line
    const again = await ch3.get(q, { noAck: true });
    expect(again && again.content.toString()).toBe('0');
  });

  it('carries messages larger than frame-max, split into body frames', async () => {
    const c = await connect({}, `${fx.server.url}?frameMax=4096`);
    const ch = await c.createChannel();
    const q = qname('big');
    await ch.assertQueue(q);
    const body = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    ch.sendToQueue(q, body);
    ch.sendToQueue(q, Buffer.alloc(4096 - 8, 7)); // exactly one full body frame
    const { got, ready } = collect(ch, q);
    await ready;
    await until(() => got.length === 2, 'large messages', 15_000);
    expect(got[0]!.content.equals(body)).toBe(true);
    expect(got[1]!.content.length).toBe(4088);
  });

  it('gets, purges and deletes with if-unused / if-empty', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = qname();
    await ch.assertQueue(q);
    expect(await ch.get(q)).toBe(false);
    ch.sendToQueue(q, Buffer.from('1'));
    ch.sendToQueue(q, Buffer.from('2'));
    const m = await ch.get(q, { noAck: true });
    expect(m && m.fields.messageCount).toBe(1);
    const ch2 = await c.createChannel();
    const err = closedWith(ch2);
    const refused = ch2.deleteQueue(q, { ifEmpty: true });
    expect((await err).message).toMatch(/406/);
    await expect(refused).rejects.toThrow(/406/);
    expect(await ch.purgeQueue(q)).toEqual({ messageCount: 1 });
    expect(await ch.deleteQueue(q, { ifEmpty: true, ifUnused: true })).toEqual({ messageCount: 0 });
  });

  it('notifies consumers when their queue is deleted (consumer cancel notify)', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = qname();
    await ch.assertQueue(q);
    let cancelled = false;
    await ch.consume(q, (m) => {
      if (m === null) cancelled = true;
    });
    const other = await c.createChannel();
    await other.deleteQueue(q);
    await until(() => cancelled, 'basic.cancel from the server');
  });

  it('blocks an exclusive queue from other connections and deletes it when its owner goes', async () => {
    const owner = await connect();
    const ch = await owner.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    expect(queue).toMatch(/^amq\.gen-/);
    const other = await (await connect()).createChannel();
    const err = closedWith(other);
    const refused = other.consume(queue, () => {});
    expect((await err).message).toMatch(/405/);
    await expect(refused).rejects.toThrow(/405/);
    await owner.close();
    await until(() => !fx.server.broker.vhost('/').queues.has(queue), 'exclusive queue deletion');
  });
});

describe('AMQP 0-9-1 errors with amqplib', () => {
  it('closes only the offending channel on a soft error; the connection keeps working', async () => {
    const c = await connect();
    const bad = await c.createChannel();
    const good = await c.createChannel();
    const err = closedWith(bad);
    bad.publish('no-such-exchange', 'k', Buffer.from('x'));
    expect((await err).message).toMatch(/404/);
    const q = qname();
    await good.assertQueue(q);
    good.sendToQueue(q, Buffer.from('still fine'));
    await until(async () => (await good.checkQueue(q)).messageCount === 1, 'publish on the good channel');
  });

  it('answers an unknown delivery tag with 406 PRECONDITION_FAILED', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const err = closedWith(ch);
    ch.ack({ fields: { deliveryTag: 999 } } as ConsumeMessage);
    expect((await err).message).toMatch(/406.*unknown delivery tag 999/);
  });

  it('refuses inequivalent redeclaration with 406 and unknown exchange types with a 503 connection close', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    await ch.assertQueue('equiv', { durable: false });
    const err = closedWith(ch);
    const refused = ch.assertQueue('equiv', { durable: true });
    expect((await err).message).toMatch(/406.*inequivalent arg 'durable'/);
    await expect(refused).rejects.toThrow(/406/);

    const c2 = await connect();
    const connErr = new Promise<Error>((r) => c2.once('error', r));
    const ch2 = await c2.createChannel();
    ch2.on('error', () => {});
    const refusedExchange = ch2.assertExchange('bad-type', 'no-such-type');
    expect((await connErr).message).toMatch(/503/);
    await expect(refusedExchange).rejects.toThrow(/Channel ended/);
  });

  it('resolves x-queue-type through the queue types: classic declares, an unknown type is a 406 naming it', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = qname('typed');
    await ch.assertQueue(q, { arguments: { 'x-queue-type': 'classic' } });
    expect(fx.server.broker.vhost('/').queues.get(q)!.type.name).toBe('classic');
    const err = closedWith(ch);
    const refused = ch.assertQueue(qname('quorum'), { arguments: { 'x-queue-type': 'quorum' } });
    await expect(refused).rejects.toThrow(/406/);
    expect((await err).message).toMatch(
      /406.*invalid arg 'x-queue-type': 'quorum' is not a queue type of this broker \(classic, stream, mirrored\)/,
    );
    // Only the channel closed: the connection declares on.
    const ch2 = await c.createChannel();
    expect((await ch2.checkQueue(q)).queue).toBe(q);
  });

  it('refuses x-session-owned from a client with 406: the broker marks MQTT shared-subscription queues with it', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const err = closedWith(ch);
    const q = qname('owned');
    const refused = ch.assertQueue(q, { durable: true, arguments: { 'x-session-owned': true } });
    await expect(refused).rejects.toThrow(/406/);
    expect((await err).message).toMatch(/406.*invalid arg 'x-session-owned': reserved/);
    expect(fx.server.broker.vhost('/').queues.has(q)).toBe(false);
  });

  it('rejects bad credentials (403) and unknown vhosts (530)', async () => {
    await expect(amqp.connect(`amqp://guest:wrong@127.0.0.1:${fx.server.port}`)).rejects.toThrow(
      /ACCESS_REFUSED|403/,
    );
    // amqplib reports a refused connection.open without its code; protocol.test.ts checks the 530 on the wire.
    await expect(amqp.connect(`amqp://guest:guest@127.0.0.1:${fx.server.port}/nope`)).rejects.toThrow(
      /ConnectionClose/,
    );
  });

  it('authenticates with AMQPLAIN too', async () => {
    const c = await connect({ credentials: amqp.credentials.amqplain('guest', 'guest') });
    const ch = await c.createChannel();
    await ch.checkExchange('amq.topic');
  });
});

describe('AMQP 0-9-1 with amqplib (callback API)', () => {
  it('publishes and consumes', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      callbackApi.connect(fx.server.url, (err, conn) => {
        if (err) return reject(err);
        conn.createChannel((err2, ch) => {
          if (err2) return reject(err2);
          ch.assertQueue('', { exclusive: true }, (err3, ok) => {
            if (err3) return reject(err3);
            ch.consume(ok.queue, (m) => {
              if (!m) return;
              ch.ack(m);
              conn.close(() => resolve(m.content.toString()));
            });
            ch.sendToQueue(ok.queue, Buffer.from('callback-api'));
          });
        });
      });
    });
    expect(body).toBe('callback-api');
  });
});
