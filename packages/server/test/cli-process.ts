/**
 * The `junction` command as an operator runs it, for tests: a separate process started from
 * the TypeScript sources, its JSON log lines collected, killed after each test if still running.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { until } from '@junction/testkit';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const children: ReturnType<typeof spawn>[] = [];

// A failed test must not leave a broker running.
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  // Run the TypeScript sources directly (tsx), resolving workspace packages to their src/.
  const child = spawn(process.execPath, ['--conditions=@junction/source', '--import', 'tsx', main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, JUNCTION_LOG_LEVEL: 'info', ...env },
  });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ raw: l });
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, lines, exited, stderr: () => stderr };
}

/** The first log line with this `msg`, waited for (a start under tsx takes seconds). */
export function logLine(
  cli: { lines: Record<string, unknown>[] },
  msg: string,
): Promise<Record<string, unknown>> {
  return until(() => cli.lines.find((l) => l['msg'] === msg), `the log line '${msg}'`, 15_000);
}
