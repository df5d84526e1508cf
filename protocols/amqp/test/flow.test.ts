/**
 * Publisher flow control: a publisher outrunning a queue's consumers is held back (its
 * connection shows state 'flow'), and a client that publishes and acks on one connection
 * is slowed, never deadlocked.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_HIGH } from '@junction/core';
import { startAmqpServer, until, type TestServer } from '@junction/testkit';

let server: TestServer;
beforeAll(async () => {
  server = await startAmqpServer();
});
afterAll(async () => server.close());

const total = FLOW_HIGH * 3;

describe('publisher flow control', () => {
  it('holds back a publisher whose queue backlog outgrows its consumers, and lets it go again', async () => {
    const consumer = await amqp.connect(server.url);
    const cch = await consumer.createChannel();
    await cch.assertQueue('flow-q');
    await cch.prefetch(1);
    let consumed = 0;
    await cch.consume('flow-q', (m) => {
      if (!m) return;
      consumed++;
      setImmediate(() => cch.ack(m));
    });
    const publisher = await amqp.connect(server.url);
    const pch = await publisher.createChannel();
    let sawFlow = false;
    const watch = setInterval(() => {
      for (const c of server.adapter.connections()) if (c.state === 'flow') sawFlow = true;
    }, 5);
    const body = Buffer.alloc(16);
    for (let i = 0; i < total; i++)
      if (!pch.sendToQueue('flow-q', body)) await new Promise((r) => pch.once('drain', r));
    await until(() => consumed === total, 'every message consumed', 60_000);
    clearInterval(watch);
    expect(sawFlow).toBe(true);
    expect([...server.adapter.connections()].every((c) => c.state === 'running')).toBe(true);
    await publisher.close();
    await consumer.close();
  }, 90_000);

  it('does not deadlock a client that publishes and acks on the same connection', async () => {
    const conn = await amqp.connect(server.url);
    const ch = await conn.createChannel();
    const pub = await conn.createChannel();
    await ch.assertQueue('same-conn');
    await ch.prefetch(1);
    let consumed = 0;
    await ch.consume('same-conn', (m) => {
      if (!m) return;
      consumed++;
      ch.ack(m);
    });
    const body = Buffer.alloc(16);
    for (let i = 0; i < total; i++)
      if (!pub.sendToQueue('same-conn', body)) await new Promise((r) => pub.once('drain', r));
    await until(() => consumed === total, 'every message consumed', 60_000);
    await conn.close();
  }, 90_000);
});
