/**
 * Per-connection limits and vhost/user limits, with the clients users run: each refusal in
 * its protocol's own terms (AMQP 530/406, MQTT CONNACK 3 and SUBACK 0x80, STOMP ERROR), the
 * offender refused and everyone else untouched.
 */
import amqp from 'amqplib';
import mqtt from 'mqtt';
import type Client from 'stompit/lib/Client.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, rawClient, stompitClient, until } from '@junction/testkit';
import { defaults, startBroker, type BrokerHandle } from '@junction/server';

let broker: BrokerHandle;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  broker = await startBroker({
    ports: { amqp: 0, mqtt: 0, stomp: 0 },
    config: {
      limits: {
        ...defaults.limits,
        consumerMaxPerChannel: 3,
        maxUnackedPerChannel: 50,
        mqttMaxSubscriptions: 2,
        stompMaxSubscriptions: 2,
      },
    },
  });
  await broker.broker.addVhost('tenant');
  await broker.broker.setPermission('tenant', 'guest', { configure: '.*', write: '.*', read: '.*' });
});
afterEach(async () => {
  await closeAll(cleanups.splice(0));
  for (const v of ['/', 'tenant']) {
    await broker.broker.setVhostLimit(v, 'max-connections', null);
    await broker.broker.setVhostLimit(v, 'max-queues', null);
  }
  await broker.broker.setUserLimit('guest', 'max-connections', null);
  await broker.broker.setUserLimit('guest', 'max-channels', null);
});
afterAll(async () => {
  await broker.close();
});

async function amqpConn(vhost = '/'): Promise<amqp.ChannelModel> {
  const c = await amqp.connect(`${broker.amqpUrl!}${vhost === '/' ? '' : `/${vhost}`}`);
  c.on('error', () => {});
  cleanups.push(() => c.close());
  return c;
}

async function stomp(host = '/'): Promise<Client> {
  const c = await stompitClient(broker.ports.stomp!, { host });
  cleanups.push(() => c.destroy(new Error('test over')));
  return c;
}

/** The CONNACK return code of a refused mqtt.js CONNECT as `username` (undefined: it was accepted). */
async function mqttRefusal(username: string): Promise<number | undefined> {
  return mqtt.connectAsync(broker.mqttUrl!, { username, password: 'guest', reconnectPeriod: 0 }).then(
    async (c) => {
      await c.endAsync();
      return undefined;
    },
    (e: Error & { code?: number }) => e.code,
  );
}

async function mqttClient(username = 'guest'): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(broker.mqttUrl!, { username, password: 'guest', reconnectPeriod: 0 });
  cleanups.push(() => c.endAsync());
  return c;
}

/** The SUBACK return codes (mqtt.js rejects a SUBACK with a failure code, carrying the packet). */
async function grantedQos(
  c: mqtt.MqttClient,
  filters: Record<string, { qos: 0 | 1 | 2 }>,
): Promise<number[]> {
  try {
    return (await c.subscribeAsync(filters)).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted: (number | { qos: number })[] } }).packet;
    if (!packet) throw err;
    return packet.granted.map((g) => (typeof g === 'number' ? g : g.qos));
  }
}

/**
 * A STOMP 1.2 client on a raw socket, for the ERROR frames (stompit turns an ERROR into an
 * event that races its own 'connection ended'): CONNECT, then frames; `error()` resolves
 * with the first ERROR's message header.
 */
async function rawStomp(
  host = '/',
): Promise<{ send(frame: string): void; connected: Promise<boolean>; error: Promise<string> }> {
  const c = await rawClient(broker.ports.stomp!);
  cleanups.push(() => c.socket.destroy());
  const text = () => c.received().toString('utf8');
  const frame = (cmd: string) =>
    until(() => text().includes(`${cmd}\n`) || c.isClosed(), `${cmd} or close`).then(() =>
      text().includes(`${cmd}\n`),
    );
  c.write(`CONNECT\naccept-version:1.2\nhost:${host}\nlogin:guest\npasscode:guest\n\n\0`);
  return {
    send: (f) => c.write(f),
    connected: frame('CONNECTED'),
    error: frame('ERROR').then(() => {
      const i = text().indexOf('ERROR\n');
      const raw = /\nmessage:([^\n]*)/.exec(text().slice(i))?.[1] ?? '';
      // STOMP 1.2 header escapes
      return raw.replace(/\\([\\cnr])/g, (_m, e: string) => ({ c: ':', n: '\n', r: '\r' })[e] ?? e);
    }),
  };
}

const queue = (name: string, vhost = '/') => broker.broker.vhost(vhost).queues.get(name);

describe('per-connection limits', () => {
  it('AMQP: a consumer past --consumer-max-per-channel closes the connection with 530, as RabbitMQ', async () => {
    const conn = await amqpConn();
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    await ch.assertQueue('many', { exclusive: true });
    for (let i = 0; i < 3; i++) await ch.consume('many', () => {});
    const closed = new Promise<Error>((resolve) => conn.once('close', resolve));
    await expect(ch.consume('many', () => {})).rejects.toThrow();
    expect(String(await closed)).toMatch(/530.*reached maximum \(3\) of consumers per channel/);
    // Another connection's channel is not affected.
    const other = await (await amqpConn()).createChannel();
    await other.assertQueue('other-q', { exclusive: true });
    await other.consume('other-q', () => {});
  });

  it('AMQP prefetch 0: the channel is sent at most --max-unacked-per-channel ahead of its acks', async () => {
    const conn = await amqpConn();
    const ch = await conn.createChannel();
    await ch.assertQueue('no-prefetch', { exclusive: true });
    for (let i = 0; i < 200; i++) ch.sendToQueue('no-prefetch', Buffer.from(String(i)));
    const got: amqp.ConsumeMessage[] = [];
    await ch.consume('no-prefetch', (m) => m && got.push(m));
    await until(() => got.length >= 50, '50 deliveries');
    await until(() => queue('no-prefetch')?.messageCount === 150, '150 left ready');
    expect(queue('no-prefetch')!.unacked).toBe(50);
    expect(got.length).toBe(50);
    ch.ack(got[49]!, true);
    await until(() => got.length >= 100, '50 more after the ack');
    await until(() => queue('no-prefetch')?.messageCount === 100, '100 left ready');
    expect(got.length).toBe(100);
  });

  it('MQTT: a filter past --mqtt-max-subscriptions gets SUBACK 0x80, the others are granted', async () => {
    const c = await mqttClient();
    expect(await grantedQos(c, { 'a/#': { qos: 1 }, 'b/#': { qos: 0 }, 'c/#': { qos: 1 } })).toEqual([
      1, 0, 128,
    ]);
    // Re-subscribing to a filter it has is not a new subscription.
    expect((await c.subscribeAsync('a/#', { qos: 0 })).map((g) => g.qos)).toEqual([0]);
    expect(c.connected).toBe(true);
  });

  it('STOMP: a subscription past --stomp-max-subscriptions gets ERROR and the connection closes', async () => {
    const s = await rawStomp();
    expect(await s.connected).toBe(true);
    for (const t of ['a', 'b', 'c']) s.send(`SUBSCRIBE\nid:${t}\ndestination:/topic/${t}\nack:auto\n\n\0`);
    expect(await s.error).toBe('Too many subscriptions');
  });

  it('STOMP ack:client without prefetch-count: at most --max-unacked-per-channel unacked', async () => {
    const conn = await amqpConn();
    const ch = await conn.createChannel();
    await ch.assertQueue('stomp-backlog', { durable: false });
    cleanups.push(() => broker.broker.vhost('/').deleteQueue('stomp-backlog', {}, null));
    for (let i = 0; i < 120; i++) ch.sendToQueue('stomp-backlog', Buffer.from(String(i)));
    await until(() => queue('stomp-backlog')?.messageCount === 120, '120 queued');
    const s = await stomp();
    let got = 0;
    s.subscribe({ destination: '/amq/queue/stomp-backlog', ack: 'client' }, (e, m) => {
      if (!e) m.readString('utf8', () => got++); // stompit reads the next frame once this one is read
    });
    await until(() => queue('stomp-backlog')?.unacked === 50, '50 unacked');
    await until(() => got === 50, '50 MESSAGE frames');
    expect(queue('stomp-backlog')!.messageCount).toBe(70);
  });
});

describe('vhost and user limits on every protocol', () => {
  it('vhost max-connections: AMQP 530, MQTT CONNACK 3, STOMP ERROR; other vhosts unaffected', async () => {
    await broker.broker.setVhostLimit('tenant', 'max-connections', 1);
    await amqpConn('tenant');
    await expect(amqp.connect(`${broker.amqpUrl!}/tenant`)).rejects.toThrow();
    expect(await mqttRefusal('tenant:guest')).toBe(3);
    const s = await rawStomp('tenant');
    expect(await s.connected).toBe(false);
    expect(await s.error).toMatch(/connection limit \(1\) is reached/);
    await amqpConn('/'); // the default vhost has no limit
  });

  it('user max-connections and max-channels', async () => {
    await broker.broker.setUserLimit('guest', 'max-channels', 2);
    const conn = await amqpConn();
    await conn.createChannel();
    await conn.createChannel();
    const closed = new Promise<Error>((resolve) => conn.once('close', resolve));
    await expect(conn.createChannel()).rejects.toThrow();
    expect(String(await closed)).toMatch(
      /530.*number of channels opened for user 'guest' has reached the maximum allowed user limit of \(2\)/,
    );
    await broker.broker.setUserLimit('guest', 'max-channels', null);
    await until(() => broker.broker.connections.size === 0, 'the refused connection gone');
    await broker.broker.setUserLimit('guest', 'max-connections', 1);
    await mqttClient();
    expect(await mqttRefusal('guest')).toBe(3);
  });

  it('vhost max-queues: AMQP 406, MQTT SUBACK 0x80, STOMP ERROR for a /queue/ it would create', async () => {
    const conn = await amqpConn('tenant');
    const ch = await conn.createChannel();
    await ch.assertQueue('only-one', { exclusive: true });
    await broker.broker.setVhostLimit('tenant', 'max-queues', 1);
    const ch2 = await conn.createChannel();
    ch2.on('error', () => {});
    await expect(ch2.assertQueue('second', { exclusive: true })).rejects.toThrow(
      /406.*cannot declare queue 'second': queue limit in virtual host 'tenant' \(1\) is reached/,
    );
    const m = await mqtt.connectAsync(broker.mqttUrl!, {
      username: 'tenant:guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    cleanups.push(() => m.endAsync());
    expect(await grantedQos(m, { 'x/#': { qos: 1 } })).toEqual([128]);
    const s = await rawStomp('tenant');
    expect(await s.connected).toBe(true);
    s.send('SUBSCRIBE\nid:1\ndestination:/queue/new-one\nack:auto\n\n\0');
    expect(await s.error).toMatch(/queue limit in virtual host 'tenant' \(1\) is reached/);
    const sender = await rawStomp('tenant');
    expect(await sender.connected).toBe(true);
    sender.send('SEND\ndestination:/queue/by-send\n\nhello\0');
    expect(await sender.error).toMatch(/cannot declare queue 'by-send': queue limit/);
    expect(queue('by-send', 'tenant')).toBeUndefined();
  });
});
