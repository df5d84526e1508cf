/**
 * What survives a restart on the embedded store, across protocols: MQTT retained messages
 * and persistent sessions with their offline QoS 1 backlog, AMQP durable queues with their
 * persistent (and without their transient) messages, users and permissions. STOMP durable
 * subscriptions: protocols/stomp/test/durability.test.ts. MQTT 5 sessions keep their Session
 * Expiry Interval across restarts; a shared subscription's group queue that no stored session
 * lists is removed at recovery.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '@junction/testkit';
import { startBroker } from '@junction/server';
import { LmdbStore } from '@junction/storage-lmdb';
import { startBrokerProcess } from '../storage/crash-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'junction-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const start = () => startBroker({ ports: { amqp: 0, mqtt: 0 }, storage: new LmdbStore({ dir }) });
const auth = { username: 'guest', password: 'guest', reconnectPeriod: 0 };

describe('restart on the embedded store', () => {
  it('keeps retained messages, persistent MQTT sessions and their backlog, durable queues and users', async () => {
    let b = await start();
    await b.broker.putUser('device', { password: 'pw', tags: [] });
    await b.broker.setPermission('/', 'device', { configure: '.*', write: '.*', read: '.*' });
    const pub = await mqtt.connectAsync(b.mqttUrl!, auth);
    await pub.publishAsync('status/door', 'locked', { qos: 1, retain: true });
    const device = await mqtt.connectAsync(b.mqttUrl!, {
      ...auth,
      username: 'device',
      password: 'pw',
      clientId: 'lock-7',
      clean: false,
    });
    await device.subscribeAsync('cmd/lock-7/#', { qos: 1 });
    await device.endAsync();
    await pub.publishAsync('cmd/lock-7/open', 'at 9:00', { qos: 1 });
    await pub.endAsync();
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('jobs', { durable: true });
    ch.sendToQueue('jobs', Buffer.from('persistent job'), { persistent: true });
    ch.sendToQueue('jobs', Buffer.from('transient job'), { persistent: false });
    await ch.waitForConfirms();
    await conn.close();
    await b.close();

    b = await start();
    try {
      // The persistent session resumes with its backlog, as the device's own user.
      const back = mqtt.connect(b.mqttUrl!, {
        ...auth,
        username: 'device',
        password: 'pw',
        clientId: 'lock-7',
        clean: false,
      });
      const got: string[] = [];
      back.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
      const present = await new Promise<boolean>((r) => back.once('connect', (ack) => r(ack.sessionPresent)));
      expect(present).toBe(true);
      await until(() => got.length === 1, 'the message');
      expect(got).toEqual(['cmd/lock-7/open at 9:00']);
      await back.endAsync();
      // The retained message, to a new subscriber.
      const late = await mqtt.connectAsync(b.mqttUrl!, auth);
      const retained: string[] = [];
      late.on('message', (topic, payload, packet) =>
        retained.push(`${topic} ${payload.toString()} ${packet.retain}`),
      );
      await late.subscribeAsync('status/+', { qos: 1 });
      await until(() => retained.length === 1, 'the retained message');
      expect(retained).toEqual(['status/door locked true']);
      await late.endAsync();
      // The durable queue kept its persistent message only.
      const c2 = await amqp.connect(b.amqpUrl!);
      const ch2 = await c2.createChannel();
      const m = await ch2.get('jobs', { noAck: true });
      expect(m && m.content.toString()).toBe('persistent job');
      expect(await ch2.get('jobs', { noAck: true })).toBe(false);
      await c2.close();
    } finally {
      await b.close();
    }
  });

  it('keeps an MQTT 5 session for its Session Expiry Interval across restarts, then removes it', async () => {
    const v5 = { ...auth, protocolVersion: 5 as const, clientId: 'exp-restart' };
    const queues = (b: { broker: { vhost(n: string): { queues: Map<string, unknown> } } }) =>
      [...b.broker.vhost('/').queues.keys()].filter((q) => q.startsWith('mqtt-subscription-exp-restart-'));
    let b = await start();
    const c = await mqtt.connectAsync(b.mqttUrl!, {
      ...v5,
      clean: true,
      properties: { sessionExpiryInterval: 30 },
    });
    await c.subscribeAsync('exp/restart', { qos: 1 });
    await c.endAsync();
    const pub = await mqtt.connectAsync(b.mqttUrl!, auth);
    await pub.publishAsync('exp/restart', 'while down', { qos: 1 });
    await pub.endAsync();
    await b.close();

    b = await start();
    try {
      const back = mqtt.connect(b.mqttUrl!, {
        ...v5,
        clean: false,
        properties: { sessionExpiryInterval: 2 },
      });
      const got: string[] = [];
      back.on('message', (_t, payload) => got.push(payload.toString()));
      const present = await new Promise<boolean>((r) => back.once('connect', (ack) => r(ack.sessionPresent)));
      expect(present).toBe(true);
      await until(() => got.length === 1, 'the backlog');
      expect(got).toEqual(['while down']);
      await back.endAsync();
    } finally {
      await b.close();
    }

    // Stopped with the session's 2 s running: the next start removes it once that has passed.
    b = await start();
    try {
      expect(queues(b)).toHaveLength(1);
      await until(() => b.broker.vhost('/').clientSessions.get('exp-restart') === undefined, 'expiry', 5000);
      await until(() => queues(b).length === 0, 'the queue removed');
    } finally {
      await b.close();
    }
  });

  it('removes at recovery a shared group queue that no stored session lists, and keeps a listed one', async () => {
    // The broker is killed (SIGKILL) while only clean members of `orphan` are connected, so
    // none of them left the group; `kept` has a member with a stored session besides one of
    // those clean members.
    const killedDir = join(dir, 'killed');
    const child = await startBrokerProcess([
      '--storage',
      'embedded',
      '--data-dir',
      killedDir,
      '--mqtt-port',
      '0',
      '--mqtt-host',
      '127.0.0.1',
    ]);
    const url = `mqtt://127.0.0.1:${child.ports['mqtt']}`;
    const v5 = { ...auth, protocolVersion: 5 as const };
    const clean = await Promise.all([1, 2].map(() => mqtt.connectAsync(url, v5)));
    for (const c of clean) await c.subscribeAsync('$share/orphan/restart/shared', { qos: 1 });
    const stored = await mqtt.connectAsync(url, {
      ...v5,
      clientId: 'shared-restart',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    await stored.subscribeAsync('$share/kept/restart/shared', { qos: 1 });
    await stored.endAsync();
    await clean[0]!.subscribeAsync('$share/kept/restart/shared', { qos: 1 });
    child.child.kill('SIGKILL');
    await child.exited;
    for (const c of clean) c.end(true);

    const hasQueue = (b: { broker: { vhost(n: string): { queues: Map<string, unknown> } } }, group: string) =>
      [...b.broker.vhost('/').queues.keys()].some((q) => q.startsWith(`mqtt-shared-${group}-`));
    const restart = () =>
      startBroker({ ports: { amqp: 0, mqtt: 0 }, storage: new LmdbStore({ dir: killedDir }) });
    let b = await restart();
    try {
      expect(hasQueue(b, 'orphan')).toBe(false);
      expect(hasQueue(b, 'kept')).toBe(true);
      // A message now reaches only the listed group, whose member finds it on its return.
      const pub = await mqtt.connectAsync(b.mqttUrl!, auth);
      await pub.publishAsync('restart/shared', 'after restart', { qos: 1 });
      await pub.endAsync();
      const back = mqtt.connect(b.mqttUrl!, { ...v5, clientId: 'shared-restart', clean: false });
      const got: string[] = [];
      back.on('message', (_t, payload) => got.push(payload.toString()));
      await until(() => got.length === 1, 'the message at the stored member');
      expect(got).toEqual(['after restart']);
      await back.endAsync();
    } finally {
      await b.close();
    }
    // Removed from the store too, not only from memory.
    b = await restart();
    try {
      expect(hasQueue(b, 'orphan')).toBe(false);
    } finally {
      await b.close();
    }
  });
});
