/**
 * MQTT scenarios, run the same way against every MQTT target (Junction, Mosquitto,
 * RabbitMQ's MQTT plugin, any mqtt:// URL): mqtt.js clients in their own processes.
 *
 * Client settings (identical for every target, MQTT 3.1.1 and 5 alike): QoS 0 publishers wait
 * for their socket to drain every 256 messages; QoS 1 publishers keep within the two windows
 * below; subscribers acknowledge each QoS 1 message as mqtt.js does. Rates count messages the
 * subscriber received.
 */
import amqp from 'amqplib';
import { cpuSeconds } from './cpu.js';
import {
  cleanUp,
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

/**
 * One publisher, one subscriber on one topic. `version` 4 is MQTT 3.1.1 (mqtt.js's default),
 * 5 is MQTT 5 on both clients (Mosquitto 2.0 speaks it; RabbitMQ's plugin only from 3.13, so
 * Debian's 3.10 is skipped and its cells stay n/a); the same windows for both.
 */
function pubSub(qos: 0 | 1, size: number, { overTls = false, version = 4 as 4 | 5 } = {}): Scenario {
  const name = `MQTT${version === 5 ? ' 5' : ''} QoS ${qos} 1->1${overTls ? ' over TLS' : ''}, ${size} B`;
  return {
    name,
    protocols: [overTls ? 'mqtts' : 'mqtt'],
    async run(target, { seconds, warmup }) {
      // Debian's RabbitMQ 3.10 neither answers nor closes a level-5 CONNECT: the run would hang.
      if (version === 5 && target.mqtt5 === false) throw new Error(`${target.name} speaks no MQTT 5`);
      const url = overTls ? target.urls.mqtts! : target.urls.mqtt!;
      const topic = `bench/${tag()}`;
      const sub = await startWorker({
        kind: 'mqtt-sub',
        url,
        topic,
        qos,
        clientId: `${tag()}-sub`,
        protocolVersion: version,
        ...(qos > 0 ? { progressEvery: PROGRESS_EVERY } : {}),
      });
      const pub = await startWorker({
        kind: 'mqtt-pub',
        url,
        topic,
        qos,
        size,
        protocolVersion: version,
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
      await cleanUp(
        queue,
        () => ch.deleteQueue(queue),
        () => conn.close(),
      );
    }
  },
};

/** Devices per load process: 5,000 sockets each, well inside a process's 20,000 open files. */
const DEVICES_PER_PROCESS = 5000;
/**
 * Connects in progress at once, over all load processes: under Mosquitto's listen backlog of
 * 100 (Node's is 511), so no broker's accept queue overflows into SYN retransmits (a second
 * each), which measured Mosquitto's backlog instead of its connect rate.
 */
const CONNECTS_IN_FLIGHT = 64;
/**
 * The last octet of the next load process's source address 127.0.0.x. Every run takes fresh
 * addresses: the previous target's closed sockets sit in TIME_WAIT on theirs, and binding a
 * port among thousands of those slowed the next target's connects 2-4 times.
 */
let nextAddress = 2;
const sourceAddress = (): string => {
  if (nextAddress > 254) nextAddress = 2;
  return `127.0.0.${nextAddress++}`;
};

/**
 * The fleet (--connections, 19,000 by default when asked for by name): MQTT 3.1.1 devices
 * from raw-socket load processes (mqtt-fleet-worker.ts), each on its own source address
 * 127.0.0.x (fresh ones for each run) so no address runs out of ports, each device subscribed to its own
 * topic; then one QoS 0 message to every topic, each device checking it got its own.
 * Reports connections held and reached, the seconds from the first CONNECT to the last SUBACK,
 * and the broker's RSS growth over that (after the publishes) per connection held.
 */
export const fleetScenario: Scenario = {
  name: 'MQTT fleet: connections held, each subscribed to its own topic',
  protocols: ['mqtt'],
  rounds: 1,
  async run(target, { connections }) {
    const url = new URL(target.urls.mqtt!);
    const procs = Math.max(1, Math.ceil(connections / DEVICES_PER_PROCESS));
    const prefix = tag();
    const workers = await Promise.all(
      Array.from({ length: procs }, (_, p) =>
        startWorker({
          kind: 'mqtt-fleet',
          host: url.hostname,
          port: Number(url.port),
          localAddress: sourceAddress(),
          count: Math.floor(connections / procs) + (p < connections % procs ? 1 : 0),
          prefix: `${prefix}p${p}`,
          concurrency: Math.max(1, Math.floor(CONNECTS_IN_FLIGHT / procs)),
          username: 'guest',
          password: 'guest',
        }),
      ),
    );
    try {
      await sleep(0.5);
      const rssBefore = target.rss();
      const cpuBefore = cpuSeconds(target.pid?.());
      const t0 = performance.now();
      const up = await Promise.all(workers.map((w) => w.ask<{ held: number; failed: number }>('connect')));
      const setupSeconds = (performance.now() - t0) / 1000;
      const cpuAfter = cpuSeconds(target.pid?.());
      const held = up.reduce((a, u) => a + u.held, 0);
      await Promise.all(workers.map((w) => w.ask('publish')));
      type Count = { held: number; received: number; lost: number };
      const counts = async () => await Promise.all(workers.map((w) => w.ask<Count>('count')));
      let received = 0;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        received = (await counts()).reduce((a, c) => a + c.received, 0);
        if (received >= held) break;
        await sleep(0.2);
      }
      await sleep(0.5);
      const rssAfter = target.rss();
      const lost = (await counts()).reduce((a, c) => a + c.lost, 0);
      if (lost > 0) process.stderr.write(`  ${lost} held connections were closed by the broker\n`);
      const out: Measurement[] = [
        { scenario: fleetScenario.name, metric: 'connections held', better: 'higher', value: held },
        {
          scenario: fleetScenario.name,
          metric: 'connections reached by their publish',
          better: 'higher',
          value: received,
        },
        {
          scenario: fleetScenario.name,
          metric: 'seconds to connect + subscribe all',
          better: 'lower',
          value: setupSeconds,
        },
      ];
      // The rate depends on what else the machine runs (the load processes share its cores);
      // the broker's own CPU per device does far less, so it is the figure to compare builds by.
      if (cpuBefore !== undefined && cpuAfter !== undefined && held > 0)
        out.push({
          scenario: fleetScenario.name,
          metric: 'broker CPU µs per connect + subscribe',
          better: 'lower',
          value: ((cpuAfter - cpuBefore) * 1e6) / held,
        });
      if (rssBefore !== undefined && rssAfter !== undefined && held > 0)
        out.push({
          scenario: fleetScenario.name,
          metric: 'broker KiB RSS per connection',
          better: 'lower',
          value: (rssAfter - rssBefore) / 1024 / held,
        });
      return out;
    } finally {
      await stopAll(workers);
    }
  },
};

export const mqttScenarios: Scenario[] = [
  pubSub(0, 16),
  pubSub(1, 16),
  pubSub(0, 16, { version: 5 }),
  pubSub(1, 16, { version: 5 }),
  pubSub(1, 16, { overTls: true }),
  connectRate,
  mqttToAmqp,
  fleetScenario,
];
