/**
 * Issue 14: work a management user controls is bounded. A `monitoring` user's regex name
 * filter must not freeze the broker (another client's round trip is measured while the
 * attack runs), and nested JSON bodies are refused with a 400 before anything is stored,
 * so later listings never answer 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from './helpers.js';
import { amqpRoundTrip, startWithPeers, type Peers } from './peers.js';

let h: Harness;
let peers: Peers;
let close: () => Promise<void>;
const monitor: [string, string] = ['watcher', 'w-pass'];

beforeAll(async () => {
  ({ h, peers, close } = await startWithPeers({
    name: 'watcher',
    password: 'w-pass',
    tags: ['monitoring'],
    permit: false,
  }));
});
afterAll(() => close());

describe('bounded work per management request', () => {
  it('a backtracking name regex does not stall other clients', async () => {
    // With RegExp, (a+)+$ against this name takes about 2^26 steps.
    const name = `${'a'.repeat(26)}!`;
    expect((await h.api('PUT', `/api/queues/%2F/${name}`, { body: {} })).status).toBe(201);
    const attack = Promise.all(
      ['(a+)+$', '(a|aa)+$', '(.*a){20}$'].map((p) =>
        h.api('GET', `/api/queues?use_regex=true&name=${encodeURIComponent(p)}`, { auth: monitor }),
      ),
    );
    const t0 = performance.now();
    await amqpRoundTrip(peers.amqpUrl('alice', 'a-pass'), 'during-regex');
    const roundTripMs = performance.now() - t0;
    const answers = await attack;
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(answers.map((r) => r.json.length)).toEqual([0, 0, 0]);
    // Generous for a loaded machine; a frozen event loop takes many seconds.
    expect(roundTripMs).toBeLessThan(3000);
    // The filter still works, and what needs backtracking is a clear 400.
    const r = await h.api('GET', `/api/queues?use_regex=true&name=${encodeURIComponent('^a{26}!$')}`);
    expect(r.json.map((q: { name: string }) => q.name)).toEqual([name]);
    const refused = await h.api('GET', `/api/queues?use_regex=true&name=${encodeURIComponent('(a)\\1')}`);
    expect(refused.status).toBe(400);
    expect(refused.json.reason).toMatch(/not supported/);
  });

  it('backtracking permission and policy patterns are matched in linear time, not on a stalled event loop', async () => {
    // With RegExp, (a+)+$ against this name takes about 2^26 steps per check.
    const name = `${'a'.repeat(26)}!`;
    const slow = '(a+)+$';
    await h.broker.putUser('planner', { password: 'p-pass', tags: ['policymaker'] });
    await h.broker.setPermission('/', 'planner', { configure: '.*', write: '.*', read: '.*' });
    await h.broker.putUser('mallory', { password: 'm-pass', tags: ['management'] });
    const planner: [string, string] = ['planner', 'p-pass'];
    // A policymaker's policy pattern: tested against every queue declared.
    const policy = await h.api('PUT', '/api/policies/%2F/slow', {
      auth: planner,
      body: { pattern: slow, definition: { 'max-length': 10 }, 'apply-to': 'queues' },
    });
    expect(policy.status).toBeLessThan(300);
    // An administrator's permission pattern: tested on every declare, bind and publish check.
    const perm = await h.api('PUT', '/api/permissions/%2F/mallory', {
      body: { configure: slow, write: slow, read: slow },
    });
    expect(perm.status).toBeLessThan(300);
    const attack = Promise.all([
      ...[1, 2, 3].map((i) =>
        h.api('PUT', `/api/queues/%2F/${name.replace('!', `${i}!`)}`, { auth: planner, body: {} }),
      ),
      ...[1, 2, 3].map((i) =>
        h.api('PUT', `/api/queues/%2F/${name.replace('!', `${i}!`)}m`, {
          auth: ['mallory', 'm-pass'],
          body: {},
        }),
      ),
    ]);
    const t0 = performance.now();
    await amqpRoundTrip(peers.amqpUrl('alice', 'a-pass'), 'during-patterns');
    const roundTripMs = performance.now() - t0;
    const answers = await attack;
    // The policy did not match (no match for `!`); mallory's names are refused (403).
    expect(answers.map((r) => r.status)).toEqual([201, 201, 201, 403, 403, 403]);
    expect(roundTripMs).toBeLessThan(3000);
    // The patterns still match what they should.
    expect((await h.api('PUT', '/api/queues/%2F/aaaa', { auth: planner, body: {} })).status).toBe(201);
    expect(h.broker.vhosts.get('/')!.policies.match('queues', 'aaaa')?.name).toBe('slow');
    expect(
      (await h.api('PUT', '/api/queues/%2F/aaaa', { auth: ['mallory', 'm-pass'], body: {} })).status,
    ).toBe(204);
    // What needs backtracking is refused with a clear 400.
    for (const [path, body] of [
      ['/api/permissions/%2F/mallory', { configure: '(a)\\1', write: '', read: '' }],
      ['/api/policies/%2F/backref', { pattern: '(?=a)', definition: { 'max-length': 1 } }],
    ] as const) {
      const r = await h.api('PUT', path, { body });
      expect(r.status, path).toBe(400);
      expect(r.json.reason, path).toMatch(/not supported|refused/);
    }
    await h.api('DELETE', '/api/policies/%2F/slow');
  });

  it('deeply nested bodies and queue arguments are a 400, and listings stay 200', async () => {
    const nested = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    for (const depth of [40, 100_000]) {
      const bodies: [string, string, string][] = [
        ['PUT', '/api/queues/%2F/deep', `{"arguments":${nested(depth)}}`],
        ['PUT', '/api/exchanges/%2F/deep', `{"type":"direct","arguments":${nested(depth)}}`],
        [
          'POST',
          '/api/exchanges/amq.default/publish',
          `{"routing_key":"x","payload":"p","properties":{"headers":${nested(depth)}}}`,
        ],
        ['POST', '/api/definitions', `{"queues":[{"name":"deep","vhost":"/","arguments":${nested(depth)}}]}`],
        ['PUT', '/api/policies/%2F/deep', `{"pattern":"^deep$","definition":${nested(depth)}}`],
        ['PUT', '/api/queues/%2F/deep', '['.repeat(depth) + ']'.repeat(depth)],
      ];
      for (const [method, path, raw] of bodies) {
        const r = await h.api(method, path.replace('amq.default', '%2F/amq.default'), { raw });
        expect(r.status, `${method} ${path} at depth ${depth}`).toBe(400);
        expect(r.json.reason).toMatch(/nested deeper than/);
      }
    }
    // Nesting within the limit is kept as it was sent.
    expect(
      (await h.api('PUT', '/api/queues/%2F/nested-ok', { raw: `{"arguments":${nested(20)}}` })).status,
    ).toBe(201);
    expect(h.broker.vhosts.get('/')!.queues.has('deep')).toBe(false);
    for (const p of ['/api/queues', '/api/exchanges', '/api/definitions', '/api/policies'])
      expect((await h.api('GET', p)).status, p).toBe(200);
  });
});
