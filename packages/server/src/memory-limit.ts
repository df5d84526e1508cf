/**
 * The memory the process may use: the machine's, or its cgroup's limit when that is lower
 * (a container's memory limit; the OOM killer acts on the cgroup, not the machine).
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';

export function availableMemory(
  read: (path: string) => string | undefined = readOrUndefined,
  machine: number = totalmem(),
): number {
  const limit = cgroupLimit(read);
  return limit !== undefined && limit < machine ? limit : machine;
}

/** cgroup v2 `memory.max`, else v1 `memory.limit_in_bytes`, of this process's cgroup; undefined: none. */
export function cgroupLimit(
  read: (path: string) => string | undefined = readOrUndefined,
): number | undefined {
  const lines = (read('/proc/self/cgroup') ?? '').split('\n');
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l))?.replace(/^\d+:[^:]*:/, '');
  const candidates = [
    ...(v2 !== undefined
      ? [`/sys/fs/cgroup${v2 === '/' ? '' : v2}/memory.max`, '/sys/fs/cgroup/memory.max']
      : []),
    ...(v1 !== undefined
      ? [
          `/sys/fs/cgroup/memory${v1 === '/' ? '' : v1}/memory.limit_in_bytes`,
          '/sys/fs/cgroup/memory/memory.limit_in_bytes',
        ]
      : []),
  ];
  for (const path of candidates) {
    const text = read(path)?.trim();
    if (text === undefined) continue;
    if (text === 'max') return undefined;
    const n = Number(text);
    // v1 writes "no limit" as a huge page-rounded number.
    if (Number.isFinite(n) && n > 0) return n >= 2 ** 60 ? undefined : n;
  }
  return undefined;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
