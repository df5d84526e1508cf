import { describe, expect, it } from 'vitest';
import { until } from '@junction/testkit';
import { enc, useHarness } from './helpers.js';

const h = useHarness();

describe('queues', () => {
  it('declares, lists, shows, and deletes a queue', async () => {
    let r = await h.api('PUT', '/api/queues/%2F/q1', {
      body: { durable: true, arguments: { 'x-max-length': 10 } },
    });
    expect(r.status).toBe(201);
    r = await h.api('PUT', '/api/queues/%2F/q1', {
      body: { durable: true, arguments: { 'x-max-length': 10 } },
    });
    expect(r.status).toBe(204);
    r = await h.api('GET', '/api/queues');
    expect(r.status).toBe(200);
    expect(r.json.map((q: { name: string }) => q.name)).toContain('q1');
    r = await h.api('GET', '/api/queues/%2F/q1');
    expect(r.json).toMatchObject({
      name: 'q1',
      vhost: '/',
      durable: true,
      auto_delete: false,
      exclusive: false,
      arguments: { 'x-max-length': 10 },
      messages: 0,
      messages_ready: 0,
      messages_unacknowledged: 0,
      consumers: 0,
      state: 'running',
    });
    r = await h.api('DELETE', '/api/queues/%2F/q1');
    expect(r.status).toBe(204);
    r = await h.api('GET', '/api/queues/%2F/q1');
    expect(r.status).toBe(404);
    expect(r.json.error).toBeTruthy();
    expect(r.json.reason).toBeTruthy();
  });

  it('inequivalent redeclare is a 400 and changes nothing', async () => {
    await h.api('PUT', '/api/queues/%2F/q2', { body: { durable: true } });
    const r = await h.api('PUT', '/api/queues/%2F/q2', { body: { durable: false } });
    expect(r.status).toBe(400);
    expect(r.json.reason).toMatch(/inequivalent/);
    expect(h.broker.vhost('/').queues.get('q2')!.options.durable).toBe(true);
  });

  it('handles names that need URL encoding', async () => {
    const name = 'a/b c%';
    let r = await h.api('PUT', `/api/queues/%2F/${enc(name)}`, { body: {} });
    expect(r.status).toBe(201);
    expect(h.broker.vhost('/').queues.has(name)).toBe(true);
    r = await h.api('GET', `/api/queues/%2F/${enc(name)}`);
    expect(r.json.name).toBe(name);
    r = await h.api('POST', `/api/exchanges/%2F/amq.default/publish`, {
      body: { routing_key: name, payload: 'x', properties: {} },
    });
    expect(r.json).toEqual({ routed: true });
    r = await h.api('DELETE', `/api/queues/%2F/${enc(name)}/contents`);
    expect(r.status).toBe(204);
    expect(h.broker.vhost('/').queues.get(name)!.messageCount).toBe(0);
    r = await h.api('DELETE', `/api/queues/%2F/${enc(name)}`);
    expect(r.status).toBe(204);
    expect(h.broker.vhost('/').queues.has(name)).toBe(false);
  });

  it('404 for unknown vhost and queue; malformed JSON is a 400', async () => {
    expect((await h.api('GET', '/api/queues/nope')).status).toBe(404);
    expect((await h.api('PUT', '/api/queues/nope/q', { body: {} })).status).toBe(404);
    expect((await h.api('DELETE', '/api/queues/%2F/missing')).status).toBe(404);
    const r = await h.api('PUT', '/api/queues/%2F/bad', { raw: '{"durable": tru' });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('bad_request');
    expect(h.broker.vhost('/').queues.has('bad')).toBe(false);
    expect((await h.api('PUT', '/api/queues/%2F/bad2', { raw: '[1,2]' })).status).toBe(400);
    expect((await h.api('PUT', '/api/queues/%2F/bad3', { body: { durable: 'maybe' } })).status).toBe(400);
    expect(
      (await h.api('PUT', '/api/queues/%2F/bad4', { body: { arguments: { 'x-max-length': 'lots' } } }))
        .status,
    ).toBe(400);
    expect(h.broker.vhost('/').queues.has('bad4')).toBe(false);
  });

  it('publishes, gets with each ackmode, purges, and shows rates', async () => {
    await h.api('PUT', '/api/queues/%2F/work', { body: { durable: false } });
    for (let i = 0; i < 5; i++) {
      const r = await h.api('POST', '/api/exchanges/%2F/amq.default/publish', {
        body: {
          routing_key: 'work',
          payload: `m${i}`,
          payload_encoding: 'string',
          properties: { content_type: 'text/plain', headers: { h: i } },
        },
      });
      expect(r.json).toEqual({ routed: true });
    }
    let r = await h.api('POST', '/api/exchanges/%2F/amq.default/publish', {
      body: { routing_key: 'nowhere', payload: 'x', properties: {} },
    });
    expect(r.json).toEqual({ routed: false });

    r = await h.api('POST', '/api/queues/%2F/work/get', {
      body: { count: 2, ackmode: 'ack_requeue_true', encoding: 'auto' },
    });
    expect(r.status).toBe(200);
    expect(r.json).toHaveLength(2);
    expect(r.json[0]).toMatchObject({
      payload: 'm0',
      payload_encoding: 'string',
      payload_bytes: 2,
      routing_key: 'work',
      exchange: '',
      redelivered: false,
      properties: { content_type: 'text/plain', headers: { h: 0 } },
    });
    expect(r.json[1].payload).toBe('m1');
    expect(h.broker.vhost('/').queues.get('work')!.messageCount).toBe(5);

    r = await h.api('POST', '/api/queues/%2F/work/get', {
      body: { count: 1, ackmode: 'ack_requeue_false', encoding: 'base64' },
    });
    expect(r.json[0]).toMatchObject({
      payload: Buffer.from('m0').toString('base64'),
      payload_encoding: 'base64',
      redelivered: true,
    });
    expect(h.broker.vhost('/').queues.get('work')!.messageCount).toBe(4);

    r = await h.api('POST', '/api/queues/%2F/work/get', {
      body: { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto', truncate: 1 },
    });
    expect(r.json[0]).toMatchObject({ payload: 'm', payload_bytes: 2 });

    r = await h.api('POST', '/api/queues/%2F/work/get', { body: { count: 1, ackmode: 'bogus' } });
    expect(r.status).toBe(400);
    expect(h.broker.vhost('/').queues.get('work')!.messageCount).toBe(3);

    r = await h.api('GET', '/api/queues/%2F/work');
    expect(r.json.messages).toBe(3);
    expect(r.json.message_stats.publish).toBe(5);
    expect(r.json.message_stats.publish_details.rate).toBeGreaterThan(0);
    r = await h.api('GET', '/api/overview');
    expect(r.json.message_stats.publish).toBeGreaterThanOrEqual(5);
    expect(r.json.message_stats.publish_details.rate).toBeGreaterThan(0);
    expect(r.json.queue_totals.messages_ready).toBeGreaterThanOrEqual(3);

    r = await h.api('DELETE', '/api/queues/%2F/work/contents');
    expect(r.status).toBe(204);
    expect(h.broker.vhost('/').queues.get('work')!.messageCount).toBe(0);
    // The rate decays to 0 once the window has passed without publishes.
    await until(
      async () => (await h.api('GET', '/api/queues/%2F/work')).json.message_stats.publish_details.rate === 0,
      'rate to decay',
      5000,
    );
  });

  it('delete with if-empty refuses a non-empty queue', async () => {
    await h.api('PUT', '/api/queues/%2F/full', { body: {} });
    await h.api('POST', '/api/exchanges/%2F/amq.default/publish', {
      body: { routing_key: 'full', payload: 'x', properties: {} },
    });
    const r = await h.api('DELETE', '/api/queues/%2F/full?if-empty=true');
    expect(r.status).toBe(400);
    expect(h.broker.vhost('/').queues.has('full')).toBe(true);
  });
});
