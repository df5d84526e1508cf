import { describe, expect, it } from 'vitest';
import { enc, useHarness } from './helpers.js';

const h = useHarness();

describe('exchanges', () => {
  it('lists the built-in exchanges, declares and deletes one', async () => {
    let r = await h.api('GET', '/api/exchanges/%2F');
    const names = r.json.map((x: { name: string }) => x.name);
    expect(names).toEqual(
      expect.arrayContaining(['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']),
    );
    r = await h.api('GET', '/api/exchanges/%2F/amq.default');
    expect(r.json).toMatchObject({ name: '', type: 'direct', durable: true });

    r = await h.api('PUT', '/api/exchanges/%2F/x.topic', {
      body: {
        type: 'topic',
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: { 'alternate-exchange': 'ae' },
      },
    });
    expect(r.status).toBe(201);
    r = await h.api('GET', '/api/exchanges/%2F/x.topic');
    expect(r.json).toMatchObject({
      name: 'x.topic',
      vhost: '/',
      type: 'topic',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: { 'alternate-exchange': 'ae' },
    });
    r = await h.api('PUT', '/api/exchanges/%2F/x.topic', { body: { type: 'fanout' } });
    expect(r.status).toBe(400);
    expect(h.broker.vhost('/').exchanges.get('x.topic')!.type.name).toBe('topic');
    r = await h.api('DELETE', '/api/exchanges/%2F/x.topic');
    expect(r.status).toBe(204);
    expect(h.broker.vhost('/').exchanges.has('x.topic')).toBe(false);
  });

  it('rejects bad exchange declarations with a 4xx and no change', async () => {
    expect((await h.api('PUT', '/api/exchanges/%2F/nt', { body: { durable: true } })).status).toBe(400);
    expect((await h.api('PUT', '/api/exchanges/%2F/nt', { body: { type: 'no-such-type' } })).status).toBe(
      400,
    );
    expect((await h.api('PUT', '/api/exchanges/%2F/amq.mine', { body: { type: 'direct' } })).status).toBe(
      403,
    );
    expect((await h.api('PUT', '/api/exchanges/nope/x', { body: { type: 'direct' } })).status).toBe(404);
    expect((await h.api('DELETE', '/api/exchanges/%2F/amq.direct')).status).toBe(403);
    expect((await h.api('GET', '/api/exchanges/%2F/missing')).status).toBe(404);
    expect(
      (await h.api('POST', '/api/exchanges/%2F/missing/publish', { body: { routing_key: '', payload: '' } }))
        .status,
    ).toBe(404);
    expect(
      (
        await h.api('POST', '/api/exchanges/%2F/amq.direct/publish', {
          body: { routing_key: '', payload: 'x', payload_encoding: 'rot13' },
        })
      ).status,
    ).toBe(400);
    const v = h.broker.vhost('/');
    expect(v.exchanges.has('nt')).toBe(false);
    expect(v.exchanges.has('amq.mine')).toBe(false);
    expect(v.exchanges.has('amq.direct')).toBe(true);
  });

  it('publishes base64 payloads through a routed exchange', async () => {
    await h.api('PUT', '/api/exchanges/%2F/pub.x', { body: { type: 'direct' } });
    await h.api('PUT', '/api/queues/%2F/pub.q', { body: {} });
    let r = await h.api('POST', '/api/bindings/%2F/e/pub.x/q/pub.q', { body: { routing_key: 'k' } });
    expect(r.status).toBe(201);
    const bin = Buffer.from([0xff, 0x00, 0xfe]);
    r = await h.api('POST', '/api/exchanges/%2F/pub.x/publish', {
      body: {
        routing_key: 'k',
        payload: bin.toString('base64'),
        payload_encoding: 'base64',
        properties: { delivery_mode: 2, priority: 3 },
      },
    });
    expect(r.json).toEqual({ routed: true });
    r = await h.api('POST', '/api/queues/%2F/pub.q/get', {
      body: { count: 5, ackmode: 'ack_requeue_false', encoding: 'auto' },
    });
    expect(r.json).toHaveLength(1);
    expect(r.json[0]).toMatchObject({
      payload: bin.toString('base64'),
      payload_encoding: 'base64',
      exchange: 'pub.x',
      routing_key: 'k',
      properties: { delivery_mode: 2, priority: 3 },
    });
  });
});

describe('bindings', () => {
  it('creates, lists, finds by properties key and deletes queue and exchange bindings', async () => {
    await h.api('PUT', '/api/exchanges/%2F/b.src', { body: { type: 'headers' } });
    await h.api('PUT', '/api/exchanges/%2F/b.dst', { body: { type: 'fanout' } });
    await h.api('PUT', '/api/queues/%2F/b.q', { body: {} });

    let r = await h.api('POST', '/api/bindings/%2F/e/b.src/q/b.q', {
      body: { routing_key: 'rk', arguments: { 'x-match': 'all', a: 1 } },
    });
    expect(r.status).toBe(201);
    const location = r.headers.get('location')!;
    expect(location).toBeTruthy();
    r = await h.api('POST', '/api/bindings/%2F/e/b.src/e/b.dst', { body: { routing_key: '' } });
    expect(r.status).toBe(201);

    r = await h.api('GET', '/api/bindings/%2F');
    const mine = r.json.filter((b: { source: string }) => b.source === 'b.src');
    expect(mine).toHaveLength(2);
    expect(r.json).toContainEqual(
      expect.objectContaining({
        source: '',
        destination: 'b.q',
        destination_type: 'queue',
        routing_key: 'b.q',
      }),
    );
    r = await h.api('GET', '/api/bindings/%2F/e/b.src/q/b.q');
    expect(r.json).toEqual([
      expect.objectContaining({
        source: 'b.src',
        vhost: '/',
        destination: 'b.q',
        destination_type: 'queue',
        routing_key: 'rk',
        arguments: { 'x-match': 'all', a: 1 },
      }),
    ]);
    const props = r.json[0].properties_key as string;
    expect(enc(props)).toBe(location);
    r = await h.api('GET', `/api/bindings/%2F/e/b.src/q/b.q/${enc(props)}`);
    expect(r.json.routing_key).toBe('rk');
    r = await h.api('GET', '/api/exchanges/%2F/b.src/bindings/source');
    expect(r.json).toHaveLength(2);
    r = await h.api('GET', '/api/exchanges/%2F/b.dst/bindings/destination');
    expect(r.json).toHaveLength(1);
    r = await h.api('GET', '/api/queues/%2F/b.q/bindings');
    expect(r.json).toHaveLength(2); // default exchange + b.src

    r = await h.api('GET', '/api/bindings/%2F/e/b.src/e/b.dst');
    expect(r.json[0].properties_key).toBe('~');
    expect((await h.api('DELETE', '/api/bindings/%2F/e/b.src/e/b.dst/~')).status).toBe(204);
    expect((await h.api('DELETE', `/api/bindings/%2F/e/b.src/q/b.q/${enc(props)}`)).status).toBe(204);
    expect(h.broker.vhost('/').exchanges.get('b.src')!.bindings.size).toBe(0);
    expect((await h.api('DELETE', `/api/bindings/%2F/e/b.src/q/b.q/${enc(props)}`)).status).toBe(404);
  });

  it('refuses bindings to unknown objects or the default exchange', async () => {
    expect((await h.api('POST', '/api/bindings/%2F/e/none/q/b.q', { body: {} })).status).toBe(404);
    expect((await h.api('POST', '/api/bindings/%2F/e/amq.direct/q/none', { body: {} })).status).toBe(404);
    expect((await h.api('POST', '/api/bindings/nope/e/amq.direct/q/b.q', { body: {} })).status).toBe(404);
    expect(
      (await h.api('POST', '/api/bindings/%2F/e/amq.default/q/b.q', { body: { routing_key: 'x' } })).status,
    ).toBe(403);
    expect((await h.api('POST', '/api/bindings/%2F/e/amq.direct/q/b.q', { raw: 'nope' })).status).toBe(400);
    expect(h.broker.vhost('/').exchanges.get('amq.direct')!.bindings.size).toBe(0);
  });
});

describe('list queries and misc endpoints', () => {
  it('filters, sorts, selects columns and paginates lists', async () => {
    for (const n of ['lq.c', 'lq.a', 'lq.b', 'other.lq'])
      await h.api('PUT', `/api/queues/%2F/${n}`, { body: {} });
    let r = await h.api('GET', '/api/queues/%2F?name=lq.&sort=name&columns=name,vhost');
    expect(r.json).toEqual([
      { name: 'lq.a', vhost: '/' },
      { name: 'lq.b', vhost: '/' },
      { name: 'lq.c', vhost: '/' },
    ]);
    r = await h.api(
      'GET',
      `/api/queues/%2F?name=${encodeURIComponent('^lq\\.[ab]$')}&use_regex=true&sort=name&sort_reverse=true&columns=name`,
    );
    expect(r.json).toEqual([{ name: 'lq.b' }, { name: 'lq.a' }]);
    r = await h.api('GET', '/api/queues/%2F?name=lq&sort=name&columns=name&page=2&page_size=2');
    expect(r.json).toMatchObject({
      page: 2,
      page_size: 2,
      page_count: 2,
      filtered_count: 4,
      item_count: 2,
      items: [{ name: 'lq.c' }, { name: 'other.lq' }],
    });
    expect((await h.api('GET', '/api/queues?page=0')).status).toBe(400);
    expect((await h.api('GET', '/api/queues?name=(&use_regex=true')).status).toBe(400);
    r = await h.api('GET', '/api/exchanges/%2F?columns=name,type&sort=name&name=amq.f');
    expect(r.json).toEqual([{ name: 'amq.fanout', type: 'fanout' }]);
  });

  it('aliveness test and health checks', async () => {
    expect((await h.api('GET', '/api/aliveness-test/%2F')).json).toEqual({ status: 'ok' });
    expect(h.broker.vhost('/').queues.get('aliveness-test')!.messageCount).toBe(0);
    expect((await h.api('GET', '/api/aliveness-test/nope')).status).toBe(404);
    expect((await h.api('GET', '/api/health/checks/alarms')).json).toEqual({ status: 'ok' });
  });
});
