/**
 * A real redis-server for tests: spawned on a free loopback port with its own data
 * directory, AOF on and fsynced on every write (what a durable broker needs), no RDB.
 * Start it again on the same dir (startRedis({ dir })) to test recovery from the AOF.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { durableRedisArgs } from '@junction/storage-redis';

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  /** Graceful stop (SIGTERM: Redis flushes the AOF and exits). Keeps dir. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. Keeps dir. */
  kill(): void;
  /** Stops the server and deletes its dir. */
  cleanup(): Promise<void>;
}

const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
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

/** One PING over a raw socket: true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export async function startRedis(opts: { dir?: string; port?: number } = {}): Promise<RedisServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'junction-redis-'));
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.port ?? (await freePort());
    const args = durableRedisArgs(port, dir);
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    let exited = false;
    const exit = new Promise<void>((resolve) => {
      child.on('exit', () => {
        exited = true;
        live.delete(child);
        resolve();
      });
      child.on('error', (err) => {
        output += String(err);
        exited = true;
        live.delete(child);
        resolve();
      });
    });
    live.add(child);
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline && !(await ping(port)))
      await new Promise((r) => setTimeout(r, 20));
    if (!exited && Date.now() < deadline) {
      const stop = async (): Promise<void> => {
        if (exited) return;
        child.kill('SIGTERM');
        await exit;
      };
      return {
        url: `redis://127.0.0.1:${port}/0`,
        port,
        dir,
        stop,
        kill: () => {
          if (!exited) child.kill('SIGKILL');
        },
        cleanup: async () => {
          await stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    await exit;
    lastError = output.trim();
    if (opts.port !== undefined) break; // a fixed port that is taken will not free itself
  }
  throw new Error(`redis-server (${REDIS_SERVER}) did not start in ${dir}: ${lastError}`);
}
