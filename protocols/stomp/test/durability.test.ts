/**
 * Receipts and the store: a persistent SEND's RECEIPT waits for the durable commit, and
 * durable queues, persistent messages and durable topic subscriptions survive a broker
 * restart on the same store.
 */
import { MemoryStore, type EnqueueRecord } from '@junction/core';
import { afterEach, expect, it } from 'vitest';
import { startStompServer, until, type TestServer } from '@junction/testkit';
import { rawConnected } from './helpers.js';

/**
 * A store that claims durability (MemoryStore says durable=false, so the core would skip
 * message writes) and whose enqueue commits wait until the test opens the gate. Reusing
 * the instance across Broker.start() calls simulates a restart.
 */
class GatedStore extends MemoryStore {
  override readonly capabilities = { durable: true };
  gate: Promise<void> | null = null;
  enqueues = 0;
  override async enqueue(records: readonly EnqueueRecord[]): Promise<void> {
    this.enqueues++;
    if (this.gate) await this.gate;
    return super.enqueue(records);
  }
}

const running: TestServer[] = [];

async function start(store: MemoryStore): Promise<number> {
  const server = await startStompServer({}, { store });
  running.push(server);
  return server.port;
}

async function stopAll(): Promise<void> {
  for (const server of running.splice(0)) await server.close();
}

afterEach(stopAll);

it('the RECEIPT of a persistent SEND comes only after the store commit', async () => {
  const store = new GatedStore();
  const port = await start(store);
  const c = await rawConnected(port);
  // Declares the durable queue (no consumer: an auto-ack consumer would take the message
  // before it needs storing).
  c.write('SEND\ndestination:/queue/durable-receipt\nreceipt:declare\n\n\0');
  await c.next('RECEIPT');
  let open!: () => void;
  store.gate = new Promise<void>((r) => (open = r));
  const before = store.enqueues;
  c.write('SEND\ndestination:/queue/durable-receipt\npersistent:true\nreceipt:p1\n\npayload\0');
  await until(() => store.enqueues > before, 'the store write');
  // The server has handled later frames, but the RECEIPT must wait for the commit.
  const other = await rawConnected(port);
  other.write('SEND\ndestination:/queue/some-other\nreceipt:x\n\n\0');
  await other.next('RECEIPT');
  expect(c.frames.some((f) => f.command === 'RECEIPT' && f.headers['receipt-id'] === 'p1')).toBe(false);
  open();
  store.gate = null;
  await until(
    () => c.frames.find((f) => f.command === 'RECEIPT' && f.headers['receipt-id'] === 'p1'),
    'receipt p1',
  );
  c.socket.destroy();
  other.socket.destroy();
});

it('durable queues, persistent messages and durable topic subscriptions survive a restart', async () => {
  const store = new GatedStore();
  let port = await start(store);
  const c = await rawConnected(port, 'accept-version:1.2\nlogin:guest\npasscode:guest\nclient-id:restart\n');
  c.write('SUBSCRIBE\nid:dur\ndestination:/topic/restart.news\ndurable:true\nreceipt:s\n\n\0');
  await c.next('RECEIPT');
  c.write('DISCONNECT\nreceipt:d\n\n\0');
  await c.next('RECEIPT');
  const p = await rawConnected(port);
  p.write('SEND\ndestination:/queue/restart-q\npersistent:true\nreceipt:1\n\nkept\0');
  await p.next('RECEIPT');
  p.write('SEND\ndestination:/queue/restart-q\nreceipt:2\n\ntransient\0');
  await p.next('RECEIPT');
  p.write('SEND\ndestination:/topic/restart.news\npersistent:true\nreceipt:3\n\nnews\0');
  await p.next('RECEIPT');
  p.socket.destroy();
  await stopAll();

  port = await start(store);
  const r = await rawConnected(port, 'accept-version:1.2\nlogin:guest\npasscode:guest\nclient-id:restart\n');
  r.write('SUBSCRIBE\nid:q\ndestination:/queue/restart-q\n\n\0');
  const m = await r.next('MESSAGE');
  expect(m.body.toString()).toBe('kept');
  r.write('SUBSCRIBE\nid:dur\ndestination:/topic/restart.news\ndurable:true\n\n\0');
  const n = await r.next('MESSAGE');
  expect(n.body.toString()).toBe('news');
  expect(n.headers['persistent']).toBe('true');
  // The transient message did not survive.
  r.write('SEND\ndestination:/queue/x-sync\nreceipt:sync\n\n\0');
  await r.next('RECEIPT');
  expect(r.frames.filter((f) => f.command === 'MESSAGE')).toHaveLength(2);
  r.socket.destroy();
});
