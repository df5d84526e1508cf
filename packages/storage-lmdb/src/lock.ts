/**
 * One broker per data directory. LMDB itself lets several processes share an
 * environment, which for a broker would mean two owners of the same queues; so the
 * directory holds a lock file naming the owner's pid. A lock left by a process that no
 * longer runs (killed, crashed) is taken over; one held by a live process is an error.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

export interface Lock {
  /** The previous owner died holding the lock: its last moments may not all be on disk. */
  readonly takenOver: boolean;
  release(): void;
}

export class DataDirLocked extends Error {}

export function acquireLock(path: string): Lock {
  let takenOver = false;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let held = true;
      return {
        takenOver,
        release() {
          if (!held) return;
          held = false;
          rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(owner) && owner > 0 && isRunning(owner)) {
        throw new DataDirLocked(
          `data directory is in use by another running broker (pid ${owner}, lock file ${path})`,
        );
      }
      rmSync(path, { force: true }); // stale: its owner is gone
      takenOver = true;
    }
  }
  throw new DataDirLocked(`could not take the lock ${path}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
