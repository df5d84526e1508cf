import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import type { ClassicQueue } from '@junction/core/internal';
import { loadConfig } from '../src/config.js';
import { startBroker } from '../src/index.js';

describe('startBroker and its waiters', () => {
  it('starts on an ephemeral port and waits for depth, consumers, acks and dead-letters', async () => {
    const broker = await startBroker();
    try {
      expect(broker.ports.amqp).toBeGreaterThan(0);
      const conn = await amqp.connect(broker.amqpUrl!);
      const ch = await conn.createChannel();
      await ch.assertQueue('dlq');
      await ch.assertQueue('jobs', { deadLetterExchange: '', deadLetterRoutingKey: 'dlq' });
      for (const id of ['a', 'b', 'c']) ch.sendToQueue('jobs', Buffer.from(id), { messageId: id });
      await broker.waitFor.queueDepth('jobs', 3);

      const acked = broker.waitFor.acked('b');
      const dead = broker.waitFor.deadLettered('c');
      const consumer = broker.waitFor.consumer('jobs');
      await ch.consume('jobs', (m) => {
        if (!m) return;
        if (m.properties.messageId === 'c') ch.reject(m, false);
        else ch.ack(m);
      });
      await consumer;
      expect((await acked).properties.messageId).toBe('b');
      expect(await dead).toMatchObject({ reason: 'rejected', queue: 'jobs' });
      await broker.waitFor.queueDepth('dlq', 1);
      await conn.close();
    } finally {
      await broker.close();
    }
  });

  it('rejects a waiter with what it waited for when the deadline passes', async () => {
    const broker = await startBroker();
    try {
      await expect(broker.waitFor.queueDepth('never', 1, { timeoutMs: 50 })).rejects.toThrow(
        /queue 'never' to hold 1 messages/,
      );
      await expect(broker.waitFor.acked('x', { timeoutMs: 50 })).rejects.toThrow(
        /timed out after 50 ms waiting for an ack/,
      );
    } finally {
      await broker.close();
    }
  });

  it('keeps only the configured head of a deep durable queue in memory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'junction-paging-config-'));
    const config = loadConfig({ flags: { 'queue-memory-messages': '100', 'data-dir': dataDir } });
    const broker = await startBroker({ config, storage: 'embedded' });
    try {
      const conn = await amqp.connect(broker.amqpUrl!);
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('deep', { durable: true });
      for (let i = 0; i < 1000; i++) ch.sendToQueue('deep', Buffer.from(String(i)), { persistent: true });
      await ch.waitForConfirms();
      const q = broker.broker.vhost('/')!.queues.get('deep') as ClassicQueue;
      expect(q.messageCount).toBe(1000);
      expect(q.pagedCount).toBeGreaterThanOrEqual(900);
      const first = await ch.get('deep', { noAck: true });
      expect(first && first.content.toString()).toBe('0');
      await conn.close();
    } finally {
      await broker.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('STOMP settings', () => {
  /** The first frame the server answers a raw STOMP client with, and the close after it. */
  async function stompExchange(port: number, frames: string): Promise<string> {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(frames);
    await new Promise<void>((r) => socket.once('close', () => r()));
    return got;
  }

  it('--stomp-max-frame-bytes bounds the frames a STOMP client may send', async () => {
    const config = loadConfig({ flags: { 'stomp-max-frame-bytes': '4096' } });
    expect(config.stomp!.maxFrameBytes).toBe(4096);
    const broker = await startBroker({ config, ports: { stomp: 0 } });
    try {
      const connectFrame = 'CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\n\n\0';
      const small = `SEND\ndestination:/queue/sized\nreceipt:small\n\n${'x'.repeat(3000)}\0`;
      const fits = await stompExchange(broker.ports.stomp!, connectFrame + small + 'DISCONNECT\n\n\0');
      expect(fits).toContain('receipt-id:small');
      const big = `SEND\ndestination:/queue/sized\n\n${'x'.repeat(5000)}\0`;
      const tooBig = await stompExchange(broker.ports.stomp!, connectFrame + big);
      expect(tooBig).toMatch(/ERROR\n[^\0]*frame larger than 4096 bytes/);
      expect(broker.broker.vhosts.get('/')!.queues.get('sized')!.messageCount).toBe(1);
    } finally {
      await broker.close();
    }
  });

  it('JUNCTION_STOMP_ANONYMOUS_USER lets a CONNECT without login in as that user, never by default', async () => {
    const off = await startBroker({ ports: { stomp: 0 } });
    try {
      const refused = await stompExchange(off.ports.stomp!, 'CONNECT\naccept-version:1.2\n\n\0');
      expect(refused).toMatch(/^ERROR\n[^\0]*message:Access refused/);
    } finally {
      await off.close();
    }
    const config = loadConfig({ env: { JUNCTION_STOMP_ANONYMOUS_USER: 'device:pw' } });
    expect(config.stomp!.anonymousUser).toEqual({ username: 'device', password: 'pw' });
    const on = await startBroker({ config, ports: { stomp: 0 } });
    try {
      await on.broker.putUser('device', { password: 'pw' });
      await on.broker.setPermission('/', 'device', { configure: '.*', write: '.*', read: '.*' });
      const got = await stompExchange(
        on.ports.stomp!,
        'CONNECT\naccept-version:1.2\n\n\0DISCONNECT\nreceipt:bye\n\n\0',
      );
      expect(got).toMatch(/^CONNECTED\n/);
      expect(got).toContain('receipt-id:bye');
    } finally {
      await on.close();
    }
  });
});
