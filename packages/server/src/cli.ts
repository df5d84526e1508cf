/**
 * `junction start [--flag value ...]`: runs the broker until SIGTERM/SIGINT, then shuts
 * down gracefully (stop accepting, close connections so unacked messages return to their
 * queues, flush the store). SIGHUP re-reads the TLS certificate files.
 */
import { parseArgs } from 'node:util';
import { envName, loadConfig, settings, type JunctionConfig } from './config.js';
import { createLogger } from './logger.js';
import { startBroker, type BrokerHandle } from './start-broker.js';
import { maskRedisUrl } from '@junction/storage-redis';

const usage = `Usage: junction start [options]

Options (each also settable as an environment variable JUNCTION_<NAME>, e.g. JUNCTION_AMQP_PORT):
  --config <file>            JSON config file (also JUNCTION_CONFIG)
${Object.entries(settings)
  .map(([k, s]) => `  --${`${k} <value>`.padEnd(25)} ${s.describe} (${envName(k)})`)
  .join('\n')}
  -h, --help                 this text
`;

/**
 * The configuration `junction start <args>` runs with (null for --help); throws on bad input.
 * Exported so deploy/ manifests can be checked against the parser the image runs.
 */
export function parseStartArgs(args: string[], env: NodeJS.ProcessEnv): JunctionConfig | null {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...Object.fromEntries(Object.keys(settings).map((k) => [k, { type: 'string' as const }])),
    },
    strict: true,
  });
  if (values.help) return null;
  const { config: file, help: _help, ...flags } = values;
  return loadConfig({ file, env, flags: flags as Record<string, string> });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(usage);
    return command === undefined ? 1 : 0;
  }
  if (command !== 'start') {
    process.stderr.write(`junction: unknown command '${command}'\n\n${usage}`);
    return 1;
  }
  let config;
  try {
    config = parseStartArgs(rest, process.env);
  } catch (err) {
    process.stderr.write(`junction: ${(err as Error).message}\n\n${usage}`);
    return 1;
  }
  if (config === null) {
    process.stdout.write(usage);
    return 0;
  }
  const log = createLogger(config.logLevel);
  let handle: BrokerHandle;
  try {
    handle = await startBroker({
      ports: {
        amqp: config.amqp?.port ?? null,
        amqps: config.amqp?.tlsPort ?? null,
        mqtt: config.mqtt?.port ?? null,
        mqtts: config.mqtt?.tlsPort ?? null,
        mqttWs: config.mqtt?.wsPort ?? null,
        mqttWss: config.mqtt?.wssPort ?? null,
        stomp: config.stomp?.port ?? null,
        stomps: config.stomp?.tlsPort ?? null,
        stompWs: config.stomp?.wsPort ?? null,
        stompWss: config.stomp?.wssPort ?? null,
        http: config.http?.port ?? null,
        https: config.http?.tlsPort ?? null,
      },
      hosts: {
        amqp: config.amqp?.host,
        amqps: config.amqp?.host,
        mqtt: config.mqtt?.host,
        mqtts: config.mqtt?.host,
        mqttWs: config.mqtt?.host,
        mqttWss: config.mqtt?.host,
        stomp: config.stomp?.host,
        stomps: config.stomp?.host,
        stompWs: config.stomp?.host,
        stompWss: config.stomp?.host,
        http: config.http?.host,
        https: config.http?.host,
      },
      storage: config.storage,
      logger: log,
      config,
    });
  } catch (err) {
    // A port in use, an unreadable certificate: say so in one line, not a stack.
    log.fatal({ err: (err as Error).message }, 'Junction failed to start');
    process.stderr.write(`junction: ${(err as Error).message}\n`);
    return 1;
  }
  // SIGHUP: re-read the TLS certificate, key and CA files (e.g. after a renewal).
  const onHangup = (): void => {
    log.info({ signal: 'SIGHUP' }, 'reloading TLS certificates');
    void handle.reloadTls(); // never rejects: a failed reload is logged and changes nothing
  };
  process.on('SIGHUP', onHangup);
  log.info(
    {
      ports: handle.ports,
      storage: maskRedisUrl(config.storage),
      pid: process.pid,
      ...(handle.cluster ? { node: handle.cluster.node.nodeId } : {}),
    },
    'Junction started',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      handle.close({ drainMs: 5000 }).then(resolve, (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  process.off('SIGHUP', onHangup);
  log.info('stopped');
  return 0;
}
