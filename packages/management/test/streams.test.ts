/**
 * Streams through management: declared with x-queue-type in PUT /api/queues and in a
 * definitions import (RabbitMQ's shapes), shown with type `stream` and their retained count,
 * refused with 400-class answers for arguments a stream does not take, and read by amqplib.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await start({ amqp: true });
});
afterAll(async () => h.close());

describe('streams in management', () => {
  it('declares a stream by PUT and by a definitions import, and lists it as type stream', async () => {
    let r = await h.api('PUT', '/api/queues/%2F/events', {
      body: { durable: true, arguments: { 'x-queue-type': 'stream', 'x-max-age': '7D' } },
    });
    expect(r.status).toBe(201);
    r = await h.api('POST', '/api/definitions', {
      body: {
        queues: [
          {
            name: 'audit',
            vhost: '/',
            durable: true,
            auto_delete: false,
            arguments: { 'x-queue-type': 'stream', 'x-max-length-bytes': 1_000_000 },
          },
        ],
      },
    });
    expect(r.status).toBeLessThan(300);
    const conn = await amqp.connect(h.amqp!.url);
    const ch = await conn.createConfirmChannel();
    for (const q of ['events', 'audit']) ch.sendToQueue(q, Buffer.from(`into ${q}`));
    await ch.waitForConfirms();
    for (const q of ['events', 'audit']) {
      r = await h.api('GET', `/api/queues/%2F/${q}`);
      expect(r.json).toMatchObject({ name: q, type: 'stream', durable: true, messages: 1 });
    }
    await ch.prefetch(1);
    const got = await new Promise<string>((resolve) =>
      ch.consume('audit', (m) => m && resolve(m.content.toString()), {
        arguments: { 'x-stream-offset': 'first' },
      }),
    );
    expect(got).toBe('into audit');
    r = await h.api('GET', '/api/definitions');
    const exported = (r.json.queues as { name: string; arguments: Record<string, unknown> }[]).find(
      (q) => q.name === 'events',
    );
    expect(exported?.arguments).toEqual({ 'x-queue-type': 'stream', 'x-max-age': '7D' });
    await conn.close();
  });

  it('refuses a stream that is not durable or has classic-only arguments', async () => {
    let r = await h.api('PUT', '/api/queues/%2F/bad-1', {
      body: { durable: false, arguments: { 'x-queue-type': 'stream' } },
    });
    expect(r.status).toBe(400);
    expect(r.text).toContain("invalid property 'non-durable'");
    r = await h.api('PUT', '/api/queues/%2F/bad-2', {
      body: { arguments: { 'x-queue-type': 'stream', 'x-max-priority': 5 } },
    });
    expect(r.status).toBe(400);
    expect(r.text).toContain("invalid arg 'x-max-priority'");
    expect((await h.api('GET', '/api/queues/%2F/bad-1')).status).toBe(404);
  });
});
