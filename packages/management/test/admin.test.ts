import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '@junction/core';
import type { ClassicQueue } from '@junction/core/internal';
import { type Harness, start } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await start();
  await h.broker.putUser('mon', { password: 'mon', tags: ['monitoring'] });
  await h.broker.putUser('mgr', { password: 'mgr', tags: ['management'] });
  await h.broker.putUser('pm', { password: 'pm', tags: ['policymaker'] });
  await h.broker.putUser('plain', { password: 'plain', tags: [] });
  await h.broker.addVhost('mgr-vh');
  await h.broker.setPermission('mgr-vh', 'mgr', { configure: '.*', write: '.*', read: '.*' });
  await h.broker.setPermission('mgr-vh', 'pm', { configure: '.*', write: '.*', read: '.*' });
});
afterAll(async () => {
  await h.close();
});

describe('authentication and tags', () => {
  it('401 with WWW-Authenticate for missing or wrong credentials', async () => {
    for (const auth of [null, ['guest', 'wrong'] as [string, string], ['nobody', 'x'] as [string, string]]) {
      const r = await h.api('GET', '/api/overview', { auth });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      expect(r.json).toMatchObject({ error: 'not_authorised' });
      expect(typeof r.json.reason).toBe('string');
    }
    const r = await h.api('GET', '/api/overview', { headers: { authorization: 'Bearer abc' }, auth: null });
    expect(r.status).toBe(401);
  });

  it('403 for a user without a management tag', async () => {
    const r = await h.api('GET', '/api/overview', { auth: ['plain', 'plain'] });
    expect(r.status).toBe(403);
    expect(r.json.error).toBe('not_authorised');
  });

  it('monitoring reads everything but changes nothing', async () => {
    const auth: [string, string] = ['mon', 'mon'];
    expect((await h.api('GET', '/api/nodes', { auth })).status).toBe(200);
    const vhosts = (await h.api('GET', '/api/vhosts', { auth })).json.map((v: { name: string }) => v.name);
    expect(vhosts).toEqual(expect.arrayContaining(['/', 'mgr-vh']));
    expect((await h.api('GET', '/api/queues/%2F', { auth })).status).toBe(200);
    expect((await h.api('GET', '/api/users', { auth })).status).toBe(403);
    expect((await h.api('PUT', '/api/vhosts/monvh', { auth })).status).toBe(403);
    // No permissions on any vhost: the core refuses the declare.
    expect((await h.api('PUT', '/api/queues/%2F/monq', { auth, body: {} })).status).toBe(403);
    expect(h.broker.vhosts.has('monvh')).toBe(false);
    expect(h.broker.vhost('/').queues.has('monq')).toBe(false);
  });

  it('management sees only its own vhosts and may declare there', async () => {
    const auth: [string, string] = ['mgr', 'mgr'];
    const vhosts = (await h.api('GET', '/api/vhosts', { auth })).json.map((v: { name: string }) => v.name);
    expect(vhosts).toEqual(['mgr-vh']);
    expect((await h.api('GET', '/api/queues/%2F', { auth })).status).toBe(403);
    expect((await h.api('GET', '/api/nodes', { auth })).status).toBe(403);
    expect((await h.api('GET', '/api/definitions', { auth })).status).toBe(403);
    expect((await h.api('PUT', '/api/queues/mgr-vh/mq', { auth, body: {} })).status).toBe(201);
    expect((await h.api('PUT', '/api/queues/%2F/mq', { auth, body: {} })).status).toBe(403);
    expect(
      (await h.api('PUT', '/api/policies/mgr-vh/p', { auth, body: { pattern: '.*', definition: {} } }))
        .status,
    ).toBe(403);
    const qs = (await h.api('GET', '/api/queues', { auth })).json;
    expect(qs.every((q: { vhost: string }) => q.vhost === 'mgr-vh')).toBe(true);
    expect(h.broker.vhost('/').queues.has('mq')).toBe(false);
    expect((await h.api('GET', '/api/whoami', { auth })).json).toEqual({ name: 'mgr', tags: ['management'] });
  });

  it('policymaker may set policies on its vhosts only', async () => {
    const auth: [string, string] = ['pm', 'pm'];
    expect(
      (
        await h.api('PUT', '/api/policies/mgr-vh/pm-pol', {
          auth,
          body: { pattern: '^x', definition: { 'max-length': 5 } },
        })
      ).status,
    ).toBe(201);
    expect(
      (await h.api('PUT', '/api/policies/%2F/pm-pol', { auth, body: { pattern: '^x', definition: {} } }))
        .status,
    ).toBe(403);
    expect(h.broker.vhost('/').policies.list()).toHaveLength(0);
    expect((await h.api('DELETE', '/api/policies/mgr-vh/pm-pol', { auth })).status).toBe(204);
  });
});

describe('vhosts', () => {
  it('creates, shows, lists and deletes a vhost', async () => {
    let r = await h.api('PUT', '/api/vhosts/v%2Fone', { body: { description: 'first', tags: ['a', 'b'] } });
    expect(r.status).toBe(201);
    expect(h.broker.vhosts.has('v/one')).toBe(true);
    expect((await h.api('PUT', '/api/vhosts/v%2Fone', {})).status).toBe(204);
    r = await h.api('GET', '/api/vhosts/v%2Fone');
    expect(r.json).toMatchObject({ name: 'v/one', description: 'first', tags: ['a', 'b'], messages: 0 });
    r = await h.api('GET', '/api/vhosts');
    expect(r.json.map((v: { name: string }) => v.name)).toContain('v/one');
    expect((await h.api('DELETE', '/api/vhosts/v%2Fone')).status).toBe(204);
    expect(h.broker.vhosts.has('v/one')).toBe(false);
    expect((await h.api('DELETE', '/api/vhosts/v%2Fone')).status).toBe(404);
    expect((await h.api('GET', '/api/vhosts/v%2Fone')).status).toBe(404);
    expect((await h.api('PUT', '/api/vhosts/bad', { raw: '{' })).status).toBe(400);
    expect(h.broker.vhosts.has('bad')).toBe(false);
  });
});

describe('users and permissions', () => {
  it('creates users by password and by hash, with tags in both formats', async () => {
    let r = await h.api('PUT', '/api/users/alice', {
      body: { password: 's3cret', tags: 'administrator,monitoring' },
    });
    expect(r.status).toBe(201);
    expect(h.broker.users.get('alice')!.tags).toEqual(['administrator', 'monitoring']);
    expect(verifyPassword('s3cret', h.broker.users.get('alice')!.passwordHash)).toBe(true);
    const hash = hashPassword('hashed');
    r = await h.api('PUT', '/api/users/bob', {
      body: {
        password_hash: hash,
        hashing_algorithm: 'rabbit_password_hashing_sha256',
        tags: ['management'],
      },
    });
    expect(r.status).toBe(201);
    r = await h.api('GET', '/api/users/bob');
    expect(r.json).toEqual({
      name: 'bob',
      password_hash: hash,
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: ['management'],
      limits: {},
    });
    r = await h.api('GET', '/api/users');
    expect(r.json.map((u: { name: string }) => u.name)).toEqual(
      expect.arrayContaining(['guest', 'alice', 'bob']),
    );
    // bob can log in with the password behind the hash.
    await h.broker.setPermission('/', 'bob', { configure: '', write: '', read: '.*' });
    expect((await h.api('GET', '/api/whoami', { auth: ['bob', 'hashed'] })).status).toBe(200);

    expect(
      (await h.api('PUT', '/api/users/carol', { body: { password_hash: 'abc', tags: [] } })).status,
    ).toBe(400);
    expect(
      (
        await h.api('PUT', '/api/users/carol', {
          body: { password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_md5' },
        })
      ).status,
    ).toBe(400);
    expect((await h.api('PUT', '/api/users/carol', { body: { password: 1 } })).status).toBe(400);
    expect(h.broker.users.get('carol')).toBeUndefined();

    // Names that need URL encoding.
    const odd = 'a/b c%';
    expect(
      (
        await h.api('PUT', `/api/users/${encodeURIComponent(odd)}`, {
          body: { password: 'p', tags: ['management'] },
        })
      ).status,
    ).toBe(201);
    expect((await h.api('GET', `/api/users/${encodeURIComponent(odd)}`)).json.name).toBe(odd);
    expect(
      (
        await h.api('PUT', `/api/permissions/%2F/${encodeURIComponent(odd)}`, {
          body: { configure: '.*', write: '.*', read: '.*' },
        })
      ).status,
    ).toBe(201);
    expect((await h.api('GET', '/api/whoami', { auth: [odd, 'p'] })).json.name).toBe(odd);
    expect((await h.api('DELETE', `/api/users/${encodeURIComponent(odd)}`)).status).toBe(204);
    expect(h.broker.users.get(odd)).toBeUndefined();

    expect((await h.api('DELETE', '/api/users/alice')).status).toBe(204);
    expect(h.broker.users.get('alice')).toBeUndefined();
    expect((await h.api('DELETE', '/api/users/alice')).status).toBe(404);
    expect((await h.api('GET', '/api/users/alice')).status).toBe(404);
  });

  it('sets, shows, lists and clears permissions', async () => {
    await h.api('PUT', '/api/users/dave', { body: { password: 'd', tags: ['management'] } });
    let r = await h.api('PUT', '/api/permissions/%2F/dave', {
      body: { configure: '^dave', write: '.*', read: '.*' },
    });
    expect(r.status).toBe(201);
    r = await h.api('GET', '/api/permissions/%2F/dave');
    expect(r.json).toEqual({ user: 'dave', vhost: '/', configure: '^dave', write: '.*', read: '.*' });
    r = await h.api('GET', '/api/permissions');
    expect(r.json).toContainEqual({ user: 'dave', vhost: '/', configure: '^dave', write: '.*', read: '.*' });
    expect((await h.api('GET', '/api/users/dave/permissions')).json).toHaveLength(1);
    expect(
      (await h.api('GET', '/api/vhosts/%2F/permissions')).json.map((p: { user: string }) => p.user),
    ).toContain('dave');

    // The core applies the permission regexes to what the user does over HTTP.
    const auth: [string, string] = ['dave', 'd'];
    expect((await h.api('PUT', '/api/queues/%2F/dave.q', { auth, body: {} })).status).toBe(201);
    expect((await h.api('PUT', '/api/queues/%2F/other.q', { auth, body: {} })).status).toBe(403);
    expect(h.broker.vhost('/').queues.has('other.q')).toBe(false);

    expect(
      (await h.api('PUT', '/api/permissions/%2F/dave', { body: { configure: '(', write: '.*', read: '.*' } }))
        .status,
    ).toBe(400);
    expect((await h.api('PUT', '/api/permissions/%2F/dave', { body: { configure: '.*' } })).status).toBe(400);
    expect(h.broker.users.permission('/', 'dave')!.configure).toBe('^dave');
    expect(
      (await h.api('PUT', '/api/permissions/nope/dave', { body: { configure: '', write: '', read: '' } }))
        .status,
    ).toBe(404);
    expect(
      (await h.api('PUT', '/api/permissions/%2F/nobody', { body: { configure: '', write: '', read: '' } }))
        .status,
    ).toBe(404);

    expect((await h.api('DELETE', '/api/permissions/%2F/dave')).status).toBe(204);
    expect(h.broker.users.permission('/', 'dave')).toBeUndefined();
    expect((await h.api('DELETE', '/api/permissions/%2F/dave')).status).toBe(404);
  });
});

describe('policies', () => {
  it('sets a policy that applies to queues, lists, shows and deletes it', async () => {
    await h.api('PUT', '/api/queues/%2F/lim.q', { body: {} });
    let r = await h.api('PUT', '/api/policies/%2F/limit', {
      body: { pattern: '^lim\\.', definition: { 'max-length': 2 }, priority: 1, 'apply-to': 'queues' },
    });
    expect(r.status).toBe(201);
    expect((h.broker.vhost('/').queues.get('lim.q') as ClassicQueue).settings.maxLength).toBe(2);
    r = await h.api('GET', '/api/policies/%2F/limit');
    expect(r.json).toEqual({
      vhost: '/',
      name: 'limit',
      pattern: '^lim\\.',
      'apply-to': 'queues',
      definition: { 'max-length': 2 },
      priority: 1,
    });
    expect((await h.api('GET', '/api/queues/%2F/lim.q')).json.policy).toBe('limit');
    expect((await h.api('GET', '/api/policies')).json).toHaveLength(1);
    expect((await h.api('GET', '/api/policies/%2F')).json).toHaveLength(1);

    expect(
      (await h.api('PUT', '/api/policies/%2F/bad', { body: { pattern: '(', definition: {} } })).status,
    ).toBe(400);
    expect(
      (
        await h.api('PUT', '/api/policies/%2F/bad', {
          body: { pattern: '.*', definition: {}, 'apply-to': 'streams' },
        })
      ).status,
    ).toBe(400);
    expect((await h.api('PUT', '/api/policies/%2F/bad', { body: { definition: {} } })).status).toBe(400);
    expect(
      (await h.api('PUT', '/api/policies/nope/bad', { body: { pattern: '.*', definition: {} } })).status,
    ).toBe(404);
    expect(
      h.broker
        .vhost('/')
        .policies.list()
        .map((p) => p.name),
    ).toEqual(['limit']);

    expect((await h.api('DELETE', '/api/policies/%2F/limit')).status).toBe(204);
    expect((h.broker.vhost('/').queues.get('lim.q') as ClassicQueue).settings.maxLength).toBeUndefined();
    expect((await h.api('DELETE', '/api/policies/%2F/limit')).status).toBe(404);
  });
});
