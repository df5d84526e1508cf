/**
 * Load processes: the bench forks one per producer/consumer so a Node client never shares
 * an event loop with the broker or with the other side of the test. A worker module
 * answers { cmd: 'start', job } | { cmd: 'count' } | { cmd: 'samples' } | { cmd: 'stop' }.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuProbe, cpuSeconds } from './cpu.js';
import type { Row } from './stats.js';
import type { Job as AmqpJob } from './worker.js';
import type { MqttJob } from './mqtt-worker.js';
import type { FleetJob } from './mqtt-fleet-worker.js';
import type { StompJob } from './stomp-worker.js';
import type { RunningPeer } from './peers.js';

export type Measurement = Omit<Row, 'values'> & { value: number };
/** amqps and mqtts: the same protocols over TLS (peers.ts benchTls()). */
export type Protocol = 'amqp' | 'amqps' | 'mqtt' | 'mqtts' | 'stomp';

export interface RunOptions {
  seconds: number;
  warmup: number;
  /** Connections the fleet scenario holds (--connections). */
  connections: number;
}

export interface Scenario {
  name: string;
  /** Every protocol the scenario speaks: targets without a URL for one of them are skipped. */
  protocols: readonly Protocol[];
  /** At most this many rounds, whatever --rounds says (for long one-shot measurements). */
  rounds?: number;
  /** Needs durable storage: runs only against targets that have it (see cli.ts). */
  persistent?: boolean;
  /** Declares mirrored queues: runs only against targets whose store replicates. */
  replicated?: boolean;
  run(target: RunningPeer, opts: RunOptions): Promise<Measurement[]>;
}

export interface Worker {
  child: ChildProcess;
  /** What it runs, for the CPU line and its profile's name: `stomp-sub stompit`, ... */
  label: string;
  ask<T>(cmd: string): Promise<T>;
  /** Sends the worker a command that wants no reply (`{ cmd, ...fields }`). */
  tell(cmd: string, fields: Record<string, unknown>): void;
  /** Called with every unasked `{ progress }` message the worker sends. */
  onProgress?: (progress: number) => void;
}

/** The live load processes, for the CPU line of each measured window. */
const live = new Set<Worker>();

/**
 * Where the run is, set by cli.ts: the broker under test (its CPU is logged beside the
 * workers') and, with `--profile <dir>`, where each worker writes its CPU profile.
 */
export const runContext: {
  broker?: { name: string; pid: () => number | undefined };
  profileDir?: string;
  /** `<scenario>-<target>-r<round>`, the prefix of each worker's profile. */
  label: string;
  /**
   * The broker's CPU seconds per delivered message in the run's last measured window (set by
   * rate(), read by cli.ts): on a shared machine, less noisy than the rate itself.
   */
  brokerCpuPerMessage?: number;
} = { label: 'run' };

let profiles = 0;

const modules = {
  amqp: fileURLToPath(new URL('./worker.js', import.meta.url)),
  mqtt: fileURLToPath(new URL('./mqtt-worker.js', import.meta.url)),
  mqttFleet: fileURLToPath(new URL('./mqtt-fleet-worker.js', import.meta.url)),
  stomp: fileURLToPath(new URL('./stomp-worker.js', import.meta.url)),
  stompWire: fileURLToPath(new URL('./stomp-wire-worker.js', import.meta.url)),
};

/**
 * Forks a load process and waits until its job is set up; with `readyWithinS`, a worker not
 * ready by then is killed and the start rejects (a frozen broker never answers a SUBACK).
 */
export async function startWorker(
  job: AmqpJob | MqttJob | FleetJob | StompJob,
  opts: { readyWithinS?: number } = {},
): Promise<Worker> {
  const module =
    job.kind === 'mqtt-fleet'
      ? modules.mqttFleet
      : job.kind.startsWith('mqtt-')
        ? modules.mqtt
        : job.kind.startsWith('stomp-')
          ? (job as StompJob).client === 'wire'
            ? modules.stompWire
            : modules.stomp
          : modules.amqp;
  const label = `${job.kind}${'client' in job ? ` ${job.client}` : ''}`;
  const execArgv = runContext.profileDir
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${join(runContext.profileDir, 'workers')}`,
        `--cpu-prof-name=${String(++profiles).padStart(3, '0')}-${runContext.label}-${label.replace(' ', '-')}.cpuprofile`,
      ]
    : [];
  const child = fork(module, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [...process.execArgv, ...execArgv],
  });
  const pending: ((m: Record<string, unknown>) => void)[] = [];
  let failed: string | undefined;
  child.on('message', (m: Record<string, unknown>) => {
    if (typeof m['progress'] === 'number') return worker.onProgress?.(m['progress']);
    if (typeof m['error'] === 'string') failed = m['error'];
    pending.shift()?.(m);
  });
  child.on('exit', (code) => {
    live.delete(worker);
    if (code !== 0 && !failed) failed = `worker exited with code ${code}`;
    for (const p of pending.splice(0)) p({ error: failed });
  });
  const ask = <T>(cmd: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (failed) return reject(new Error(failed));
      pending.push((m) => (failed ? reject(new Error(failed)) : resolve(m as T)));
      child.send({ cmd, job });
    });
  const worker: Worker = {
    child,
    label,
    ask,
    tell: (cmd, fields) => {
      if (child.connected) child.send({ cmd, ...fields });
    },
  };
  live.add(worker);
  const timer =
    opts.readyWithinS === undefined
      ? undefined
      : setTimeout(() => {
          failed = `not ready in ${opts.readyWithinS} s`;
          child.kill('SIGKILL');
        }, opts.readyWithinS * 1000);
  try {
    await ask('start');
  } finally {
    clearTimeout(timer);
  }
  return worker;
}

/**
 * A scenario's cleanup (delete its queues, close its connection), step by step: a step that
 * fails is reported on stderr and the next one still runs, since the row was already measured.
 */
export async function cleanUp(what: string, ...steps: (() => Promise<unknown>)[]): Promise<void> {
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      process.stderr.write(`bench: cleanup of ${what} failed: ${(err as Error).message}\n`);
    }
  }
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

/** The row most scenarios report: messages per second that `counters` received. */
export async function deliveredRow(
  scenario: string,
  counters: Worker[],
  seconds: number,
  warmup: number,
): Promise<Measurement[]> {
  return [
    { scenario, metric: 'msg/s delivered', better: 'higher', value: await rate(counters, seconds, warmup) },
  ];
}

export const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

/**
 * Deliveries per second summed over `counters`, measured over `seconds` after `warmup`. The
 * CPU each process used in the window (broker, load workers, machine) goes to the log.
 */
export async function rate(counters: Worker[], seconds: number, warmup: number): Promise<number> {
  await sleep(warmup);
  const count = async () =>
    (await Promise.all(counters.map((c) => c.ask<{ count: number }>('count')))).reduce(
      (a, b) => a + b.count,
      0,
    );
  const c0 = await count();
  const t0 = performance.now();
  const broker = runContext.broker;
  const brokerCpu0 = cpuSeconds(broker?.pid());
  const cpu = cpuProbe([
    ...(broker ? [[broker.name, broker.pid()] as [string, number | undefined]] : []),
    ...[...live].map((w) => [w.label, w.child.pid] as [string, number | undefined]),
  ]);
  await sleep(seconds);
  const c1 = await count();
  const value = (c1 - c0) / ((performance.now() - t0) / 1000);
  const brokerCpu1 = cpuSeconds(broker?.pid());
  runContext.brokerCpuPerMessage =
    brokerCpu0 !== undefined && brokerCpu1 !== undefined && c1 > c0
      ? (brokerCpu1 - brokerCpu0) / (c1 - c0)
      : undefined;
  process.stderr.write(`  cpu (% of one core): ${cpu.end()}\n`);
  return value;
}
