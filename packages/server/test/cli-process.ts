/**
 * The `junction` command as an operator runs it, for tests: a separate process started from
 * the TypeScript sources, its JSON log lines collected, killed after each test if still running.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { spawnLogged, type LoggedProcess } from '@junction/testkit';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const children: ChildProcess[] = [];

// A failed test must not leave a broker running.
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): LoggedProcess {
  // Run the TypeScript sources directly (tsx), resolving workspace packages to their src/.
  const p = spawnLogged(
    [process.execPath, '--conditions=@junction/source', '--import', 'tsx', main, ...args],
    {
      env: { ...process.env, JUNCTION_LOG_LEVEL: 'info', ...env },
    },
  );
  children.push(p.child);
  return p;
}
