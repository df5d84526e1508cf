/**
 * The web UI in real headless Chromium (playwright-core, the system's /usr/bin/chromium):
 * login, connections by protocol, declaring a queue, publishing to it and getting the message
 * back, the live overview charts, and the TLS column (version, cipher and client certificate of
 * an AMQPS connection that logged in with EXTERNAL). A missing Chromium fails the suite;
 * nothing is skipped.
 */
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '@junction/server';
import { closeAll, launchChromium, makeTestPki, openPage, type Browser, type Page } from '@junction/testkit';

let b: BrokerHandle;
let browser: Browser;
let conn: ChannelModel;
let ch: Channel;
let device: MqttClient;
const pki = makeTestPki();

beforeAll(async () => {
  [b, browser] = await Promise.all([
    startBroker({
      ports: { amqp: 0, amqps: 0, mqtt: 0, http: 0 },
      config: {
        tls: { cert: pki.server.certPath, key: pki.server.keyPath, ca: pki.caPath, clientCert: 'optional' },
      },
    }),
    launchChromium(),
  ]);
  conn = await amqp.connect(b.amqpUrl!, { clientProperties: { connection_name: 'ui-test-amqp' } });
  conn.on('error', () => {});
  ch = await conn.createChannel();
  device = await mqtt.connectAsync(b.mqttUrl!, {
    username: 'guest',
    password: 'guest',
    clientId: 'ui-test-device',
    reconnectPeriod: 0,
  });
  device.on('error', () => {});
});

afterAll(async () => {
  await closeAll([() => device?.endAsync(), () => conn?.close()]);
  await browser?.close();
  await b?.close();
  pki.remove();
});

/** A fresh page (own sessionStorage) that fails the test on uncaught page errors. */
async function openUi(): Promise<{ page: Page; errors: string[] }> {
  return openPage(browser, b.httpUrl!, { viewport: { width: 1280, height: 900 } });
}

async function logIn(page: Page, username: string, password: string): Promise<void> {
  await page.fill('#login [name=username]', username);
  await page.fill('#login [name=password]', password);
  await page.click('#login button[type=submit]');
}

describe('web UI in Chromium', () => {
  it('refuses a wrong password and shows no data', async () => {
    const { page, errors } = await openUi();
    const apiCalls: { url: string; status: number }[] = [];
    page.on('response', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/')) apiCalls.push({ url: r.url(), status: r.status() });
    });
    await logIn(page, 'guest', 'not-the-password');
    await expect.poll(() => page.textContent('#login-error')).toMatch(/Login failed/);
    expect(await page.isVisible('#login')).toBe(true);
    expect(await page.isHidden('#app')).toBe(true);
    expect(await page.locator('#main').innerHTML()).toBe('');
    expect(await page.locator('#tabs a').count()).toBe(0);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    // Only the login check went out, and it was refused.
    expect(apiCalls.map((c) => [new URL(c.url).pathname, c.status])).toEqual([['/api/whoami', 401]]);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('logs in, lists connections by protocol, declares a queue, publishes to it and gets the message', async () => {
    const { page, errors } = await openUi();
    await logIn(page, 'guest', 'guest');
    await page.locator('#page-overview .card').first().waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(1);

    // Connections: both clients, then filtered by protocol.
    await page.click('#tabs a[href="#/connections"]');
    const rows = page.locator('#page-connections tbody tr[data-key]');
    await expect.poll(() => rows.count()).toBe(2);
    const protocols = async (): Promise<string[]> =>
      (
        await page
          .locator(
            '#page-connections tbody tr[data-key] .badge.amqp, #page-connections tbody tr[data-key] .badge.mqtt',
          )
          .allTextContents()
      ).sort();
    expect(await protocols()).toEqual(['AMQP 0-9-1', 'MQTT 3.1.1']);
    expect(await page.locator('#page-connections tbody').textContent()).toContain('ui-test-device');
    await page.click('.segmented [data-protocol=MQTT]');
    await expect.poll(protocols).toEqual(['MQTT 3.1.1']);
    await page.click('.segmented [data-protocol=AMQP]');
    await expect.poll(protocols).toEqual(['AMQP 0-9-1']);
    await page.click('.segmented [data-protocol=STOMP]');
    await expect.poll(() => page.locator('#page-connections tbody td.empty').count()).toBe(1);
    await page.click('.segmented [data-protocol=all]');
    await expect.poll(() => rows.count()).toBe(2);

    // Declare a queue.
    await page.click('#tabs a[href="#/queues"]');
    await page.fill('#declare-queue [name=name]', 'ui-orders');
    await page.click('#declare-queue button[type=submit]');
    const queueRow = page.locator('#page-queues tr[data-key="//ui-orders"]');
    await queueRow.waitFor();
    expect(b.broker.vhost('/')?.queues.has('ui-orders')).toBe(true);

    // Publish to it through the default exchange.
    await page.click('#tabs a[href="#/exchanges"]');
    await page.locator('#publish-message [name=exchange] option[value=""]').waitFor({ state: 'attached' });
    await page.selectOption('#publish-message [name=exchange]', '');
    await page.fill('#publish-message [name=routing_key]', 'ui-orders');
    await page.fill('#publish-message [name=payload]', 'hello from the browser');
    await page.click('#publish-message button[type=submit]');
    await page.locator('.toast', { hasText: 'Message published and routed.' }).waitFor();

    // Get it back on the queue's page.
    await page.click('#tabs a[href="#/queues"]');
    await expect.poll(() => queueRow.locator('td').nth(3).textContent()).toBe('1');
    await queueRow.getByRole('button', { name: 'Messages…' }).click();
    await page.click('#get-messages button[type=submit]');
    const payload = page.locator('#get-results .message pre.payload');
    await expect.poll(() => payload.textContent()).toBe('hello from the browser');
    expect(await page.locator('#get-results .message header').textContent()).toContain(
      'routing key: ui-orders',
    );

    // Close the MQTT connection from the UI (two clicks: the second confirms).
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    await page.click('#tabs a[href="#/connections"]');
    const mqttRow = page.locator('#page-connections tr[data-key]', { hasText: 'ui-test-device' });
    await mqttRow.getByRole('button', { name: 'Close' }).click();
    await mqttRow.getByRole('button', { name: 'Confirm close?' }).click();
    await closed;
    // The broker forgets the connection once its socket has closed, which may be after the
    // DELETE returned; the page's next refresh (every 2 s) shows it gone.
    await expect.poll(() => rows.count(), { timeout: 6000 }).toBe(1);

    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('adds a user and gives it permissions', async () => {
    const { page, errors } = await openUi();
    await logIn(page, 'guest', 'guest');
    await page.click('#tabs a[href="#/users"]');
    await page.fill('#add-user [name=name]', 'ui-operator');
    await page.fill('#add-user [name=password]', 's3cret');
    await page.selectOption('#add-user [name=tags]', 'management');
    await page.click('#add-user button[type=submit]');
    await page.locator('#page-users tr[data-key="ui-operator"]', { hasText: 'management' }).waitFor();
    expect(b.broker.users.get('ui-operator')?.tags).toEqual(['management']);

    await page.click('#tabs a[href="#/permissions"]');
    await page
      .locator('#set-permission [name=user] option[value="ui-operator"]')
      .waitFor({ state: 'attached' });
    await page.selectOption('#set-permission [name=user]', 'ui-operator');
    await page.fill('#set-permission [name=write]', '^ui-');
    await page.click('#set-permission button[type=submit]');
    await page.locator('#page-permissions tr[data-key="//ui-operator"]', { hasText: '^ui-' }).waitFor();
    expect(b.broker.users.permission('/', 'ui-operator')).toMatchObject({
      configure: '.*',
      write: '^ui-',
      read: '.*',
    });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows names and payloads as text, under a Content-Security-Policy', async () => {
    const res = await fetch(b.httpUrl!);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const markup = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
    await ch.assertQueue(`q${markup}`, { durable: false });
    ch.sendToQueue(`q${markup}`, Buffer.from(markup), { headers: { [markup]: markup } });

    const { page, errors } = await openUi();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text());
    });
    await logIn(page, 'guest', 'guest');
    await page.locator('#page-overview .card').first().waitFor();
    await page.click('#tabs a[href="#/queues"]');
    const row = page.locator('#page-queues tr[data-key]', { hasText: 'onerror' });
    await row.waitFor();
    expect(await row.textContent()).toContain(`q${markup}`);
    await expect.poll(() => row.locator('td').nth(3).textContent()).toBe('1');
    await row.getByRole('button', { name: 'Messages…' }).click();
    await page.click('#get-messages button[type=submit]');
    const payload = page.locator('#get-results .message pre.payload');
    await expect.poll(() => payload.textContent()).toBe(markup);
    expect(await page.locator('#get-results img, #main script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(violations).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('plots the publish rate and the queue depth on the overview', async () => {
    const { page, errors } = await openUi();
    await logIn(page, 'guest', 'guest');
    await page.locator('#page-overview .chart .uplot').first().waitFor();
    expect(await page.locator('#page-overview .chart canvas').count()).toBe(2);

    await ch.assertQueue('ui-burst', { durable: false });
    for (let i = 0; i < 500; i++) ch.sendToQueue('ui-burst', Buffer.from(`m${i}`));
    // The rate chart's plotted data gets a non-zero publish point, the depth chart the backlog.
    // Predicates as functions, not strings: the UI's Content-Security-Policy forbids eval.
    const plotted = (chart: 'rates' | 'depth', min: number): Promise<unknown> =>
      page.waitForFunction(
        ([c, m]) =>
          (
            globalThis as unknown as { __junctionCharts: Record<string, { data: number[][] }> }
          ).__junctionCharts[c]!.data[1]!.some((v) => v >= m),
        [chart, min] as const,
        { timeout: 10_000 },
      );
    await plotted('rates', Number.MIN_VALUE);
    await plotted('depth', 500);
    const publishCard = page.locator('.card', { hasText: 'Publish' }).locator('b');
    await expect.poll(() => publishCard.textContent()).not.toBe('0/s');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("shows each connection's TLS version, cipher and client certificate", async () => {
    const sensor = pki.client('ui-sensor', { san: 'DNS:sensor.example' });
    await b.broker.putUser('ui-sensor', { tags: [] });
    await b.broker.setPermission('/', 'ui-sensor', { configure: '', write: '', read: '' });
    const tlsConn = await amqp.connect(
      { protocol: 'amqps', hostname: 'localhost', port: b.ports.amqps! },
      {
        credentials: amqp.credentials.external(),
        ca: [pki.ca],
        cert: sensor.cert,
        key: sensor.key,
      },
    );
    try {
      const { page, errors } = await openUi();
      await logIn(page, 'guest', 'guest');
      await page.click('#tabs a[href="#/connections"]');
      const rows = page.locator('#page-connections tbody tr[data-key]');
      const tlsRow = rows.filter({ hasText: 'ui-sensor' });
      const cell = tlsRow.locator('.tls');
      await cell.waitFor();
      expect(await cell.locator('.badge').textContent()).toMatch(/^TLSv1\.[23]$/);
      expect(await cell.locator('.peer-cert').textContent()).toBe('CN=ui-sensor,O=Junction tests');
      const title = (await cell.getAttribute('title')) ?? '';
      expect(title).toMatch(/^Cipher: \S+/);
      expect(title).toContain('Issuer: CN=Junction Test CA');
      expect(title).toContain('Alt names: DNS:sensor.example');
      // The plain AMQP connection has no TLS.
      const plainRow = rows.filter({ hasNotText: 'ui-sensor' });
      expect(await plainRow.count()).toBe(1);
      expect(await plainRow.locator('td', { hasText: /^none$/ }).count()).toBe(1);
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      await tlsConn.close();
    }
  });
});
