/** Temporary directories a test file makes (data directories, mostly), removed when it is done. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';

export interface TempDirs {
  /** A fresh empty directory named `<prefix>XXXXXX` under the system's temporary directory. */
  make(prefix: string): string;
  /** The one `make` returned last. */
  latest(): string;
}

/**
 * Registers the removal: after the file's last test, or after each test with `each`. Register
 * it before the hooks that close what lives in the directories: vitest runs after-hooks in
 * reverse order, so theirs run first.
 */
export function tempDirs(opts: { each?: boolean } = {}): TempDirs {
  const dirs: string[] = [];
  (opts.each ? afterEach : afterAll)(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return {
    make(prefix) {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    latest() {
      const d = dirs.at(-1);
      if (!d) throw new Error('no temporary directory made yet');
      return d;
    },
  };
}
