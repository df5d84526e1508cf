/**
 * Load processes: the bench forks one per producer/consumer so a Node client never shares
 * an event loop with the broker or with the other side of the test. A worker module
 * answers { cmd: 'start', job } | { cmd: 'count' } | { cmd: 'samples' } | { cmd: 'stop' }.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Row } from './stats.js';
import type { Job as AmqpJob } from './worker.js';
import type { MqttJob } from './mqtt-worker.js';
import type { StompJob } from './stomp-worker.js';
import type { RunningPeer } from './peers.js';

export type Measurement = Omit<Row, 'values'> & { value: number };
export type Protocol = 'amqp' | 'mqtt' | 'stomp';

export interface Scenario {
  name: string;
  /** Every protocol the scenario speaks: targets without a URL for one of them are skipped. */
  protocols: readonly Protocol[];
  /** At most this many rounds, whatever --rounds says (for long one-shot measurements). */
  rounds?: number;
  /** Needs durable storage: runs only against targets that have it (see cli.ts). */
  persistent?: boolean;
  run(target: RunningPeer, opts: { seconds: number; warmup: number }): Promise<Measurement[]>;
}

export interface Worker {
  child: ChildProcess;
  ask<T>(cmd: string): Promise<T>;
}

const modules = {
  amqp: fileURLToPath(new URL('./worker.js', import.meta.url)),
  mqtt: fileURLToPath(new URL('./mqtt-worker.js', import.meta.url)),
  stomp: fileURLToPath(new URL('./stomp-worker.js', import.meta.url)),
  stompWire: fileURLToPath(new URL('./stomp-wire-worker.js', import.meta.url)),
};

export async function startWorker(job: AmqpJob | MqttJob | StompJob): Promise<Worker> {
  const module = job.kind.startsWith('mqtt-')
    ? modules.mqtt
    : job.kind.startsWith('stomp-')
      ? (job as StompJob).client === 'wire'
        ? modules.stompWire
        : modules.stomp
      : modules.amqp;
  const child = fork(module, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending: ((m: Record<string, unknown>) => void)[] = [];
  let failed: string | undefined;
  child.on('message', (m: Record<string, unknown>) => {
    if (typeof m['error'] === 'string') failed = m['error'];
    pending.shift()?.(m);
  });
  child.on('exit', (code) => {
    if (code !== 0 && !failed) failed = `worker exited with code ${code}`;
    for (const p of pending.splice(0)) p({ error: failed });
  });
  const ask = <T>(cmd: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (failed) return reject(new Error(failed));
      pending.push((m) => (failed ? reject(new Error(failed)) : resolve(m as T)));
      child.send({ cmd, job });
    });
  await ask('start');
  return { child, ask };
}

export async function stopAll(workers: Worker[]): Promise<void> {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((r) => {
          if (w.child.exitCode !== null) return r();
          w.child.once('exit', () => r());
          w.child.send({ cmd: 'stop' });
        }),
    ),
  );
}

export const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

/** Deliveries per second summed over `counters`, measured over `seconds` after `warmup`. */
export async function rate(counters: Worker[], seconds: number, warmup: number): Promise<number> {
  await sleep(warmup);
  const count = async () =>
    (await Promise.all(counters.map((c) => c.ask<{ count: number }>('count')))).reduce(
      (a, b) => a + b.count,
      0,
    );
  const c0 = await count();
  const t0 = performance.now();
  await sleep(seconds);
  const c1 = await count();
  return (c1 - c0) / ((performance.now() - t0) / 1000);
}
