import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, until } from '@junction/testkit';
import { enc, type Harness, start } from './helpers.js';

let h: Harness;
let conn: ChannelModel;
beforeAll(async () => {
  h = await start({ amqp: true });
  await h.broker.putUser('mgr', { password: 'mgr', tags: ['management'] });
  await h.broker.setPermission('/', 'mgr', { configure: '.*', write: '.*', read: '.*' });
});
afterAll(async () => {
  await closeAll([() => conn?.close()]);
  await h.close();
});

describe('connections, channels and consumers', () => {
  it('lists an AMQP client connection, its channel and consumer, and message rates', async () => {
    conn = await amqp.connect(h.amqp!.url, { clientProperties: { connection_name: 'test-client' } });
    const ch = await conn.createChannel();
    await ch.assertQueue('cq', { durable: false });
    await ch.prefetch(5);
    await ch.consume('cq', (m) => m && ch.ack(m), { consumerTag: 'ctag-1' });

    const conns = await until(async () => {
      const r = await h.api('GET', '/api/connections');
      return r.json.length === 1 && r.json[0].channels === 1 ? r.json : null;
    }, 'connection listed');
    expect(conns[0]).toMatchObject({
      protocol: 'AMQP 0-9-1',
      user: 'guest',
      vhost: '/',
      peer_host: '127.0.0.1',
      channels: 1,
      state: 'running',
    });
    expect(conns[0].peer_port).toBeGreaterThan(0);
    expect(conns[0].client_properties).toMatchObject({ connection_name: 'test-client' });
    // HTTP's own internal connections are never listed.
    await h.api('PUT', '/api/queues/%2F/other', { body: {} });
    expect((await h.api('GET', '/api/connections')).json).toHaveLength(1);

    const name = conns[0].name as string;
    expect((await h.api('GET', `/api/connections/${enc(name)}`)).json.name).toBe(name);
    expect((await h.api('GET', '/api/vhosts/%2F/connections')).json).toHaveLength(1);

    let r = await h.api('GET', '/api/channels');
    expect(r.json).toHaveLength(1);
    expect(r.json[0]).toMatchObject({
      user: 'guest',
      vhost: '/',
      consumer_count: 1,
      connection_details: { name },
    });
    expect((await h.api('GET', `/api/connections/${enc(name)}/channels`)).json).toHaveLength(1);

    r = await h.api('GET', '/api/consumers');
    expect(r.json).toEqual([
      expect.objectContaining({
        consumer_tag: 'ctag-1',
        queue: { name: 'cq', vhost: '/' },
        ack_required: true,
        exclusive: false,
        channel_details: expect.objectContaining({ connection_name: name }),
      }),
    ]);
    expect((await h.api('GET', '/api/consumers/%2F')).json).toHaveLength(1);
    expect((await h.api('GET', '/api/queues/%2F/cq')).json.consumers).toBe(1);

    for (let i = 0; i < 20; i++) ch.sendToQueue('cq', Buffer.from(`m${i}`));
    await until(async () => {
      const q = (await h.api('GET', '/api/queues/%2F/cq')).json;
      return q.message_stats.ack === 20 ? q : null;
    }, 'acks counted');
    r = await h.api('GET', '/api/queues/%2F/cq');
    expect(r.json.message_stats).toMatchObject({ publish: 20, deliver: 20, ack: 20 });
    expect(r.json.message_stats.deliver_details.rate).toBeGreaterThan(0);
    expect(r.json.message_stats.ack_details.rate).toBeGreaterThan(0);

    r = await h.api('GET', '/api/overview');
    expect(r.json.object_totals).toMatchObject({ connections: 1, channels: 1, consumers: 1 });
    expect(r.json.message_stats.deliver).toBe(20);

    // A management user sees only its own connections and may not close others'.
    expect((await h.api('GET', '/api/connections', { auth: ['mgr', 'mgr'] })).json).toEqual([]);
    expect((await h.api('DELETE', `/api/connections/${enc(name)}`, { auth: ['mgr', 'mgr'] })).status).toBe(
      404,
    );
    expect((await h.api('DELETE', '/api/connections/no-such')).status).toBe(404);

    const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
    conn.on('error', () => {});
    r = await h.api('DELETE', `/api/connections/${enc(name)}`, { headers: { 'x-reason': 'bye' } });
    expect(r.status).toBe(204);
    await closed;
    await until(async () => (await h.api('GET', '/api/connections')).json.length === 0, 'connection gone');
    expect((await h.api('GET', '/api/consumers')).json).toEqual([]);
  });
});
