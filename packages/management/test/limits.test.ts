/**
 * Vhost and user limits over the HTTP API, in RabbitMQ's shapes: the limit routes, who may
 * set them, the definitions export/import, and a limit set over HTTP refusing an AMQP client.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { runPython } from '@junction/testkit';
import { type Harness, start } from './helpers.js';

const PIKA_CONNECT = fileURLToPath(new URL('./fixtures/pika_connect.py', import.meta.url));

let h: Harness;
beforeAll(async () => {
  h = await start({ amqp: true });
  await h.broker.putUser('pm', { password: 'pm', tags: ['policymaker'] });
  await h.broker.putUser('mgr', { password: 'mgr', tags: ['management'] });
  await h.broker.putUser('app', { password: 'app', tags: [] });
  await h.broker.addVhost('tenant');
  await h.broker.addVhost('other');
  for (const u of ['guest', 'pm', 'mgr', 'app'])
    await h.broker.setPermission('tenant', u, { configure: '.*', write: '.*', read: '.*' });
});
afterAll(async () => {
  await h.close();
});

describe('/api/vhost-limits', () => {
  it('sets, lists and deletes a vhost limit with {"value": N}', async () => {
    expect((await h.api('PUT', '/api/vhost-limits/tenant/max-queues', { body: { value: 10 } })).status).toBe(
      204,
    );
    expect(
      (await h.api('PUT', '/api/vhost-limits/tenant/max-connections', { body: { value: 3 } })).status,
    ).toBe(204);
    expect((await h.api('GET', '/api/vhost-limits')).json).toEqual([
      { vhost: 'tenant', value: { 'max-queues': 10, 'max-connections': 3 } },
    ]);
    expect((await h.api('GET', '/api/vhost-limits/tenant')).json).toEqual([
      { vhost: 'tenant', value: { 'max-queues': 10, 'max-connections': 3 } },
    ]);
    expect((await h.api('GET', '/api/vhost-limits/other')).json).toEqual([]);
    expect((await h.api('DELETE', '/api/vhost-limits/tenant/max-queues')).status).toBe(204);
    // RabbitMQ: a negative value means no limit.
    expect(
      (await h.api('PUT', '/api/vhost-limits/tenant/max-connections', { body: { value: -1 } })).status,
    ).toBe(204);
    expect((await h.api('GET', '/api/vhost-limits/tenant')).json).toEqual([]);
  });

  it('400 for an unknown limit or a value that is not an integer, 404 for an unknown vhost', async () => {
    expect((await h.api('PUT', '/api/vhost-limits/tenant/max-channels', { body: { value: 1 } })).status).toBe(
      400,
    );
    expect(
      (await h.api('PUT', '/api/vhost-limits/tenant/max-queues', { body: { value: 'many' } })).status,
    ).toBe(400);
    expect((await h.api('PUT', '/api/vhost-limits/tenant/max-queues', { body: {} })).status).toBe(400);
    expect((await h.api('PUT', '/api/vhost-limits/nowhere/max-queues', { body: { value: 1 } })).status).toBe(
      404,
    );
  });

  it('administrators and policymakers of the vhost set limits; management users may not', async () => {
    const put = (auth: [string, string], vhost: string) =>
      h.api('PUT', `/api/vhost-limits/${vhost}/max-queues`, { body: { value: 100 }, auth });
    expect((await put(['pm', 'pm'], 'tenant')).status).toBe(204);
    expect((await put(['mgr', 'mgr'], 'tenant')).status).toBe(403);
    expect((await put(['pm', 'pm'], 'other')).status).toBe(403);
    expect(
      (await h.api('DELETE', '/api/vhost-limits/tenant/max-queues', { auth: ['mgr', 'mgr'] })).status,
    ).toBe(403);
    expect(
      (await h.api('DELETE', '/api/vhost-limits/tenant/max-queues', { auth: ['pm', 'pm'] })).status,
    ).toBe(204);
  });
});

describe('/api/user-limits', () => {
  it('sets, lists and deletes user limits (administrators only); /api/users shows them', async () => {
    expect((await h.api('PUT', '/api/user-limits/app/max-connections', { body: { value: 5 } })).status).toBe(
      204,
    );
    expect((await h.api('PUT', '/api/user-limits/app/max-channels', { body: { value: 7 } })).status).toBe(
      204,
    );
    expect((await h.api('GET', '/api/user-limits')).json).toEqual([
      { user: 'app', value: { 'max-connections': 5, 'max-channels': 7 } },
    ]);
    expect((await h.api('GET', '/api/user-limits/app')).json).toEqual([
      { user: 'app', value: { 'max-connections': 5, 'max-channels': 7 } },
    ]);
    expect((await h.api('GET', '/api/users/app')).json.limits).toEqual({
      'max-connections': 5,
      'max-channels': 7,
    });
    expect(
      (await h.api('PUT', '/api/user-limits/app/max-channels', { body: { value: 1 }, auth: ['pm', 'pm'] }))
        .status,
    ).toBe(403);
    expect((await h.api('GET', '/api/user-limits', { auth: ['pm', 'pm'] })).status).toBe(403);
    expect((await h.api('PUT', '/api/user-limits/nobody/max-channels', { body: { value: 1 } })).status).toBe(
      404,
    );
    expect((await h.api('PUT', '/api/user-limits/app/max-queues', { body: { value: 1 } })).status).toBe(400);
    expect((await h.api('DELETE', '/api/user-limits/app/max-connections')).status).toBe(204);
    expect((await h.api('DELETE', '/api/user-limits/app/max-channels')).status).toBe(204);
    expect((await h.api('GET', '/api/user-limits')).json).toEqual([]);
  });
});

describe('limits in /api/definitions', () => {
  it("exports vhost limits as RabbitMQ's vhost-limits parameters and user limits on the user, and imports both", async () => {
    await h.api('PUT', '/api/vhost-limits/tenant/max-queues', { body: { value: 42 } });
    await h.api('PUT', '/api/user-limits/app/max-channels', { body: { value: 4 } });
    const defs = (await h.api('GET', '/api/definitions')).json;
    expect(defs.parameters).toContainEqual({
      vhost: 'tenant',
      component: 'vhost-limits',
      name: 'limits',
      value: { 'max-queues': 42 },
    });
    expect(defs.users.find((u: { name: string }) => u.name === 'app').limits).toEqual({ 'max-channels': 4 });
    // A RabbitMQ-written file: limits replace the previous set.
    const r = await h.api('POST', '/api/definitions', {
      body: {
        users: [{ name: 'app', password_hash: '', tags: [], limits: { 'max-connections': 9 } }],
        vhosts: [{ name: 'tenant' }],
        parameters: [
          { vhost: 'tenant', component: 'vhost-limits', name: 'limits', value: { 'max-connections': 8 } },
        ],
      },
    });
    expect(r.status).toBe(204);
    expect(h.broker.vhost('tenant').limits.toJSON()).toEqual({ 'max-connections': 8 });
    expect(h.broker.userLimits('app')).toEqual({ 'max-connections': 9 });
    // A bad limit makes the whole import fail, and nothing changes.
    const bad = await h.api('POST', '/api/definitions', {
      body: {
        parameters: [{ vhost: 'tenant', component: 'vhost-limits', name: 'limits', value: { 'max-fun': 1 } }],
      },
    });
    expect(bad.status).toBe(400);
    expect(h.broker.vhost('tenant').limits.toJSON()).toEqual({ 'max-connections': 8 });
    await h.api('DELETE', '/api/vhost-limits/tenant/max-connections');
    await h.api('DELETE', '/api/user-limits/app/max-connections');
  });
});

describe('limits set over HTTP apply to clients', () => {
  it('vhost max-connections 0 refuses an AMQP connection with 530; max-queues refuses a declare with 406', async () => {
    const url = `${h.amqp!.url}/tenant`;
    await h.api('PUT', '/api/vhost-limits/tenant/max-connections', { body: { value: 0 } });
    // pika, since amqplib does not surface a connection.close that answers connection.open.
    const pikaUrl = `${h.amqp!.url}/tenant?connection_attempts=1&retry_delay=0`;
    expect(await runPython(PIKA_CONNECT, [pikaUrl])).toEqual({
      ok: false,
      error:
        "ConnectionClosedByBroker: (530) \"NOT_ALLOWED - access to vhost 'tenant' refused for user 'guest': connection limit (0) is reached\"",
    });
    await h.api('DELETE', '/api/vhost-limits/tenant/max-connections');

    await h.api('PUT', '/api/vhost-limits/tenant/max-queues', { body: { value: 1 } });
    const conn = await amqp.connect(url);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue('first');
      const closed = new Promise<Error>((resolve) => ch.on('error', resolve));
      await expect(ch.assertQueue('second')).rejects.toThrow(
        /406.*cannot declare queue 'second': queue limit in virtual host 'tenant' \(1\) is reached/,
      );
      await closed;
    } finally {
      await conn.close();
      await h.api('DELETE', '/api/vhost-limits/tenant/max-queues');
    }
  });
});
