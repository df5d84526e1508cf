/**
 * Resolves with the first truthy value `check` returns, polling until a deadline: tests wait
 * for a condition, never sleep and hope. A check that throws fails the wait at once (use it
 * for "this can no longer happen", e.g. the connection closed). The timeout names `what`.
 */
export async function until<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 5000,
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, false | null | undefined | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Like until, for checks that may fail while a fault lasts (a command during a failover):
 * a rejection is retried rather than fatal, and the last one is named if the deadline passes.
 */
export async function untilResolves<T>(
  attempt: () => Promise<T>,
  what: string,
  timeoutMs = 5000,
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  let lastError: unknown;
  const check = async (): Promise<T | undefined> => {
    try {
      return await attempt();
    } catch (err) {
      lastError = err;
      return undefined;
    }
  };
  try {
    return (await until(check, what, timeoutMs)) as Exclude<T, false | null | undefined | 0 | ''>;
  } catch (err) {
    throw new Error(`${(err as Error).message} (last error: ${String(lastError)})`, { cause: err });
  }
}
