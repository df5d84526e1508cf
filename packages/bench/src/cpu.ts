/**
 * Who was busy during a measured window: CPU time of the broker under test, of each live load
 * process and of the whole machine, from /proc (no pidstat on these machines). A client at
 * ~100% of a core with the broker well below is the client's ceiling, not the broker's.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times (getconf CLK_TCK; 100 on every Linux we run). */
const TICKS = 100;

/** User + system CPU seconds of a process so far (all its threads), or undefined if gone. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at index 2: utime is 13, stime 14.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return undefined;
  }
}

/** Busy and total CPU seconds of the machine so far, over all cores (/proc/stat). */
export function machineSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const t = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (t[3] ?? 0) + (t[4] ?? 0); // idle + iowait
  const total = t.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / TICKS, total: total / TICKS };
}

export interface CpuProbe {
  /** Percent of one core each process used since the probe started, and the machine's busy share. */
  end(): string;
}

/** Starts sampling `procs` (label -> pid); end() formats their use over the elapsed time. */
export function cpuProbe(procs: [string, number | undefined][]): CpuProbe {
  const t0 = performance.now();
  const m0 = machineSeconds();
  const start = procs.map(([label, pid]) => [label, pid, cpuSeconds(pid)] as const);
  return {
    end() {
      const wall = (performance.now() - t0) / 1000;
      const m1 = machineSeconds();
      const cores = (m1.total - m0.total) / wall;
      const parts = start.map(([label, pid, s0]) => {
        const s1 = cpuSeconds(pid);
        return `${label} ${s0 === undefined || s1 === undefined ? 'n/a' : `${(((s1 - s0) / wall) * 100).toFixed(0)}%`}`;
      });
      const machine = ((m1.busy - m0.busy) / wall) * 100;
      return `${parts.join(', ')}; machine ${machine.toFixed(0)}% of ${(cores * 100).toFixed(0)}%`;
    },
  };
}
