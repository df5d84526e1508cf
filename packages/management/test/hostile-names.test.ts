/**
 * Issue 14: names a client chooses must never become a plain object's property name. A
 * `management` user (no administrator) tries the names that reach Object.prototype
 * (`__proto__`, `constructor`, ...) in every part of the API that takes names, arguments,
 * headers, column paths or sort keys; afterwards the broker must be unchanged for everyone:
 * AMQP, MQTT, STOMP and HTTP work for another user and Object.prototype is untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc, type Harness } from './helpers.js';
import { everyProtocolServes, startWithPeers, type Peers } from './peers.js';

const DANGEROUS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString'];

let h: Harness;
let peers: Peers;
let close: () => Promise<void>;
const mallory: [string, string] = ['mallory', 'm-pass'];

beforeAll(async () => {
  ({ h, peers, close } = await startWithPeers({
    name: 'mallory',
    password: 'm-pass',
    tags: ['management'],
    permit: true,
  }));
});
afterAll(() => close());

/** A JSON object text with `key` as a real own key (JSON.stringify of a literal would drop `__proto__`). */
const withKey = (key: string, value: string): string => `{${JSON.stringify(key)}:${value}}`;

describe('dangerous names through the management API', () => {
  it('leave Object.prototype and every protocol untouched', async () => {
    const protoKeys = Object.getOwnPropertyNames(Object.prototype).sort();
    const statuses: string[] = [];
    const call = async (...a: Parameters<Harness['api']>): Promise<void> => {
      const r = await h.api(...a);
      statuses.push(`${r.status} ${a[0]} ${a[1]}`);
    };
    for (const n of DANGEROUS) {
      const obj = withKey(n, '{"polluted":"yes","x":{"polluted":"yes"}}');
      const str = withKey(n, '"yes"');
      // Objects named after the dangerous word, and arguments/headers keyed by it.
      await call('PUT', `/api/queues/%2F/${enc(n)}`, { raw: `{"arguments":${obj}}`, auth: mallory });
      await call('PUT', `/api/queues/%2F/q-${enc(n)}`, { raw: `{"arguments":${str}}`, auth: mallory });
      await call('PUT', `/api/exchanges/%2F/${enc(n)}`, {
        raw: `{"type":"topic","arguments":${obj}}`,
        auth: mallory,
      });
      await call('POST', `/api/bindings/%2F/e/${enc(n)}/q/${enc(n)}`, {
        raw: `{"routing_key":${JSON.stringify(n)},"arguments":${obj}}`,
        auth: mallory,
      });
      await call('POST', `/api/exchanges/%2F/${enc(n)}/publish`, {
        raw: `{"routing_key":${JSON.stringify(n)},"payload":"p","properties":{"headers":${obj}}}`,
        auth: mallory,
      });
      await call('POST', `/api/queues/%2F/${enc(n)}/get`, {
        raw: `{"count":1,"ackmode":"ack_requeue_true",${JSON.stringify(n)}:{"polluted":"yes"}}`,
        auth: mallory,
      });
      // Names an administrator may create: the management user tries, and so does guest.
      await call('PUT', `/api/vhosts/${enc(n)}`, { raw: obj });
      await call('PUT', `/api/users/${enc(n)}`, { raw: `{"password":"x","tags":"management"}` });
      await call('PUT', `/api/permissions/${enc(n)}/${enc(n)}`, {
        raw: `{"configure":".*","write":".*","read":".*"}`,
      });
      await call('PUT', `/api/policies/%2F/${enc(n)}`, {
        raw: `{"pattern":"^nothing$","definition":${withKey(n, '{"polluted":"yes"}')}}`,
      });
      await call('POST', '/api/definitions', {
        raw: `{"queues":[{"name":"d-${n}","vhost":"/","arguments":${obj}}]}`,
      });
      // Column paths, sort keys and name filters over every listing.
      for (const path of [
        'queues',
        'exchanges',
        'bindings',
        'vhosts',
        'connections',
        'channels',
        'consumers',
      ]) {
        for (const q of [
          `columns=arguments.${n}.polluted`,
          `columns=arguments.${n}.x.polluted,name`,
          `columns=${n}.polluted`,
          `columns=${n}`,
          `sort=arguments.${n}.polluted`,
          `sort=${n}&sort_reverse=true`,
          `name=${n}`,
          `name=${n}&use_regex=true`,
        ])
          await call('GET', `/api/${path}?${q}`, { auth: mallory });
      }
    }
    expect(statuses.filter((s) => s.startsWith('5'))).toEqual([]);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoKeys);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();

    // Another user is served by every protocol, and by HTTP.
    await everyProtocolServes(peers, 'alice', 'a-pass', 'after-names');
    expect(
      (await h.api('PUT', '/api/queues/%2F/after', { body: { arguments: { 'x-max-length': 1 } } })).status,
    ).toBe(201);
    for (const p of ['/api/queues', '/api/exchanges', '/api/bindings', '/api/definitions', '/api/overview'])
      expect((await h.api('GET', p)).status, p).toBe(200);
    expect((await fetch(`${h.base}/metrics`)).status).toBe(200);
  });

  it('a column path only walks own properties, and keeps a key named __proto__ as data', async () => {
    await h.api('PUT', '/api/queues/%2F/cols', { body: { arguments: { a: { b: 1 } } } });
    let r = await h.api('GET', '/api/queues?name=cols&columns=name,arguments.a.b');
    expect(r.json).toEqual([{ name: 'cols', arguments: { a: { b: 1 } } }]);
    // Inherited members are not columns: nothing but the name is found.
    r = await h.api('GET', '/api/queues?name=cols&columns=name,arguments.__proto__,arguments.constructor');
    expect(r.json).toEqual([{ name: 'cols' }]);
    await h.api('PUT', '/api/queues/%2F/own-proto', { raw: '{"arguments":{"__proto__":{"k":1}}}' });
    r = await h.api('GET', '/api/queues?name=own-proto&columns=name,arguments.__proto__.k');
    expect(r.text).toBe('[{"name":"own-proto","arguments":{"__proto__":{"k":1}}}]');
    r = await h.api('GET', '/api/queues/%2F/own-proto');
    expect(r.text).toContain('"arguments":{"__proto__":{"k":1}}');
  });
});
