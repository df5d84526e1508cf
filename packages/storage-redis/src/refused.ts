/**
 * Writes Redis refused before running them are held and retried, not failed: during a failover
 * the new primary answers NOREPLICAS until a replica attaches (min-replicas-to-write), a demoted
 * one READONLY, a restarting one LOADING, a replica that lost its primary MASTERDOWN, a Cluster
 * shard in a slot move TRYAGAIN or CLUSTERDOWN. Each of those is checked before a command runs
 * (for a script: before its first write, and the condition cannot change while it runs), so
 * nothing of the write happened and sending it again is exactly once. A publisher is then held
 * for a bounded time (`holdMs`) rather than nacked; after it, the write fails with the reason.
 * A write that may have run (no answer after it was sent) is not retried here: its outcome is
 * unknown and is the caller's to report.
 */

const REFUSED = /^(?:NOREPLICAS|READONLY|LOADING|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/;

/** Redis 7 prefixes the error of a command inside a script with this, then the command's reply. */
const IN_SCRIPT = /^ERR Error running script[^:]*: *@user_script:\d+: */;

/** Whether a Redis error reply says the command was refused before it ran. */
export function isRefusedBeforeRun(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return REFUSED.test(err.message) || REFUSED.test(err.message.replace(IN_SCRIPT, ''));
}

/** Default bound on holding a refused write (issue 17: "nacked after a bounded time"). */
export const DEFAULT_HOLD_MS = 10_000;
const FIRST_BACKOFF_MS = 25;
const MAX_BACKOFF_MS = 500;

/** The wait before retry `attempt` (0-based): 25 ms doubling to 500 ms. */
export function backoff(attempt: number): number {
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
}

/** The error a held write fails with once its time is up. */
export class HeldTooLongError extends Error {
  constructor(heldMs: number, cause: Error) {
    super(`Redis refused the write for ${heldMs} ms (${cause.message.split('\n')[0]}); not retried further`, {
      cause,
    });
    this.name = 'HeldTooLongError';
  }
}

/** Runs `run`, again after a back-off while Redis refuses it before running, for at most holdMs. */
export async function retryRefused<T>(run: () => Promise<T>, holdMs: number): Promise<T> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!isRefusedBeforeRun(err)) throw err;
      const waited = Date.now() - started;
      if (waited >= holdMs) throw new HeldTooLongError(waited, err as Error);
      await new Promise((resolve) => setTimeout(resolve, Math.min(backoff(attempt), holdMs - waited)));
    }
  }
}
