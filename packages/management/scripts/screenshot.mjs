// Takes docs/overview.png: starts a broker, drives some AMQP and MQTT traffic, logs in to the web
// UI in headless Chromium and captures the overview page with its charts.
//
//   npx tsx --conditions=@junction/source packages/management/scripts/screenshot.mjs [out.png]
//
// CHROMIUM=/path/to/chromium overrides the browser (default /usr/bin/chromium), TRAFFIC_SECONDS
// the length of the traffic (default 40). PAGES_DIR=dir also captures every other page there.
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { startBroker } from '@junction/server';
import { launchChromium } from '@junction/testkit';

const out = process.argv[2] ?? fileURLToPath(new URL('../docs/overview.png', import.meta.url));
const SECONDS = Number(process.env.TRAFFIC_SECONDS ?? 40);

const b = await startBroker({ ports: { amqp: 0, mqtt: 0, http: 0 } });
const conn = await amqp.connect(b.amqpUrl);
const ch = await conn.createChannel();
await ch.assertQueue('orders', { durable: true });
await ch.assertQueue('audit', { durable: true });
await ch.assertExchange('events', 'topic');
await ch.bindQueue('audit', 'events', 'order.#');
const device = await mqtt.connectAsync(b.mqttUrl, {
  username: 'guest',
  password: 'guest',
  clientId: 'thermostat-1',
  reconnectPeriod: 0,
});
await device.subscribeAsync('home/+/setpoint', { qos: 1 });

// The tests' Chromium, with the same flags (off the network, no GPU, no sandbox).
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  page.on('console', (m) => m.type() === 'error' && console.error('console:', m.text()));
  await page.goto(b.httpUrl);
  await page.fill('#login [name=username]', 'guest');
  await page.fill('#login [name=password]', 'guest');
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#page-overview .card');

  // Traffic with a shape: a rising publish rate, a consumer that starts late and drains the backlog.
  let consumerTag;
  for (let s = 0; s < SECONDS; s++) {
    const rate = Math.round(40 + 160 * Math.sin((s / SECONDS) * Math.PI * 0.85) + 30 * Math.random());
    for (let i = 0; i < rate; i++) {
      ch.publish('events', 'order.created', Buffer.from(JSON.stringify({ id: s * 1000 + i })));
      if (i % 2 === 0) ch.sendToQueue('orders', Buffer.from(`order ${s}-${i}`));
    }
    if (s % 3 === 0) await device.publishAsync('home/kitchen/setpoint', '21.5', { qos: 1 });
    if (s === Math.floor(SECONDS / 3))
      consumerTag = (await ch.consume('audit', (m) => m && ch.ack(m))).consumerTag;
    if (s === Math.floor((SECONDS * 2) / 3)) {
      // A slow worker: holds each order for 1.5 s before acking, so some messages are unacked.
      const worker = await conn.createChannel();
      await worker.prefetch(300);
      await worker.consume('orders', (m) => {
        if (m)
          setTimeout(() => {
            try {
              worker.ack(m);
            } catch {
              // channel closed at the end
            }
          }, 1500);
      });
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  // While the traffic still shows in the rates (they span the last 5 s).
  await page.screenshot({ path: out, fullPage: false });
  console.log(`wrote ${out}`);
  if (process.env.PAGES_DIR) {
    for (const id of [
      'connections',
      'channels',
      'exchanges',
      'queues',
      'vhosts',
      'users',
      'permissions',
      'policies',
      'definitions',
    ]) {
      await page.goto(`${b.httpUrl}/#/${id}`);
      await page.locator(`#page-${id} h2`).waitFor();
      await page.waitForTimeout(600); // let the first refresh land
      if (id === 'queues') {
        await page.locator('#page-queues tr[data-key="//orders"] button', { hasText: 'Messages' }).click();
        await page.fill('#get-messages [name=count]', '2');
        await page.click('#get-messages button[type=submit]');
        await page.locator('#get-results .message').first().waitFor();
      }
      if (id === 'exchanges')
        await page.locator('tr[data-key="//events"] button', { hasText: 'Bindings' }).click();
      const file = `${process.env.PAGES_DIR}/${id}.png`;
      await page.screenshot({ path: file, fullPage: true });
      console.log(`wrote ${file}`);
    }
  }
  if (consumerTag) await ch.cancel(consumerTag);
} finally {
  await browser.close();
  await device.endAsync();
  await conn.close();
  await b.close();
}
