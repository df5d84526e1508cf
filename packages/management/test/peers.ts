/**
 * The three protocol listeners on a management harness's broker, and one round trip per
 * protocol as an ordinary user: the check that an attack through the management API left
 * every other client served.
 */
import amqplib from 'amqplib';
import mqtt from 'mqtt';
import stompit from 'stompit';
import type { Broker, ProtocolAdapter } from '@junction/core';
import { createAmqpAdapter } from '@junction/amqp';
import { createMqttAdapter } from '@junction/mqtt';
import { createStompAdapter } from '@junction/stomp';
import { listenLoopback, testLog } from '@junction/testkit';
import { start, type Harness } from './helpers.js';

export interface Peers {
  amqpUrl: (user: string, pass: string) => string;
  mqttUrl: string;
  stompPort: number;
  adapters: ProtocolAdapter[];
  close(): Promise<void>;
}

export async function startPeers(broker: Broker): Promise<Peers> {
  const log = testLog();
  const amqp = createAmqpAdapter(broker, {}, log);
  const mq = createMqttAdapter(broker, {}, log);
  const stomp = createStompAdapter(broker, {}, log);
  const [a] = await listenLoopback(amqp);
  const [m] = await listenLoopback(mq);
  const [s] = await listenLoopback(stomp);
  const adapters = [amqp, mq, stomp];
  return {
    amqpUrl: (user, pass) => `amqp://${user}:${pass}@127.0.0.1:${a!}`,
    mqttUrl: `mqtt://127.0.0.1:${m!}`,
    stompPort: s!,
    adapters,
    async close() {
      for (const x of adapters) await x.close({ drainMs: 0 });
    },
  };
}

/**
 * A management harness whose adapters are the three protocol listeners, with `alice` (no
 * tags, full permissions on `/`: the ordinary client of the round trips) and the `attacker`
 * user the test acts as, given `tags` and, when `permit`, the same permissions on `/`.
 */
export async function startWithPeers(attacker: {
  name: string;
  password: string;
  tags: string[];
  permit: boolean;
}): Promise<{ h: Harness; peers: Peers; close(): Promise<void> }> {
  let adapters: ProtocolAdapter[] = [];
  const h = await start({ mgmt: { adapters: () => adapters } });
  const peers = await startPeers(h.broker);
  adapters = peers.adapters;
  const all = { configure: '.*', write: '.*', read: '.*' };
  await h.broker.putUser(attacker.name, { password: attacker.password, tags: attacker.tags });
  if (attacker.permit) await h.broker.setPermission('/', attacker.name, all);
  await h.broker.putUser('alice', { password: 'a-pass', tags: [] });
  await h.broker.setPermission('/', 'alice', all);
  return {
    h,
    peers,
    async close() {
      await peers.close();
      await h.close();
    },
  };
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)),
  ]);

/** AMQP: declare a queue, publish to it, get the message back. */
export async function amqpRoundTrip(url: string, tag: string): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    const q = `rt-amqp-${tag}`;
    await ch.assertQueue(q, { durable: false, autoDelete: true, arguments: { 'x-max-length': 10 } });
    ch.sendToQueue(q, Buffer.from('ping'), { headers: { h: 1 } });
    for (let i = 0; i < 200; i++) {
      const m = await ch.get(q, { noAck: true });
      if (m) {
        if (m.content.toString() !== 'ping') throw new Error('AMQP round trip: wrong body');
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('AMQP round trip: no message');
  } finally {
    await conn.close();
  }
}

/** MQTT: subscribe to a topic, publish to it, receive it. */
export async function mqttRoundTrip(url: string, user: string, pass: string, tag: string): Promise<void> {
  const c = await mqtt.connectAsync(url, {
    username: user,
    password: pass,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  try {
    const topic = `rt/mqtt/${tag}`;
    const got = new Promise<string>((resolve) => c.on('message', (_t, p) => resolve(p.toString())));
    const granted = await c.subscribeAsync(topic, { qos: 1 });
    if (granted[0]?.qos !== 1) throw new Error(`MQTT round trip: subscription refused (${granted[0]?.qos})`);
    await c.publishAsync(topic, 'ping', { qos: 1 });
    if ((await got) !== 'ping') throw new Error('MQTT round trip: wrong body');
  } finally {
    await c.endAsync();
  }
}

/** STOMP: subscribe to a queue destination, send to it, receive it. */
export function stompRoundTrip(port: number, user: string, pass: string, tag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = stompit.connect(
      {
        host: '127.0.0.1',
        port,
        connectHeaders: { host: '/', login: user, passcode: pass, 'heart-beat': '0,0' },
      },
      (err, client) => {
        if (err) return reject(err);
        client.on('error', reject);
        const destination = `/queue/rt-stomp-${tag}`;
        client.subscribe({ destination, ack: 'auto' }, (e, msg) => {
          if (e) return reject(e);
          msg.readString('utf8', (e2, body) => {
            client.disconnect(() => {
              if (e2) reject(e2);
              else if (body !== 'ping') reject(new Error('STOMP round trip: wrong body'));
              else resolve();
            });
          });
        });
        const f = client.send({ destination });
        f.end('ping');
      },
    );
    socket.on('error', reject);
  });
}

/** Every protocol serves `user` within `ms`: each round trip is bounded. */
export async function everyProtocolServes(
  peers: Peers,
  user: string,
  pass: string,
  tag: string,
  ms = 10_000,
): Promise<void> {
  await within(amqpRoundTrip(peers.amqpUrl(user, pass), tag), ms, 'AMQP');
  await within(mqttRoundTrip(peers.mqttUrl, user, pass, tag), ms, 'MQTT');
  await within(stompRoundTrip(peers.stompPort, user, pass, tag), ms, 'STOMP');
}
