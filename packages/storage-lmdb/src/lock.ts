/**
 * One broker per data directory. LMDB itself lets several processes share an environment,
 * which for a broker would mean two owners of the same queues; so the owner holds a lock
 * that the kernel releases when the owner dies, however it dies (SIGKILL, the OOM killer, a
 * container's PID 1 killed and restarted with the same pid).
 *
 * The lock is a listening Unix domain socket in the directory, `junction.lock.<random>`:
 * a connect to a live owner's socket succeeds (the owner answers with its pid), one to a
 * dead owner's socket file gets ECONNREFUSED. A starter binds its own uniquely named socket
 * first, then probes every other one: any live one and it refuses (and removes its own);
 * dead ones are removed (names are never reused, so a dead socket never comes back to life).
 * Starters are ordered by when they bound: whoever lists the directory second sees the first
 * one listening and refuses, so two live owners cannot both pass, with no takeover window
 * and no file naming a pid that a later process may have. (DESIGN-NOTES: the data directory
 * lock.) The protection is per kernel: brokers on two hosts sharing a network file system
 * do not see each other's sockets.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join, relative } from 'node:path';

export interface Lock {
  /** A previous owner died holding the lock: its last moments may not all be on disk. */
  readonly takenOver: boolean;
  release(): void;
}

export class DataDirLocked extends Error {}

const PREFIX = 'junction.lock.';
/** The pid file of earlier builds: its presence means one of them did not stop cleanly. */
const LEGACY = 'junction.lock';
/** sockaddr_un's sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** How long a probe waits for a connect to be accepted or refused, and for the owner's pid. */
const PROBE_MS = 2000;

export async function acquireLock(dir: string): Promise<Lock> {
  const name = `${PREFIX}${randomBytes(6).toString('hex')}`;
  const server = await listenAt(socketPath(join(dir, name)));
  let takenOver = false;
  try {
    for (const other of readdirSync(dir)) {
      if (!other.startsWith(PREFIX) || other === name) continue;
      const path = join(dir, other);
      const probe = await probeOwner(socketPath(path));
      if (probe.live) {
        throw new DataDirLocked(
          `data directory ${dir} is in use by another running broker (${probe.pid ? `pid ${probe.pid}, ` : ''}lock ${path})`,
        );
      }
      if (probe.stale) {
        rmSync(path, { force: true }); // its owner is gone; the kernel already let go
        takenOver = true;
      }
    }
    if (existsSync(join(dir, LEGACY))) {
      unlinkSync(join(dir, LEGACY));
      takenOver = true;
    }
  } catch (err) {
    server.close(); // unlinks our socket
    throw err;
  }
  let held = true;
  return {
    takenOver,
    release() {
      if (!held) return;
      held = false;
      server.close();
    },
  };
}

/** The socket's path, relative to the working directory when that fits and the absolute one does not. */
function socketPath(path: string): string {
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return path;
  const rel = relative(process.cwd(), path);
  if (Buffer.byteLength(rel) <= MAX_SOCKET_PATH) return rel;
  throw new Error(
    `data directory path is too long for its lock socket (${path}: a Unix socket path holds at most ${MAX_SOCKET_PATH} bytes)`,
  );
}

function listenAt(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Whoever probes us learns our pid, for its error message; nothing else is read.
    const server = createServer((sock) => {
      sock.on('error', () => {});
      sock.end(`${process.pid}\n`);
    });
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      server.on('error', () => {});
      server.unref(); // the lock never keeps the process alive
      resolve(server);
    });
  });
}

/**
 * live: a process accepted the connection (or we cannot tell: refusing is the safe answer);
 * stale: the socket file is there and nobody listens; neither: it vanished meanwhile.
 */
function probeOwner(path: string): Promise<{ live: boolean; stale: boolean; pid?: string }> {
  return new Promise((resolve) => {
    const sock = createConnection(path);
    let pid = '';
    let connected = false;
    const done = (r: { live: boolean; stale: boolean }): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...r, ...(pid.trim() ? { pid: pid.trim() } : {}) });
    };
    const timer = setTimeout(() => done({ live: true, stale: false }), PROBE_MS);
    sock.on('connect', () => (connected = true));
    sock.on('data', (d: Buffer) => {
      if (pid.length < 32) pid += d.toString('latin1');
    });
    sock.on('end', () => done({ live: true, stale: false }));
    sock.on('close', () => done({ live: connected, stale: false }));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) return done({ live: true, stale: false });
      if (err.code === 'ECONNREFUSED') return done({ live: false, stale: true });
      if (err.code === 'ENOENT') return done({ live: false, stale: false });
      done({ live: true, stale: false });
    });
  });
}
