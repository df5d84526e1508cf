/**
 * npm run bench -- [--junction] [--rabbitmq] [--mosquitto] [--activemq]
 *                  [--baseline /other/checkout] [--profile dir]
 *                  [--target name=amqp://...|amqps://...|mqtt://...|mqtts://...|stomp://...]...
 *                  [--scenario text]... [--seconds N] [--warmup N] [--rounds N] [--quiet N]
 *
 * Runs every scenario against every target that speaks its protocols, in one process,
 * interleaving targets round by round (machines here are shared and noisy: interleaving
 * spreads the noise evenly), takes each target's median over the rounds, and prints a
 * markdown table with each target's ratio to the first one. Default: Junction, plus
 * RabbitMQ, Mosquitto and ActiveMQ when installed. A --target name given more than once
 * (an amqp://, an mqtt:// and/or a stomp:// URL) is one target speaking each.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { amqpScenarios } from './amqp-scenarios.js';
import { fleetScenario, mqttScenarios } from './mqtt-scenarios.js';
import {
  activeMqJar,
  junctionNodeFlags,
  startActiveMq,
  startBaseline,
  startJunction,
  startMosquitto,
  startRabbitMq,
  removeBenchTls,
  type RunningPeer,
} from './peers.js';
import { fmt, median, ratioTable, type Row } from './stats.js';
import { stompScenarios } from './stomp-scenarios.js';
import { persistentScenarios } from './persistent-scenarios.js';
import { streamScenarios } from './stream-scenarios.js';
import { waitForQuiet } from './quiet.js';
import { isolationScenarios } from './isolation-scenarios.js';
import { runContext, type Measurement } from './workers.js';

const allScenarios = [
  ...amqpScenarios,
  ...persistentScenarios,
  ...streamScenarios,
  ...mqttScenarios,
  ...stompScenarios,
  ...isolationScenarios,
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      junction: { type: 'boolean' },
      rabbitmq: { type: 'boolean' },
      mosquitto: { type: 'boolean' },
      activemq: { type: 'boolean' },
      target: { type: 'string', multiple: true },
      baseline: { type: 'string' },
      profile: { type: 'string' },
      scenario: { type: 'string', multiple: true },
      quiet: { type: 'string', default: '30' },
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    // The selectable scenario names: --scenario takes any part of one.
    process.stdout.write(
      [
        'npm run bench -- [--junction] [--rabbitmq] [--mosquitto] [--activemq] [--baseline /other/checkout]',
        '                 [--target name=amqp://...|mqtt://...|stomp://...]... [--profile dir]',
        '                 [--scenario text]... [--seconds N] [--warmup N] [--rounds N] [--quiet N] [--connections N]',
        '',
        '--scenario runs the scenarios whose name contains the text (repeatable); see packages/bench/README.md.',
        'Scenarios:',
        ...allScenarios.map((sc) => `  ${sc.name}`),
        '',
      ].join('\n'),
    );
    return;
  }
  const explicit =
    values.junction ||
    values.rabbitmq ||
    values.mosquitto ||
    values.activemq ||
    (values.target?.length ?? 0) > 0;
  const wantJunction = values.junction ?? !explicit;
  const wantRabbit = values.rabbitmq ?? (!explicit && existsSync('/usr/sbin/rabbitmq-server'));
  const wantMosquitto = values.mosquitto ?? (!explicit && existsSync('/usr/sbin/mosquitto'));
  const wantActiveMq = values.activemq ?? (!explicit && existsSync(activeMqJar));
  const targets: RunningPeer[] = [];
  /** Peers started but not yet in `targets` (see below). */
  const peers: RunningPeer[] = [];
  const log = (s: string) => process.stderr.write(`${s}\n`);
  // --scenario is repeatable: a scenario runs if its name contains any of the texts.
  const wanted = (name: string) => !values.scenario || values.scenario.some((t) => name.includes(t));
  if (values.profile) {
    // Every Junction and every load worker writes a V8 CPU profile there when it exits
    // (summarise them with dist/profile-summary.js).
    const dir = resolve(values.profile);
    mkdirSync(join(dir, 'workers'), { recursive: true });
    runContext.profileDir = dir;
    junctionNodeFlags.push('--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-name={name}.cpuprofile');
  }
  try {
    // Peers first, then Junction's instances. Started the other way round (RabbitMQ booting after
    // Junction's brokers), Junction's persistent 1->1 measured 25-27k msg/s in every round
    // against 35-40k with RabbitMQ started first or from another process, while RabbitMQ's
    // own figure did not move (17-21k either way); the cause is not understood (not CPU or
    // disk left busy by the peer: both were idle during Junction's rounds). Listed in the
    // tables in the old order.
    if (wantRabbit) peers.push(await startRabbitMq());
    if (wantMosquitto) peers.push(await startMosquitto());
    if (wantActiveMq) peers.push(await startActiveMq());
    if (wantJunction) targets.push(await startJunction());
    // Another checkout's build beside this one, for before/after figures in one run.
    if (values.baseline) targets.push(await startBaseline(values.baseline));
    // Persistent scenarios run against Junction on each durable backend instead of in memory.
    const wantPersistent = allScenarios.some((s) => s.persistent && wanted(s.name));
    if (wantJunction && wantPersistent) {
      targets.push(await startJunction('embedded'));
      if (values.baseline) targets.push(await startBaseline(values.baseline, 'embedded'));
      if (existsSync('/usr/bin/redis-server')) targets.push(await startJunction('redis'));
      if (existsSync('/usr/bin/redis-server') && allScenarios.some((s) => s.replicated && wanted(s.name)))
        targets.push(await startJunction('redis-group'));
    }
    targets.push(...peers.splice(0));
    for (const t of values.target ?? []) {
      const i = t.indexOf('=');
      if (i <= 0) throw new Error(`--target wants name=url, got '${t}'`);
      const name = t.slice(0, i);
      const url = t.slice(i + 1);
      const protocol = (['amqps', 'amqp', 'mqtts', 'mqtt', 'stomp'] as const).find((p) =>
        url.startsWith(`${p}://`),
      );
      if (!protocol)
        throw new Error(`--target ${name}: an amqp(s)://, mqtt(s):// or stomp:// URL, got '${url}'`);
      let target = targets.find((x) => x.name === name);
      if (!target) targets.push((target = { name, urls: {}, rss: () => undefined, stop: async () => {} }));
      target.urls[protocol] = url;
    }
    if (targets.length === 0) throw new Error('no targets');
    const scenarios = allScenarios.filter((s) => wanted(s.name));
    const seconds = Number(values.seconds);
    const warmup = Number(values.warmup);
    const rounds = Number(values.rounds);
    // The fleet holds 19,000 connections when asked for by name (or --connections), and a
    // quick 2,000 in the default run of every scenario.
    const connections = Number(
      values.connections ?? (values.scenario?.some((t) => fleetScenario.name.includes(t)) ? 19_000 : 2_000),
    );
    const samples = new Map<string, { row: Omit<Row, 'values'>; byTarget: Map<string, number[]> }>();
    for (const s of scenarios) {
      const n = Math.min(rounds, s.rounds ?? rounds);
      for (let round = 1; round <= n; round++) {
        for (const t of targets) {
          if (!s.protocols.every((p) => t.urls[p])) continue;
          if (t.storage && t.storage !== (s.persistent ? 'persistent' : 'transient')) continue;
          if (s.replicated && !t.replicated) continue;
          const waited = await waitForQuiet(0.15, Number(values.quiet));
          runContext.label = `${s.name.replace(/[^A-Za-z0-9]+/g, '_')}-${t.name}-r${round}`;
          runContext.broker = t.pid ? { name: t.name, pid: t.pid } : undefined;
          log(
            `${s.name} | ${t.name} | round ${round}/${n}${waited > 1 ? ` (waited ${waited.toFixed(0)} s for a quiet machine)` : ''}`,
          );
          // One target failing a scenario (a peer out of file descriptors, say) leaves its cells n/a.
          const results: Measurement[] = await s
            .run(t, { seconds, warmup, connections })
            .catch((err: unknown) => {
              log(`  failed: ${(err as Error).message}`);
              return [];
            });
          // Beside a msg/s row, the broker's CPU per message in the same window (all its
          // threads): what a message costs the broker, whoever else was using the machine.
          const perMessage = runContext.brokerCpuPerMessage;
          runContext.brokerCpuPerMessage = undefined;
          const rateRow = results.find((r) => r.metric.startsWith('msg/s'));
          if (rateRow && perMessage !== undefined)
            results.push({
              scenario: rateRow.scenario,
              metric: 'broker CPU µs/msg',
              better: 'lower',
              value: perMessage * 1e6,
            });
          // Every round's figure goes to the log too: the spread says how noisy the machine was.
          for (const r of results) log(`  ${r.metric}: ${fmt(r.value)}`);
          for (const r of results) {
            const key = `${r.scenario}\u0000${r.metric}`;
            let e = samples.get(key);
            if (!e)
              samples.set(
                key,
                (e = {
                  row: { scenario: r.scenario, metric: r.metric, better: r.better },
                  byTarget: new Map(),
                }),
              );
            let list = e.byTarget.get(t.name);
            if (!list) e.byTarget.set(t.name, (list = []));
            list.push(r.value);
          }
        }
      }
    }
    const rows: Row[] = [...samples.values()].map(({ row, byTarget }) => ({
      ...row,
      values: Object.fromEntries([...byTarget].map(([name, v]) => [name, median(v)])),
    }));
    const rss = targets.map((t) => `${t.name} ${((t.rss() ?? NaN) / 2 ** 20).toFixed(0)} MiB`).join(', ');
    // One table per set of targets that ran the same scenarios (the persistent rows have
    // Junction's durable backends, the MQTT rows Mosquitto, ...): each ratio is to the first.
    const groups = new Map<string, Row[]>();
    for (const r of rows) {
      const key = targets
        .filter((t) => r.values[t.name] !== undefined)
        .map((t) => t.name)
        .join(',');
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const tables = [...groups].map(([key, group]) => ratioTable(group, key.split(','))).join('\n\n');
    process.stdout.write(
      `\namqplib, mqtt.js, stompit and wire (stomp-wire.ts) clients, median of ${rounds} rounds of ${seconds} s (after ${warmup} s warm-up), one machine, one run.\n\n` +
        `${tables}\n\nBroker RSS at the end: ${rss}\n`,
    );
  } finally {
    for (const t of [...targets, ...peers]) await t.stop();
    removeBenchTls();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
