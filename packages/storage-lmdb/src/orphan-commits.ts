/**
 * lmdb-js creates one promise per commit at the start of each write batch and hands it to the
 * plain puts of that batch; a batch made only of transactions hands it to nobody. When such
 * a commit fails (a full disk: ENOSPC), that orphan rejects with nobody to catch it and Node
 * ends the process, though every write's own promise already reported the failure to its
 * caller (the publisher got its nack). While a store is open, an unhandled rejection that is
 * an lmdb commit failure is logged and dropped; any other one is thrown on, so it still ends
 * the process as Node's default would.
 */
type Warn = (err: Error) => void;

const stores = new Set<Warn>();

function onUnhandled(reason: unknown): void {
  if (isCommitFailure(reason)) {
    for (const warn of stores) warn(reason);
    return;
  }
  throw reason;
}

/**
 * Thrown by lmdb-js's writer: "Commit failed" (each write's), and the commit's own error
 * (ENOSPC: "No space left on device: Attempting to write page...") on the promise each of
 * those points to as `commitError`, which nobody awaits either.
 */
export function isCommitFailure(reason: unknown): reason is Error {
  if (!(reason instanceof Error)) return false;
  const firstFrame = /\n\s+at [^\n]*/.exec(reason.stack ?? '')?.[0] ?? '';
  return /[/\\]lmdb[/\\]write\.js:/.test(firstFrame);
}

/** Called at open; the returned function at close. */
export function tolerateOrphanCommitFailures(warn: Warn): () => void {
  if (stores.size === 0) process.on('unhandledRejection', onUnhandled);
  stores.add(warn);
  return () => {
    if (!stores.delete(warn)) return;
    if (stores.size === 0) process.off('unhandledRejection', onUnhandled);
  };
}
