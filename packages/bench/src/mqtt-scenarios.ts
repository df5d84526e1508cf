/**
 * MQTT scenarios, run the same way against every MQTT target (Junction, Mosquitto,
 * RabbitMQ's MQTT plugin, any mqtt:// URL): mqtt.js clients in their own processes.
 *
 * Client settings (identical for every target): QoS 0 publishers wait for their socket to
 * drain every 256 messages; QoS 1 publishers keep at most 100 publishes unacknowledged;
 * subscribers acknowledge each QoS 1 message as mqtt.js does.
 */
import amqp from 'amqplib';
import mqtt from 'mqtt';
import {
  deliveredRow,
  rate,
  sleep,
  startWorker,
  stopAll,
  type Measurement,
  type Scenario,
} from './workers.js';

/**
 * QoS 1/2 windows, the same for every broker (and the independent harness's): at most 1,000
 * publishes not yet PUBACKed, at most 500 sent but not yet received by the subscriber, who
 * reports its count every 50 messages. With the old single window of 100 (refilled at 50) and
 * Mosquitto's default of 20 messages in flight to a subscriber, the bench measured Mosquitto's
 * round trips, not its throughput (README).
 */
const QOS1_WINDOW = 1000;
const QOS1_AHEAD = 500;
const PROGRESS_EVERY = 50;

let uniq = 0;
const tag = (): string => `bench${process.pid}x${++uniq}`;

function pubSub(qos: 0 | 1, size: number, overTls = false): Scenario {
  const name = `MQTT QoS ${qos} 1->1${overTls ? ' over TLS' : ''}, ${size} B`;
  return {
    name,
    protocols: [overTls ? 'mqtts' : 'mqtt'],
    async run(target, { seconds, warmup }) {
      const url = overTls ? target.urls.mqtts! : target.urls.mqtt!;
      const topic = `bench/${tag()}`;
      const sub = await startWorker({
        kind: 'mqtt-sub',
        url,
        topic,
        qos,
        clientId: `${tag()}-sub`,
        ...(qos > 0 ? { progressEvery: PROGRESS_EVERY } : {}),
      });
      const pub = await startWorker({
        kind: 'mqtt-pub',
        url,
        topic,
        qos,
        size,
        ...(qos > 0 ? { window: QOS1_WINDOW, ahead: QOS1_AHEAD } : { window: 0 }),
      });
      // The publisher's `ahead` limit needs the subscriber's count: relayed through us.
      sub.onProgress = (n) => pub.tell('received', { count: n });
      try {
        return await deliveredRow(name, [sub], seconds, warmup);
      } finally {
        await stopAll([pub, sub]);
      }
    },
  };
}

const connectRate: Scenario = {
  name: 'MQTT connect + disconnect, 8 at a time',
  protocols: ['mqtt'],
  async run(target, { seconds, warmup }) {
    const w = await startWorker({ kind: 'mqtt-connect-rate', url: target.urls.mqtt!, concurrency: 8 });
    try {
      return [
        {
          scenario: connectRate.name,
          metric: 'connections/s',
          better: 'higher',
          value: await rate([w], seconds, warmup),
        },
      ];
    } finally {
      await stopAll([w]);
    }
  },
};

/** An MQTT device's QoS 0 readings into an AMQP worker's queue bound to amq.topic. */
const mqttToAmqp: Scenario = {
  name: 'MQTT QoS 0 -> AMQP queue, 16 B',
  protocols: ['mqtt', 'amqp'],
  async run(target, { seconds, warmup }) {
    const t = tag();
    const conn = await amqp.connect(target.urls.amqp!);
    const ch = await conn.createChannel();
    const queue = `${t}-q`;
    await ch.assertQueue(queue, { durable: false });
    await ch.bindQueue(queue, 'amq.topic', `sensors.${t}`);
    const consumer = await startWorker({
      kind: 'consume',
      url: target.urls.amqp!,
      queue,
      prefetch: 1000,
      ackEvery: 100,
    });
    const pub = await startWorker({
      kind: 'mqtt-pub',
      url: target.urls.mqtt!,
      topic: `sensors/${t}`,
      qos: 0,
      size: 16,
      window: 100,
    });
    try {
      return await deliveredRow(mqttToAmqp.name, [consumer], seconds, warmup);
    } finally {
      await stopAll([pub, consumer]);
      await ch.deleteQueue(queue).catch(() => {});
      await conn.close().catch(() => {});
    }
  },
};

/**
 * 10,000 connections, each subscribed to its own topic, held by 4 client processes; then
 * one message to every topic, to show each connection is reachable. Reports broker memory
 * per connection (RSS growth / connections held).
 */
export function holdConnections(total: number): Scenario {
  const name = `${total.toLocaleString('en-US')} MQTT connections held, each subscribed to its own topic`;
  return {
    name,
    protocols: ['mqtt'],
    rounds: 1,
    async run(target) {
      const url = target.urls.mqtt!;
      const rssBefore = target.rss();
      const procs = 4;
      const t0 = performance.now();
      const workers = await Promise.all(
        Array.from({ length: procs }, (_, p) =>
          startWorker({
            kind: 'mqtt-hold',
            url,
            count: total / procs,
            prefix: `hold${p}${tag()}`,
            concurrency: 16,
          }),
        ),
      );
      const setupSeconds = (performance.now() - t0) / 1000;
      try {
        const status = () =>
          Promise.all(workers.map((w) => w.ask<{ count: number; held: number; prefix: string }>('count')));
        const first = await status();
        const held = first.reduce((a, s) => a + s.held, 0);
        await sleep(1);
        const rssAfter = target.rss();
        // Reachability: one QoS 0 message to every held connection's topic (a broker that is
        // out of connections may refuse the publisher itself: then nothing is reached).
        let received = 0;
        const pub = await mqtt
          .connectAsync(url, {
            username: 'guest',
            password: 'guest',
            reconnectPeriod: 0,
            connectTimeout: 10_000,
          })
          .catch(() => undefined);
        if (pub) {
          for (const s of first)
            for (let i = 0; i < s.held; i++) pub.publish(`${s.prefix}/${i}`, 'ping', { qos: 0 });
          const deadline = Date.now() + 30_000;
          while (Date.now() < deadline) {
            received = (await status()).reduce((a, s) => a + s.count, 0);
            if (received >= held) break;
            await sleep(0.2);
          }
          await pub.endAsync();
        }
        const out: Measurement[] = [
          { scenario: name, metric: 'connections held', better: 'higher', value: held },
          { scenario: name, metric: 'connections reached by a publish', better: 'higher', value: received },
          {
            scenario: name,
            metric: 'seconds to connect + subscribe all',
            better: 'lower',
            value: setupSeconds,
          },
        ];
        if (rssBefore !== undefined && rssAfter !== undefined && held > 0) {
          out.push({
            scenario: name,
            metric: 'broker KiB RSS per connection',
            better: 'lower',
            value: (rssAfter - rssBefore) / 1024 / held,
          });
        }
        return out;
      } finally {
        await stopAll(workers);
      }
    },
  };
}

export const mqttScenarios: Scenario[] = [
  pubSub(0, 16),
  pubSub(1, 16),
  pubSub(1, 16, true),
  connectRate,
  mqttToAmqp,
  holdConnections(10_000),
];
