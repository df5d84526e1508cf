/**
 * Waiting for a quiet machine before each measured run. Peers keep working after their own
 * round ends (RabbitMQ deleting a queue of persistent messages and compacting its message
 * store, ActiveMQ's JVM collecting garbage): measured meanwhile, the next target would pay
 * for the previous one's leftovers. Every target gets the same wait, so no one is favoured.
 */
import { machineSeconds } from './cpu.js';
import { sleep } from './workers.js';

/**
 * Resolves once the machine's CPU use over a half-second stays under `threshold` (a share of
 * all cores), or after `maxSeconds`; returns how long it waited.
 */
export async function waitForQuiet(threshold = 0.15, maxSeconds = 30): Promise<number> {
  const start = performance.now();
  let prev = machineSeconds();
  while ((performance.now() - start) / 1000 < maxSeconds) {
    await sleep(0.5);
    const now = machineSeconds();
    const total = now.total - prev.total;
    const share = total > 0 ? (now.busy - prev.busy) / total : 0;
    prev = now;
    if (share < threshold) break;
  }
  return (performance.now() - start) / 1000;
}
