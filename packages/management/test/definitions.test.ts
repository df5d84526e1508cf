import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClassicQueue } from '@junction/core/internal';
import { type Harness, start } from './helpers.js';

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/rabbitmq-definitions.json', import.meta.url), 'utf8'),
);

let h: Harness | undefined;
let h2: Harness | undefined;
afterEach(async () => {
  await h?.close();
  await h2?.close();
  h = h2 = undefined;
});

type Row = Record<string, unknown>;
const key = (r: Row, fields: string[]): string => JSON.stringify(fields.map((f) => r[f]));
const sorted = (rows: Row[], fields: string[]): Row[] =>
  [...rows].sort((a, b) => key(a, fields).localeCompare(key(b, fields)));
const pick = (rows: Row[], fields: string[]): Row[] =>
  sorted(
    rows.map((r) => Object.fromEntries(fields.map((f) => [f, r[f]]))),
    fields,
  );

const Q = ['vhost', 'name', 'durable', 'auto_delete', 'arguments'];
const X = ['vhost', 'name', 'type', 'durable', 'auto_delete', 'internal', 'arguments'];
const B = ['vhost', 'source', 'destination', 'destination_type', 'routing_key', 'arguments'];
const P = ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'];

describe('definitions', () => {
  it('imports a RabbitMQ export: the same objects exist and work, and the export round-trips', async () => {
    h = await start();
    let r = await h.api('POST', '/api/definitions', { body: fixture });
    expect(r.status, r.text).toBe(204);

    const v = h.broker.vhost('orders');
    expect((v.queues.get('orders.priority') as ClassicQueue).settings.maxPriority).toBe(10);
    expect((v.queues.get('orders.created') as ClassicQueue).settings.maxLength).toBe(10000); // from the policy
    expect(v.exchanges.get('orders.direct')!.type.name).toBe('direct');
    expect(v.exchanges.get('orders.in')!.alternateExchange).toBe('orders.unrouted');
    expect(h.broker.users.permission('orders', 'app')).toEqual({
      configure: '^orders\\.',
      write: '.*',
      read: '.*',
    });
    expect(h.broker.users.get('watcher')!.tags).toEqual(['monitoring', 'management']);

    // Passwords exported from RabbitMQ work here.
    expect((await h.api('GET', '/api/whoami', { auth: ['watcher', 'watch'] })).status).toBe(200);
    expect((await h.api('GET', '/api/whoami', { auth: ['guest', 'guest'] })).status).toBe(200);

    // Routing through the imported topology: topic -> e2e fanout -> e2e direct(internal) -> queue.
    r = await h.api('POST', '/api/exchanges/orders/orders.in/publish', {
      body: { routing_key: 'order.x.audit', payload: 'a', properties: {} },
    });
    expect(r.json).toEqual({ routed: true });
    expect(v.queues.get('audit')!.messageCount).toBe(1);
    r = await h.api('POST', '/api/exchanges/orders/orders.headers/publish', {
      body: { routing_key: '', payload: 'b', properties: { headers: { vip: true } } },
    });
    expect(r.json).toEqual({ routed: true });
    expect(v.queues.get('orders.priority')!.messageCount).toBe(1);

    r = await h.api('GET', '/api/definitions');
    const out = r.json;
    expect(out).toMatchObject({ rabbit_version: expect.any(String) });
    expect(pick(out.queues, Q)).toEqual(pick(fixture.queues, Q));
    // RabbitMQ 3.10 writes no `internal` field (and leaves internal exchanges out); Junction writes it.
    const X310 = X.filter((f) => f !== 'internal');
    expect(pick(out.exchanges, X310)).toEqual(pick(fixture.exchanges, X310));
    expect(out.exchanges.every((x: Row) => x['internal'] === false)).toBe(true);
    expect(pick(out.bindings, B)).toEqual(pick(fixture.bindings, B));
    expect(pick(out.policies, P)).toEqual(pick(fixture.policies, P));
    expect(pick(out.permissions, ['user', 'vhost', 'configure', 'write', 'read'])).toEqual(
      pick(fixture.permissions, ['user', 'vhost', 'configure', 'write', 'read']),
    );
    // RabbitMQ 3.10 keeps a vhost's description under metadata; Junction exports both places.
    const described = (rows: Row[]) =>
      pick(
        rows.map((r) => ({
          name: r['name'],
          description: (r['metadata'] as Row | undefined)?.['description'] ?? r['description'],
        })),
        ['name', 'description'],
      );
    expect(described(out.vhosts)).toEqual(described(fixture.vhosts));
    const users = sorted(out.users, ['name']);
    expect(users.map((u: Row) => [u['name'], u['password_hash'], u['hashing_algorithm']])).toEqual(
      sorted(fixture.users, ['name']).map((u: Row) => [
        u['name'],
        u['password_hash'],
        'rabbit_password_hashing_sha256',
      ]),
    );

    // ... and that export loads into a fresh broker, which exports the same again.
    h2 = await start();
    r = await h2.api('POST', '/api/definitions', { body: out });
    expect(r.status, r.text).toBe(204);
    const again = (await h2.api('GET', '/api/definitions')).json;
    for (const [k, fields] of [
      ['queues', Q],
      ['exchanges', X],
      ['bindings', B],
      ['policies', P],
    ] as const) {
      expect(pick(again[k], [...fields])).toEqual(pick(out[k], [...fields]));
    }
    expect(sorted(again.users, ['name'])).toEqual(sorted(out.users, ['name']));

    // Per-vhost export.
    r = await h.api('GET', '/api/definitions/orders');
    expect(r.json.queues.every((q: Row) => q['vhost'] === 'orders')).toBe(true);
    expect(r.json.users).toEqual([]);
  });

  it('a per-vhost import puts everything in that vhost', async () => {
    h = await start();
    await h.api('PUT', '/api/vhosts/staging', {});
    await h.api('PUT', '/api/permissions/staging/guest', {
      body: { configure: '.*', write: '.*', read: '.*' },
    });
    const r = await h.api('POST', '/api/definitions/staging', {
      body: {
        queues: [{ name: 'sq', vhost: 'elsewhere', durable: true, auto_delete: false, arguments: {} }],
        exchanges: [
          {
            name: 'sx',
            vhost: 'elsewhere',
            type: 'fanout',
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: {},
          },
        ],
        bindings: [
          {
            source: 'sx',
            vhost: 'elsewhere',
            destination: 'sq',
            destination_type: 'queue',
            routing_key: '',
            arguments: {},
          },
        ],
      },
    });
    expect(r.status, r.text).toBe(204);
    expect(h.broker.vhost('staging').exchanges.get('sx')!.bindings.size).toBe(1);
    expect(h.broker.vhosts.has('elsewhere')).toBe(false);
  });

  it('bad definitions are a 400 and change nothing', async () => {
    h = await start();
    const before = (await h.api('GET', '/api/definitions')).json;
    const cases: [string, unknown][] = [
      ['not an array', { queues: {} }],
      [
        'unknown vhost',
        { queues: [{ name: 'q', vhost: 'missing', durable: true, auto_delete: false, arguments: {} }] },
      ],
      [
        'unknown exchange type',
        {
          exchanges: [
            {
              name: 'x',
              vhost: '/',
              type: 'x-consistent-hash',
              durable: true,
              auto_delete: false,
              internal: false,
              arguments: {},
            },
          ],
        },
      ],
      [
        'bad queue argument',
        { queues: [{ name: 'q', vhost: '/', durable: true, arguments: { 'x-max-priority': 'high' } }] },
      ],
      [
        'quorum queue',
        { queues: [{ name: 'qq', vhost: '/', durable: true, arguments: { 'x-queue-type': 'quorum' } }] },
      ],
      [
        'md5 hash',
        {
          users: [
            { name: 'u', password_hash: 'x', hashing_algorithm: 'rabbit_password_hashing_md5', tags: [] },
          ],
        },
      ],
      [
        'binding to missing queue',
        {
          bindings: [
            {
              source: 'amq.direct',
              vhost: '/',
              destination: 'none',
              destination_type: 'queue',
              routing_key: '',
              arguments: {},
            },
          ],
        },
      ],
      [
        'bad destination_type',
        {
          bindings: [
            {
              source: 'amq.direct',
              vhost: '/',
              destination: 'x',
              destination_type: 'topic',
              routing_key: '',
            },
          ],
        },
      ],
      [
        'permission for unknown user',
        { permissions: [{ user: 'ghost', vhost: '/', configure: '', write: '', read: '' }] },
      ],
    ];
    for (const [what, body] of cases) {
      // Valid objects alongside the bad one must not be applied either.
      const withGood = {
        ...(body as object),
        vhosts: [{ name: 'new-vh' }],
        users: [
          ...((body as { users?: unknown[] }).users ?? []),
          { name: 'newbie', password_hash: '', tags: [] },
        ],
      };
      const r = await h.api('POST', '/api/definitions', { body: withGood });
      expect(r.status, what).toBe(400);
      expect(r.json.error, what).toBe('bad_request');
      expect(h.broker.vhosts.has('new-vh'), what).toBe(false);
      expect(h.broker.users.get('newbie'), what).toBeUndefined();
    }
    expect((await h.api('POST', '/api/definitions', { raw: '{"users": [' })).status).toBe(400);
    expect((await h.api('GET', '/api/definitions')).json).toEqual(before);
  });
});
