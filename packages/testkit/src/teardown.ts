/**
 * Teardown of a test's clients and stores: closes one after another, each given at most
 * `timeoutMs`. A close that fails or hangs is expected here (the broker under test may be
 * killed, or the connection already refused), so the outcome is dropped, but counted for a
 * test that wants to look.
 */
export async function closeAll(
  closers: Iterable<() => unknown>,
  timeoutMs = 5000,
): Promise<{ failed: number }> {
  let failed = 0;
  for (const close of closers) {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      Promise.resolve()
        .then(close)
        .then(
          () => true,
          () => false,
        ),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!outcome) failed++;
  }
  return { failed };
}
