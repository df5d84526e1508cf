/**
 * One redis-server or redis-sentinel child process on a free loopback port: spawned, waited
 * for until it answers PING (bounded), retried on another port if the first was taken
 * meanwhile. What startRedis and startRedisGroup are built from.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';

export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';
export const REDIS_SENTINEL = process.env['REDIS_SENTINEL'] ?? '/usr/bin/redis-sentinel';

export interface RedisProcess {
  port: number;
  readonly exited: boolean;
  /** SIGTERM (Redis flushes its AOF), resolved once the process is gone. */
  stop(): Promise<void>;
  /** Sends a signal unless the process is gone: SIGKILL as a crash, SIGSTOP / SIGCONT as a pause. */
  signal(sig: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  gone: Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** One RESP command as an array of bulk strings (safe for any password). */
function resp(args: readonly string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

/** One PING (after AUTH when a password is set): true when the server answers +PONG. */
function ping(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write((password ? resp(['AUTH', password]) : '') + resp(['PING'])));
    sock.on('data', (d) => {
      buf += d.toString();
      const lines = buf.split('\r\n');
      const answers = lines.slice(0, -1);
      if (answers.length >= (password ? 2 : 1)) done(answers.at(-1)!.startsWith('+PONG'));
    });
  });
}

/**
 * Starts `program` with `argsFor(port)` and waits up to 10 s until it answers PING. A port
 * taken between freePort() and the bind costs one more attempt on another port (up to 5),
 * unless `port` is fixed.
 */
export async function spawnRedisProcess(opts: {
  program: string;
  argsFor: (port: number) => string[];
  port?: number;
  password?: string;
  what: string;
}): Promise<RedisProcess> {
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.port ?? (await freePort());
    const child = spawn(opts.program, opts.argsFor(port), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    let exited = false;
    const gone = new Promise<void>((resolve) => {
      const end = (): void => {
        exited = true;
        live.delete(child);
        resolve();
      };
      child.on('exit', end);
      child.on('error', (err) => {
        output += String(err);
        end();
      });
    });
    live.add(child);
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline && !(await ping(port, opts.password)))
      await new Promise((r) => setTimeout(r, 20));
    if (!exited && Date.now() < deadline) {
      const signal = (sig: NodeJS.Signals): void => {
        if (!exited) child.kill(sig);
      };
      return {
        port,
        get exited() {
          return exited;
        },
        gone,
        signal,
        stop: async () => {
          signal('SIGCONT'); // a paused process would never act on the SIGTERM
          signal('SIGTERM');
          await gone;
        },
      };
    }
    child.kill('SIGKILL');
    await gone;
    lastError = output.trim();
    if (opts.port !== undefined) break; // a fixed port that is taken will not free itself
  }
  throw new Error(`${opts.what} (${opts.program}) did not start: ${lastError}`);
}
