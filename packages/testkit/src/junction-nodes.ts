/**
 * N Junction nodes as separate processes (`junction start` in cluster mode) on one Redis, each
 * with AMQP, MQTT, STOMP and management on ephemeral loopback ports and a node link port
 * that was free when it started. For cluster tests and the fault suite: kill -9, SIGSTOP,
 * restart a node; every wait bounded. Nodes run from the TypeScript sources (tsx), as the
 * CLI tests do, so a test never runs a stale build.
 */
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { listenOnFreePort } from './loopback-port.js';
import { spawnLogged, type LoggedProcess } from './process.js';

const MAIN = fileURLToPath(new URL('../../server/src/main.ts', import.meta.url));
export const TEST_CLUSTER_SECRET = 'test-cluster-secret-0123456789';

export interface JunctionNode {
  /** The configured name (node-1, node-2, ...). */
  readonly name: string;
  /** The id of its current incarnation (name plus a per-process suffix). */
  readonly id: string;
  readonly process: LoggedProcess;
  readonly ports: { amqp: number; mqtt: number; stomp: number; http: number };
  readonly linkPort: number;
  /** amqp://guest:guest@127.0.0.1:PORT */
  readonly amqpUrl: string;
  /** http://127.0.0.1:PORT */
  readonly httpUrl: string;
  /** A request to its management API as guest (GET unless told); the status and the parsed JSON. */
  api(path: string, method?: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

export interface JunctionNodesOptions {
  count: number;
  /** The storage URL of node i (0-based): the same group for all, or a proxy in front of it for one. */
  storage: string | ((index: number) => string);
  /** Extra flags for every node. */
  args?: readonly string[];
  /** Extra environment variables for every node. */
  env?: NodeJS.ProcessEnv;
  /** Bound of each node's start; default 30 s (a loaded machine compiles the sources slowly). */
  startTimeoutMs?: number;
}

export interface JunctionNodes {
  readonly nodes: readonly JunctionNode[];
  /** kill -9 of node i; resolves when it has exited. */
  kill(index: number): Promise<void>;
  /** Starts node i again (after kill or stop): a new incarnation, new ports. */
  restart(index: number): Promise<JunctionNode>;
  /** Ends every node (SIGKILL for those that do not stop on SIGTERM within 5 s). */
  cleanup(): Promise<void>;
}

/** A port that was free a moment ago (the node link binds it later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenOnFreePort(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function startNode(index: number, opts: JunctionNodesOptions): Promise<JunctionNode> {
  const name = `node-${index + 1}`;
  const linkPort = await freePort();
  const storage = typeof opts.storage === 'function' ? opts.storage(index) : opts.storage;
  const args = [
    'start',
    ...['--storage', storage, '--cluster-node-name', name],
    ...['--cluster-link-host', '127.0.0.1', '--cluster-link-port', String(linkPort)],
    ...['--amqp-port', '0', '--mqtt-port', '0', '--stomp-port', '0', '--http-port', '0'],
    ...['--mqtt-ws-port', 'off', '--stomp-ws-port', 'off'],
    ...['--amqp-host', '127.0.0.1', '--mqtt-host', '127.0.0.1', '--stomp-host', '127.0.0.1'],
    ...['--http-host', '127.0.0.1', '--memory-high-watermark', '0'],
    ...(opts.args ?? []),
  ];
  const p = spawnLogged(
    [process.execPath, '--conditions=@junction/source', '--import', 'tsx', MAIN, ...args],
    {
      env: {
        ...process.env,
        JUNCTION_LOG_LEVEL: 'info',
        JUNCTION_CLUSTER_SECRET: TEST_CLUSTER_SECRET,
        ...opts.env,
      },
    },
  );
  let started: Record<string, unknown>;
  try {
    started = await p.line('Junction started', opts.startTimeoutMs ?? 30_000);
  } catch (err) {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
    throw err;
  }
  const ports = started['ports'] as JunctionNode['ports'];
  const httpUrl = `http://127.0.0.1:${ports.http}`;
  return {
    name,
    id: String(started['node']),
    process: p,
    ports,
    linkPort,
    amqpUrl: `amqp://guest:guest@127.0.0.1:${ports.amqp}`,
    httpUrl,
    async api(path, method = 'GET', body) {
      const res = await fetch(`${httpUrl}${path}`, {
        method,
        headers: {
          authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: the text itself is the answer
      }
      return { status: res.status, body: parsed };
    },
  };
}

async function stopProcess(p: LoggedProcess, signal: NodeJS.Signals, boundMs: number): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), boundMs);
  await p.exited;
  clearTimeout(timer);
}

/** Starts `count` nodes one after the other (each joins the registry before the next starts). */
export async function startJunctionNodes(opts: JunctionNodesOptions): Promise<JunctionNodes> {
  const nodes: JunctionNode[] = [];
  const cleanup = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => stopProcess(n.process, 'SIGTERM', 5000)));
  };
  try {
    for (let i = 0; i < opts.count; i++) nodes.push(await startNode(i, opts));
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    nodes,
    kill: (i) => stopProcess(nodes[i]!.process, 'SIGKILL', 0),
    async restart(i) {
      await stopProcess(nodes[i]!.process, 'SIGKILL', 0);
      nodes[i] = await startNode(i, opts);
      return nodes[i];
    },
    cleanup,
  };
}
