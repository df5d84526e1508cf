/**
 * RabbitMQ's extensions and queue features that need more than one client to observe:
 * consumer priorities, single active consumer, x-expires, basic.recover,
 * connection.blocked, internal exchanges.
 */
import type { ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { until } from '@junction/testkit';
import { amqplibFixture } from './amqplib-fixture.js';

const fx = amqplibFixture();
const connect = fx.connect;

describe('AMQP extensions', () => {
  it('gives messages to the highest-priority consumer with credit (x-priority)', async () => {
    const ch = await (await connect()).createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.prefetch(2);
    const low: ConsumeMessage[] = [];
    const high: ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && low.push(m), { priority: 1 });
    await ch.consume(queue, (m) => m && high.push(m), { priority: 10 });
    for (let i = 0; i < 5; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    // The high-priority consumer takes 2 (its prefetch), then the low one gets the rest it can.
    await until(() => high.length === 2 && low.length === 2, 'deliveries by priority');
    expect(high.map((m) => m.content.toString())).toEqual(['0', '1']);
    ch.ack(high[0]!);
    await until(() => high.length === 3, 'the freed high-priority slot to be used');
    expect(high[2]!.content.toString()).toBe('4');
  });

  it('delivers only to the single active consumer, then fails over when it goes', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = 'sac-queue';
    await ch.assertQueue(q, { arguments: { 'x-single-active-consumer': true } });
    const first: string[] = [];
    const second: string[] = [];
    const { consumerTag } = await ch.consume(q, (m) => m && first.push(m.content.toString()), {
      noAck: true,
    });
    await ch.consume(q, (m) => m && second.push(m.content.toString()), { noAck: true });
    ch.sendToQueue(q, Buffer.from('a'));
    ch.sendToQueue(q, Buffer.from('b'));
    await until(() => first.length === 2, 'active consumer deliveries');
    await ch.cancel(consumerTag);
    ch.sendToQueue(q, Buffer.from('c'));
    await until(() => second.length === 1, 'failover delivery');
    expect([first, second]).toEqual([['a', 'b'], ['c']]);
    await ch.deleteQueue(q);
  });

  it('deletes a queue unused for x-expires', async () => {
    const ch = await (await connect()).createChannel();
    await ch.assertQueue('expiring', { expires: 100 });
    await until(() => !fx.server.broker.vhost('/').queues.has('expiring'), 'queue expiry');
  });

  it('redelivers unacked messages on basic.recover', async () => {
    const ch = await (await connect()).createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const got: ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && got.push(m));
    ch.sendToQueue(queue, Buffer.from('x'));
    await until(() => got.length === 1, 'first delivery');
    await ch.recover();
    await until(() => got.length === 2, 'redelivery');
    expect(got[1]!.fields.redelivered).toBe(true);
    expect(got[1]!.fields.deliveryTag).toBeGreaterThan(got[0]!.fields.deliveryTag);
  });

  it('tells clients they are blocked while a resource alarm is set', async () => {
    const c = await connect();
    const events: string[] = [];
    c.on('blocked', (reason: string) => events.push(`blocked:${reason}`));
    c.on('unblocked', () => events.push('unblocked'));
    const ch = await c.createChannel();
    fx.server.broker.setAlarm('memory', 'low on memory');
    await until(() => events.length === 1, 'connection.blocked');
    fx.server.broker.setAlarm('memory', null);
    await until(() => events.length === 2, 'connection.unblocked');
    expect(events).toEqual(['blocked:low on memory', 'unblocked']);
    // The channel still answers after the alarm cleared (here: 404 for a queue that is not there).
    await expect(ch.checkQueue('amq.gen-none')).rejects.toThrow(/404/);
  });

  it('refuses publishing to an internal exchange with 403', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    await ch.assertExchange('internal-x', 'fanout', { internal: true });
    const err = new Promise<Error>((r) => ch.once('error', r));
    ch.publish('internal-x', '', Buffer.from('x'));
    expect((await err).message).toMatch(/403/);
  });
});
