import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
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
      const q = broker.broker.vhost('/')!.queues.get('deep')!;
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
