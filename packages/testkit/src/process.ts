/**
 * A broker (or any program that logs JSON lines on stdout, as pino does) as a child process:
 * its log lines collected, its stderr kept for error messages, and a wait for one line that
 * fails at once, with the stderr, when the process exits first. Killing leftovers is the
 * caller's (each suite knows when its processes must be gone).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { until } from './until.js';

export interface LoggedProcess {
  child: ChildProcess;
  /** Its stdout's JSON lines so far; a line that is not JSON is `{ raw }`. */
  lines: Record<string, unknown>[];
  stderr(): string;
  /** Its exit code (null after a signal). */
  exited: Promise<number | null>;
  /** The first line whose `msg` is `msg`, waited for up to `timeoutMs`. */
  line(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Runs `command` (program, then arguments) with exactly `env`. */
export function spawnLogged(
  command: readonly string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string },
): LoggedProcess {
  const [file, ...args] = command;
  const child = spawn(file!, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
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
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      exitCode = code;
      r(code);
    }),
  );
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    line: (msg, timeoutMs = 15_000) =>
      until(
        () => {
          const found = lines.find((l) => l['msg'] === msg);
          if (found) return found;
          if (exitCode !== undefined) throw new Error(`exited with ${exitCode} before '${msg}': ${stderr}`);
          return undefined;
        },
        `the log line '${msg}'`,
        timeoutMs,
      ),
  };
}

/**
 * The pid of `pid`'s only child (a broker under `unshare --pid --fork`, which passes no signal
 * on). Throws unless there is exactly one: a pid of 0 given to `process.kill` would signal this
 * whole process group, test workers included.
 */
export function onlyChildPid(pid: number): number {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  const children = text === '' ? [] : text.split(/\s+/).map(Number);
  if (children.length !== 1 || !Number.isInteger(children[0]) || children[0]! <= 0)
    throw new Error(`expected one child of pid ${pid}, found ${JSON.stringify(text)}`);
  return children[0]!;
}
