import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '@junction/core';
import { until } from '@junction/testkit';
import { type Harness, start } from './helpers.js';

const uiDir = mkdtempSync(join(tmpdir(), 'junction-ui-'));
writeFileSync(join(uiDir, 'index.html'), '<!doctype html><title>Junction</title>');
writeFileSync(join(uiDir, 'app.js'), 'export {};');

let h: Harness;
let ready = true;
beforeAll(async () => {
  h = await start({ amqp: true, mgmt: { uiDir, ready: () => ready } });
});
afterAll(async () => {
  await h.close();
});

/** The value of one sample line in the Prometheus text format. */
function sample(text: string, line: string): number | undefined {
  const row = text.split('\n').find((l) => l.startsWith(line + ' '));
  return row === undefined ? undefined : Number(row.slice(line.length + 1));
}

describe('metrics and health', () => {
  it('exposes queue depths, counters, connections and process metrics', async () => {
    const conn = await amqp.connect(h.amqp!.url);
    try {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('mq', { durable: false });
      for (let i = 0; i < 3; i++) ch.sendToQueue('mq', Buffer.from('x'));
      await ch.waitForConfirms();
      const got = await ch.get('mq', { noAck: false });
      expect(got).toBeTruthy();

      const text = await until(async () => {
        const r = await fetch(`${h.base}/metrics`);
        expect(r.status).toBe(200);
        expect(r.headers.get('content-type')).toMatch(/text\/plain/);
        const t = await r.text();
        return sample(t, 'junction_queue_messages_unacked{vhost="/",queue="mq"}') === 1 ? t : null;
      }, 'metrics to show the unacked message');
      expect(sample(text, 'junction_queue_messages_ready{vhost="/",queue="mq"}')).toBe(2);
      expect(sample(text, 'junction_queue_messages_published_total{vhost="/",queue="mq"}')).toBe(3);
      expect(sample(text, 'junction_messages_published_total')).toBe(3);
      expect(sample(text, 'junction_connections{protocol="amqp"}')).toBe(1);
      expect(sample(text, 'junction_connections{protocol="mqtt"}')).toBe(0);
      expect(text).toContain('process_cpu_user_seconds_total');
      expect(text).toContain('nodejs_heap_size_used_bytes');

      // Ack it: the ack counter moves.
      ch.ack(got as amqp.GetMessage);
      await until(
        async () =>
          sample(await (await fetch(`${h.base}/metrics`)).text(), 'junction_messages_acknowledged_total') ===
          1,
        'ack counted',
      );
    } finally {
      await conn.close();
    }
    await until(
      async () =>
        sample(await (await fetch(`${h.base}/metrics`)).text(), 'junction_connections{protocol="amqp"}') ===
        0,
      'connection gone',
    );
    // A deleted queue's series go away.
    await h.api('DELETE', '/api/queues/%2F/mq');
    const t = await (await fetch(`${h.base}/metrics`)).text();
    expect(sample(t, 'junction_queue_messages_ready{vhost="/",queue="mq"}')).toBeUndefined();
    expect(sample(t, 'junction_queue_messages_published_total{vhost="/",queue="mq"}')).toBeUndefined();
  });

  it('healthz, readyz and the overview/nodes endpoints', async () => {
    expect((await fetch(`${h.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${h.base}/readyz`)).status).toBe(200);
    ready = false;
    expect((await fetch(`${h.base}/readyz`)).status).toBe(503);
    ready = true;
    h.mgmt.setReady(false);
    expect((await fetch(`${h.base}/readyz`)).status).toBe(503);
    h.mgmt.setReady(true);
    expect((await fetch(`${h.base}/readyz`)).status).toBe(200);

    let r = await h.api('GET', '/api/overview');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      product_name: 'Junction',
      node: expect.any(String),
      queue_totals: expect.any(Object),
      object_totals: expect.any(Object),
    });
    expect(r.json.exchange_types.map((t: { name: string }) => t.name)).toEqual(
      expect.arrayContaining(['direct', 'fanout', 'topic', 'headers']),
    );
    r = await h.api('GET', '/api/nodes');
    expect(r.json).toHaveLength(1);
    expect(r.json[0]).toMatchObject({
      name: expect.stringMatching(/^junction@/),
      running: true,
      type: 'disc',
    });
    expect((await h.api('GET', `/api/nodes/${encodeURIComponent(r.json[0].name)}`)).status).toBe(200);
    expect((await h.api('GET', '/api/nodes/other@host')).status).toBe(404);
  });

  it('serves the UI directory at / and /ui/, and nothing outside it', async () => {
    let r = await fetch(`${h.base}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    expect(await r.text()).toContain('Junction');
    r = await fetch(`${h.base}/ui/app.js`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${h.base}/ui/missing.js`)).status).toBe(404);
    expect((await fetch(`${h.base}/ui/..%2F..%2Fetc%2Fpasswd`)).status).toBe(404);
    expect((await fetch(`${h.base}/nothing-here`)).status).toBe(404);
  });

  it('unknown API paths and methods are JSON errors', async () => {
    let r = await h.api('GET', '/api/nope');
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ error: expect.any(String), reason: expect.any(String) });
    r = await h.api('PATCH', '/api/queues');
    expect(r.status).toBe(405);
    r = await h.api('GET', '/api/queues/%E0%A4%A');
    expect(r.status).toBe(400);
    // Credentials are checked before anything else.
    expect((await h.api('GET', '/api/nope', { auth: null })).status).toBe(401);
  });

  it('close() stops the listener', async () => {
    const other = await start();
    expect((await fetch(`${other.base}/readyz`)).status).toBe(200);
    const closing = other.mgmt.close();
    await closing;
    await other.broker.close();
    await expect(fetch(`${other.base}/readyz`)).rejects.toThrow();
  });
});

describe('store commit latency', () => {
  it('histograms every durable store write by operation', async () => {
    // A memory store that claims durability, so the core writes persistent messages to it.
    class DurableMemoryStore extends MemoryStore {
      override readonly capabilities = { durable: true };
    }
    const d = await start({ amqp: true, broker: { store: new DurableMemoryStore() } });
    try {
      const conn = await amqp.connect(d.amqp!.url);
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('durable-q', { durable: true });
      for (let i = 0; i < 3; i++) ch.sendToQueue('durable-q', Buffer.from('x'), { persistent: true });
      await ch.waitForConfirms();
      await conn.close();
      const text = await (await fetch(`${d.base}/metrics`)).text();
      expect(sample(text, 'junction_store_commit_seconds_count{operation="enqueue"}')).toBe(3);
      expect(
        sample(text, 'junction_store_commit_seconds_count{operation="writeDefinitions"}'),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await d.close();
    }
  });
});

describe('failed store', () => {
  it('makes /readyz answer 503 with the reason and shows it in /api/overview', async () => {
    // A store that has failed and become read-only, as a background checkpoint failure leaves it.
    class FailedStore extends MemoryStore {
      failure: Error | undefined;
    }
    const store = new FailedStore();
    const d = await start({ broker: { store } });
    try {
      expect((await fetch(`${d.base}/readyz`)).status).toBe(200);
      expect((await d.api('GET', '/api/overview')).json.store_failure).toBeNull();
      store.failure = new Error('MDB_BAD_VALSIZE: key too long');
      const r = await fetch(`${d.base}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({
        status: 'unavailable',
        reason: 'store failed and is read-only: MDB_BAD_VALSIZE: key too long',
      });
      expect((await d.api('GET', '/api/overview')).json.store_failure).toBe('MDB_BAD_VALSIZE: key too long');
    } finally {
      await d.close();
    }
  });
});

describe('bundled web UI', () => {
  it('serves the package ui/ directory by default', async () => {
    const other = await start();
    try {
      const html = await (await fetch(`${other.base}/`)).text();
      expect(html).toContain('/ui/app.js');
      const js = await fetch(`${other.base}/ui/app.js`);
      expect(js.status).toBe(200);
      expect(await js.text()).toContain("from './js/overview.js'");
      expect(await (await fetch(`${other.base}/ui/js/overview.js`)).text()).toContain('/api/overview');
      expect((await fetch(`${other.base}/ui/style.css`)).headers.get('content-type')).toMatch(/text\/css/);
    } finally {
      await other.close();
    }
  });

  it('serves uPlot from its installed package under /ui/vendor/uplot/, and nothing else there', async () => {
    const other = await start();
    try {
      const html = await (await fetch(`${other.base}/`)).text();
      expect(html).toContain('/ui/vendor/uplot/uPlot.iife.min.js');
      let r = await fetch(`${other.base}/ui/vendor/uplot/uPlot.iife.min.js`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/javascript/);
      expect(await r.text()).toContain('uPlot');
      r = await fetch(`${other.base}/ui/vendor/uplot/uPlot.min.css`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/text\/css/);
      expect((await fetch(`${other.base}/ui/vendor/uplot/..%2Fpackage.json`)).status).toBe(404);
      expect((await fetch(`${other.base}/ui/vendor/uplot/missing.js`)).status).toBe(404);
      expect((await fetch(`${other.base}/ui/vendor/left-pad/index.js`)).status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it('answers scripts (X-Requested-With) 401 without a Basic challenge, so browsers show no dialog', async () => {
    const other = await start();
    try {
      const plain = await other.api('GET', '/api/whoami', { auth: ['guest', 'wrong'] });
      expect(plain.status).toBe(401);
      expect(plain.headers.get('www-authenticate')).toMatch(/^Basic /);
      const xhr = await other.api('GET', '/api/whoami', {
        auth: ['guest', 'wrong'],
        headers: { 'x-requested-with': 'XMLHttpRequest' },
      });
      expect(xhr.status).toBe(401);
      expect(xhr.headers.get('www-authenticate')).toBeNull();
      expect(xhr.json).toMatchObject({ error: 'not_authorised' });
    } finally {
      await other.close();
    }
  });
});
