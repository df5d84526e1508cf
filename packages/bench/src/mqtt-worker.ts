/**
 * An MQTT load process (mqtt.js, the client the issue names), forked by workers.ts.
 * Jobs: a subscriber counting messages, a publisher (QoS 0 paced by the socket's
 * back-pressure, QoS 1/2 with a window of unacknowledged publishes), a connection-rate
 * loop, and a probe (round trips to itself).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { serveJobs } from './worker-ipc.js';

export type MqttJob =
  | {
      kind: 'mqtt-sub';
      url: string;
      topic: string;
      qos: 0 | 1 | 2;
      clientId: string;
      /** 4 (MQTT 3.1.1, the default) or 5. */
      protocolVersion?: 4 | 5;
      /** Tell the parent the count every this many messages (for a publisher's `ahead` limit). */
      progressEvery?: number;
      /** Count only retained messages (a `#` subscriber also sees other clients' live ones). */
      retainedOnly?: boolean;
    }
  | {
      kind: 'mqtt-pub';
      url: string;
      topic: string;
      qos: 0 | 1 | 2;
      size: number;
      protocolVersion?: 4 | 5;
      /** QoS 1/2: at most this many publishes not yet acknowledged (PUBACK/PUBCOMP) ... */
      window: number;
      /** ... and at most this many sent but not yet received by the subscriber (via `received`). */
      ahead?: number;
    }
  | { kind: 'mqtt-connect-rate'; url: string; concurrency: number }
  /** Another client: one QoS 0 round trip to itself after another; `stall` is the longest. */
  | { kind: 'mqtt-probe'; url: string; topic: string };

const auth = {
  username: 'guest',
  password: 'guest',
  reconnectPeriod: 0,
  connectTimeout: 30_000,
  keepalive: 600,
};
let count = 0;
/** The subscriber's count as the parent last relayed it (publishers with `ahead`). */
let received = 0;
let wake: (() => void) | undefined;
let stopping = false;
const held: MqttClient[] = [];

async function subscribe(j: Extract<MqttJob, { kind: 'mqtt-sub' }>): Promise<void> {
  const c = await mqtt.connectAsync(j.url, {
    ...auth,
    clientId: j.clientId,
    clean: true,
    protocolVersion: j.protocolVersion ?? 4,
  });
  const every = j.progressEvery;
  const counted = every ? () => ++count % every === 0 && process.send!({ progress: count }) : () => count++;
  c.on('message', j.retainedOnly ? (_t, _p, packet) => packet.retain && counted() : counted);
  await c.subscribeAsync(j.topic, { qos: j.qos });
  held.push(c);
}

async function publish(j: Extract<MqttJob, { kind: 'mqtt-pub' }>): Promise<void> {
  const c = await mqtt.connectAsync(j.url, { ...auth, clean: true, protocolVersion: j.protocolVersion ?? 4 });
  held.push(c);
  const body = Buffer.alloc(j.size, 0x61);
  process.send!({ ready: true });
  if (j.qos === 0) {
    while (!stopping) {
      for (let i = 0; i < 256; i++) {
        c.publish(j.topic, body, { qos: 0 });
        count++;
      }
      // mqtt.js buffers without limit; wait for its stream to drain like a well-behaved device.
      if (c.stream.writableNeedDrain) await new Promise((r) => c.stream.once('drain', r));
      else await new Promise((r) => setImmediate(r));
    }
    return;
  }
  // Publish while both windows have room; a PUBACK or a relayed subscriber count wakes it.
  let outstanding = 0;
  const ahead = j.ahead ?? Infinity;
  const acked = () => {
    outstanding--;
    count++;
    wakeUp();
  };
  while (!stopping) {
    if (outstanding >= j.window || count + outstanding - received >= ahead) {
      await new Promise<void>((r) => (wake = r));
      continue;
    }
    outstanding++;
    c.publish(j.topic, body, { qos: j.qos }, acked);
  }
}

function wakeUp(): void {
  const w = wake;
  wake = undefined;
  w?.();
}

/** Connect (CONNACK), then DISCONNECT, `concurrency` at a time: completed sessions per second. */
async function connectRate(j: Extract<MqttJob, { kind: 'mqtt-connect-rate' }>): Promise<void> {
  process.send!({ ready: true });
  const loop = async (): Promise<void> => {
    while (!stopping) {
      const c = await mqtt.connectAsync(j.url, { ...auth, clean: true });
      await c.endAsync();
      count++;
    }
  };
  await Promise.all(Array.from({ length: j.concurrency }, loop));
}

/**
 * Round trips to itself, one at a time, until stopped. The stall is the longest round trip,
 * counting the one still waiting: a frozen broker's stall grows while it stays frozen.
 */
let longestMs = 0;
let waitingSince: number | undefined;
async function probe(j: Extract<MqttJob, { kind: 'mqtt-probe' }>): Promise<void> {
  const c = await mqtt.connectAsync(j.url, { ...auth, clean: true });
  held.push(c);
  let arrived: (() => void) | undefined;
  c.on('message', () => arrived?.());
  await c.subscribeAsync(j.topic, { qos: 0 });
  process.send!({ ready: true });
  while (!stopping) {
    const t0 = performance.now();
    waitingSince = t0;
    await new Promise<void>((r) => {
      arrived = r;
      c.publish(j.topic, 'ping', { qos: 0 });
    });
    waitingSince = undefined;
    longestMs = Math.max(longestMs, performance.now() - t0);
    count++;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const stallMs = (): number =>
  Math.max(longestMs, waitingSince === undefined ? 0 : performance.now() - waitingSince);

serveJobs<MqttJob>({
  run: (j) =>
    j.kind === 'mqtt-sub'
      ? subscribe(j)
      : j.kind === 'mqtt-pub'
        ? publish(j)
        : j.kind === 'mqtt-connect-rate'
          ? connectRate(j)
          : probe(j),
  // Publishers and connect loops report ready themselves; the others once set up.
  readyWhenRun: (j) => j.kind === 'mqtt-sub',
  answer(cmd, msg) {
    if (cmd === 'count') return { count, held: held.length };
    if (cmd === 'stall') return { stallMs: stallMs() };
    if (cmd === 'received') {
      received = Number(msg['count']);
      wakeUp();
    }
    return undefined;
  },
  stop() {
    stopping = true;
    for (const c of held) c.end(true);
  },
});
