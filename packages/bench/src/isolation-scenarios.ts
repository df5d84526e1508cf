/**
 * Issue 14's bounded-work rows: work one client controls, and what it costs everyone else.
 * Each runs once per target (a frozen broker stays frozen: a second round would measure
 * nothing), and every wait is bounded by DEADLINE_S: a target that does not answer in time
 * gets "did not finish" (Infinity) and the rest of its run is skipped.
 *
 * - topic routing with 10,000 bindings, wildcard-heavy ones among them (a binding of 16 `#`
 *   words): publishes routed per second with 5-word keys, then one 30-word key;
 * - MQTT `#` subscribe with 100,000 retained QoS 1 messages: seconds until all arrived, and
 *   the longest round trip another client (its own process) saw meanwhile.
 */
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { sleep, startWorker, stopAll, type Measurement, type Scenario, type Worker } from './workers.js';

/** How long one measurement may take before the row says it did not finish. */
const DEADLINE_S = 30;

let uniq = 0;
const tag = (): string => `bench${process.pid}i${++uniq}`;

class Unfinished extends Error {}

/** `p`, or Unfinished once `seconds` have passed. */
function within<T>(p: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Unfinished(`${what}: did not finish in ${seconds} s`)),
      seconds * 1000,
    );
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const log = (s: string): void => void process.stderr.write(`  ${s}\n`);

const words = (n: number, w: (i: number) => string): string =>
  Array.from({ length: n }, (_, i) => w(i)).join('.');

/**
 * The 10,000 bindings, over 10 queues: 4,000 exact keys, 2,000 with `*` words, 2,000
 * `#.<i>.#`, 1,999 with six `#` words, and one of 16 `#` words then `end`.
 */
function bindingKeys(): string[] {
  const keys: string[] = [];
  for (let i = 0; i < 4000; i++) keys.push(`dev.${i}.temp.room.floor`);
  for (let i = 0; i < 2000; i++) keys.push(`*.${i}.*.*.floor`);
  for (let i = 0; i < 2000; i++) keys.push(`#.${i}.#`);
  for (let i = 0; i < 1999; i++) keys.push(`#.#.#.w${i}.#.#.#`);
  keys.push(`${words(16, () => '#')}.end`);
  return keys;
}

const topicRouting: Scenario = {
  name: 'topic routing, 10,000 bindings (wildcard-heavy)',
  protocols: ['amqp'],
  rounds: 1,
  async run(target, { seconds, warmup }) {
    const name = topicRouting.name;
    const t = tag();
    const conn = await amqp.connect(target.urls.amqp!);
    conn.on('error', () => {});
    const ch = await conn.createConfirmChannel();
    const exchange = `${t}-topic`;
    const queues = Array.from({ length: 10 }, (_, k) => `${t}-q${k}`);
    const out: Measurement[] = [];
    const unfinished = (metric: string, better: 'higher' | 'lower'): void => {
      out.push({ scenario: name, metric, better, value: better === 'higher' ? 0 : Infinity });
    };
    try {
      await ch.assertExchange(exchange, 'topic', { durable: false });
      // Bounded queues: the routed messages are not the point, their memory should not be either.
      for (const q of queues) await ch.assertQueue(q, { durable: false, maxLength: 1000 });
      const keys = bindingKeys();
      for (let i = 0; i < keys.length; i += 500)
        await Promise.all(
          keys.slice(i, i + 500).map((k, j) => ch.bindQueue(queues[(i + j) % queues.length]!, exchange, k)),
        );
      // Routed per second: 5-word keys, at most 256 unconfirmed, for the window after the warm-up.
      let confirmed = 0;
      let outstanding = 0;
      let stop = false;
      let wake: (() => void) | undefined;
      const publisher = (async () => {
        for (let n = 0; !stop; n++) {
          if (outstanding >= 256) {
            await new Promise<void>((r) => (wake = r));
            continue;
          }
          outstanding++;
          ch.publish(exchange, `dev.${n % 4000}.temp.room.floor`, Buffer.from('r'), {}, () => {
            outstanding--;
            confirmed++;
            wake?.();
          });
          if (n % 256 === 0) await new Promise((r) => setImmediate(r));
        }
      })();
      await sleep(warmup);
      const c0 = confirmed;
      const t0 = performance.now();
      await sleep(seconds);
      const routed = (confirmed - c0) / ((performance.now() - t0) / 1000);
      stop = true;
      wake?.();
      await publisher;
      out.push({ scenario: name, metric: 'msg/s routed, 5-word keys', better: 'higher', value: routed });
      try {
        await within(ch.waitForConfirms(), DEADLINE_S, 'the last 5-word publishes');
      } catch (err) {
        if (!(err instanceof Unfinished)) throw err;
        log(err.message);
        unfinished('ms to route one 30-word key', 'lower');
        return out;
      }
      // One 30-word key that the 16-`#` binding matches.
      const t1 = performance.now();
      try {
        await within(
          new Promise<void>((resolve, reject) =>
            ch.publish(exchange, `${words(29, (i) => `k${i}`)}.end`, Buffer.from('long'), {}, (err) =>
              err ? reject(err) : resolve(),
            ),
          ),
          DEADLINE_S,
          'one 30-word key',
        );
        out.push({
          scenario: name,
          metric: 'ms to route one 30-word key',
          better: 'lower',
          value: performance.now() - t1,
        });
      } catch (err) {
        if (!(err instanceof Unfinished)) throw err;
        log(err.message);
        unfinished('ms to route one 30-word key', 'lower');
        return out;
      }
      await ch.deleteExchange(exchange);
      for (const q of queues) await ch.deleteQueue(q);
      return out;
    } finally {
      // A frozen broker never answers the close: say so, and leave the socket to the broker's stop.
      await within(conn.close(), 5, 'close').catch((err: unknown) => log(`close: ${(err as Error).message}`));
    }
  },
};

const RETAINED = 100_000;

const retainedFlood: Scenario = {
  name: `MQTT subscribe # with ${RETAINED.toLocaleString('en-US')} retained QoS 1 messages`,
  protocols: ['mqtt'],
  rounds: 1,
  async run(target) {
    const name = retainedFlood.name;
    const url = target.urls.mqtt!;
    const t = tag();
    const pub = await mqtt.connectAsync(url, { username: 'guest', password: 'guest', reconnectPeriod: 0 });
    const workers: Worker[] = [];
    try {
      // Retained messages on their own topics, at most 1,000 unacknowledged.
      let acked = 0;
      await within(
        (async () => {
          const body = Buffer.alloc(16, 0x72);
          for (let i = 0; i < RETAINED; i += 1000) {
            await Promise.all(
              Array.from({ length: Math.min(1000, RETAINED - i) }, (_, k) =>
                pub.publishAsync(`retained/${i + k}`, body, { qos: 1, retain: true }).then(() => acked++),
              ),
            );
          }
        })(),
        DEADLINE_S * 4,
        'storing the retained messages',
      );
      log(`${acked} retained messages stored`);
      // The other client, in its own process, on a `$` topic that `#` does not match (per
      // MQTT; an older broker's `#` subscriber also counts retained messages only).
      const probe = await startWorker({ kind: 'mqtt-probe', url, topic: `$probe/${t}` });
      workers.push(probe);
      const t0 = performance.now();
      let seconds = Infinity;
      try {
        const sub = await startWorker(
          { kind: 'mqtt-sub', url, topic: '#', qos: 1, clientId: `${t}-sub`, retainedOnly: true },
          { readyWithinS: DEADLINE_S },
        ).catch((err: Error) => {
          throw new Unfinished(`the # subscription: ${err.message}`);
        });
        workers.push(sub);
        await within(
          (async () => {
            while ((await sub.ask<{ count: number }>('count')).count < RETAINED) await sleep(0.05);
          })(),
          DEADLINE_S,
          `receiving ${RETAINED} retained messages`,
        );
        seconds = (performance.now() - t0) / 1000;
      } catch (err) {
        if (!(err instanceof Unfinished)) throw err;
        log(err.message);
      }
      const { stallMs } = await probe.ask<{ stallMs: number }>('stall');
      return [
        { scenario: name, metric: 'seconds until all received', better: 'lower', value: seconds },
        {
          scenario: name,
          metric: "another client's longest round trip, ms",
          better: 'lower',
          value: stallMs,
        },
      ];
    } finally {
      await stopAll(workers);
      pub.end(true);
    }
  },
};

export const isolationScenarios: Scenario[] = [topicRouting, retainedFlood];
