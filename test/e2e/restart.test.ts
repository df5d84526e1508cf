/**
 * What survives a restart on the embedded store, across protocols: MQTT retained messages
 * and persistent sessions with their offline QoS 1 backlog, AMQP durable queues with their
 * persistent (and without their transient) messages, users and permissions. STOMP durable
 * subscriptions: protocols/stomp/test/durability.test.ts. MQTT 5 sessions keep their Session
 * Expiry Interval across restarts; a shared subscription's group queue that no stored session
 * lists is removed at recovery; delayed wills wait with their sessions across a kill -9.
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

/** The retained messages a new subscriber to `filter` gets, as `topic payload retain`. */
async function retainedFor(url: string, filter: string, count = 1): Promise<string[]> {
  const late = await mqtt.connectAsync(url, auth);
  const retained: string[] = [];
  late.on('message', (topic, payload, packet) =>
    retained.push(`${topic} ${payload.toString()} ${packet.retain}`),
  );
  await late.subscribeAsync(filter, { qos: 1 });
  await until(() => retained.length === count, 'the retained message');
  await late.endAsync();
  return retained;
}

/** A broker in a child process on the embedded store in `dataDir`, to be killed with SIGKILL. */
async function killableBroker(dataDir: string) {
  const child = await startBrokerProcess([
    '--storage',
    'embedded',
    '--data-dir',
    dataDir,
    '--mqtt-port',
    '0',
    '--mqtt-host',
    '127.0.0.1',
  ]);
  return { child, url: `mqtt://127.0.0.1:${child.ports['mqtt']}` };
}

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
      expect(await retainedFor(b.mqttUrl!, 'status/+')).toEqual(['status/door locked true']);
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
    const { child, url } = await killableBroker(killedDir);
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

  it('keeps delayed wills with their sessions across a kill -9: published when due or when the session ends, dropped for a client back in time', async () => {
    const willsDir = join(dir, 'wills');
    const { child, url } = await killableBroker(willsDir);
    const v5 = { ...auth, protocolVersion: 5 as const };
    // A watcher with a stored session: the wills wait in its queue, whenever they go out.
    const watcher = await mqtt.connectAsync(url, {
      ...v5,
      clientId: 'will-watcher',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    await watcher.subscribeAsync('wills/#', { qos: 1 });
    await watcher.endAsync();
    const dropped: string[] = [];
    const dropWithWill = async (clientId: string, delay: number, expiry: number, retain = false) => {
      const c = await mqtt.connectAsync(url, {
        ...v5,
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: expiry },
        will: {
          topic: `wills/${clientId}`,
          payload: Buffer.from(`${clientId} is gone`),
          qos: 1,
          retain,
          // Correlation data that is not UTF-8 travels as bytes (header x-correlation-data).
          properties: {
            willDelayInterval: delay,
            userProperties: { site: 'b7' },
            correlationData: Buffer.from([0xff, 0, 7]),
          },
        },
      });
      c.stream.destroy(); // an abnormal end: the will is armed
      dropped.push(clientId);
    };
    const droppedAt = Date.now();
    await dropWithWill('will-due', 3, 300, true);
    await dropWithWill('will-back', 60, 300);
    await dropWithWill('will-ends', 600, 3); // the session ends after 3 s, before the delay
    // The broker lists a connection until its socket closes; its session is stored just after.
    const listed = async () =>
      (await (
        await fetch(`${child.httpUrl}/api/connections`, {
          headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
        })
      ).json()) as { client_id?: string }[];
    await until(
      async () => !(await listed()).some((c) => dropped.includes(c.client_id ?? '')),
      'the dropped clients gone',
    );
    await new Promise((r) => setTimeout(r, 1000));
    child.child.kill('SIGKILL');
    await child.exited;

    const b = await startBroker({ ports: { amqp: 0, mqtt: 0 }, storage: new LmdbStore({ dir: willsDir }) });
    try {
      const sessions = b.broker.vhost('/').clientSessions;
      expect(sessions.get('will-back')?.will?.publishAt).toBeGreaterThan(Date.now());
      // Back within its delay: the session is taken up and its will dropped.
      const back = await mqtt.connectAsync(b.mqttUrl!, { ...v5, clientId: 'will-back', clean: false });
      expect(sessions.get('will-back')?.will).toBeUndefined();
      await back.endAsync();

      const got: { topic: string; payload: string; site: unknown; correlation: string | undefined }[] = [];
      const w = mqtt.connect(b.mqttUrl!, { ...v5, clientId: 'will-watcher', clean: false });
      w.on('message', (topic, payload, packet) =>
        got.push({
          topic,
          payload: payload.toString(),
          site: packet.properties?.userProperties?.['site'],
          correlation: packet.properties?.correlationData?.toString('hex'),
        }),
      );
      await until(() => got.length === 2, 'the two due wills', 15_000);
      expect(Date.now() - droppedAt).toBeGreaterThanOrEqual(3000);
      expect(got.sort((x, y) => x.topic.localeCompare(y.topic))).toEqual([
        { topic: 'wills/will-due', payload: 'will-due is gone', site: 'b7', correlation: 'ff0007' },
        { topic: 'wills/will-ends', payload: 'will-ends is gone', site: 'b7', correlation: 'ff0007' },
      ]);
      // Sent once: the session that stays no longer holds it, the one that ended is gone.
      await until(() => sessions.get('will-due')?.will === undefined, 'the sent will off its session');
      expect(sessions.get('will-due')).toBeDefined();
      await until(() => sessions.get('will-ends') === undefined, 'the ended session removed');
      // The retained will, to a new subscriber.
      expect(await retainedFor(b.mqttUrl!, 'wills/will-due')).toEqual([
        'wills/will-due will-due is gone true',
      ]);
      await w.endAsync();
      expect(got).toHaveLength(2);
    } finally {
      await b.close();
    }
  });
});
