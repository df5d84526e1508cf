/**
 * Waiting for a quiet machine before each measured run. Peers keep working after their own
 * round ends (RabbitMQ deleting a queue of persistent messages and compacting its message
 * store, ActiveMQ's JVM collecting garbage): measured meanwhile, the next target would pay
 * for the previous one's leftovers. Every target gets the same wait, so no one is favoured.
 */
import { readFileSync } from 'node:fs';
import { sleep } from './workers.js';

/** Busy and total CPU time so far, over all cores (/proc/stat, in clock ticks). */
function cpuTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const t = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (t[3] ?? 0) + (t[4] ?? 0); // idle + iowait
  const total = t.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * Resolves once the machine's CPU use over a half-second stays under `threshold` (a share of
 * all cores), or after `maxSeconds`; returns how long it waited.
 */
export async function waitForQuiet(threshold = 0.15, maxSeconds = 30): Promise<number> {
  const start = performance.now();
  let prev = cpuTicks();
  while ((performance.now() - start) / 1000 < maxSeconds) {
    await sleep(0.5);
    const now = cpuTicks();
    const total = now.total - prev.total;
    const share = total > 0 ? (now.busy - prev.busy) / total : 0;
    prev = now;
    if (share < threshold) break;
  }
  return (performance.now() - start) / 1000;
}
