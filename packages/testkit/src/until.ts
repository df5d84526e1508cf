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
