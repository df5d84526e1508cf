/**
 * The fence every queue-mutating script runs first: the caller passes the epoch of its
 * ownership lease, and the script refuses with FENCED when the queue's epoch has moved on,
 * i.e. another node has taken the queue over since. The check runs inside Redis, where the
 * data is, so an owner that was paused or cut off and still believes in its lease cannot
 * write after the takeover, whatever its clock says (a fencing token, Kleppmann 2016).
 */

/**
 * Lua to put at the top of a queue-mutating script. Convention: KEYS[1] is the queue's epoch
 * key (ClusterKeys.epoch), ARGV[1] the caller's epoch; the script's own keys and arguments
 * follow. It returns the FENCED error reply, so nothing after it runs.
 */
export const FENCE_CHECK_LUA = `
local fence_epoch = redis.call('GET', KEYS[1])
if fence_epoch ~= ARGV[1] then
  return redis.error_reply('FENCED epoch ' .. ARGV[1] .. ' is not the queue epoch ' .. tostring(fence_epoch))
end
`;

/** A script body with the fence in front of it (see FENCE_CHECK_LUA for KEYS[1] and ARGV[1]). */
export function fencedScript(body: string): string {
  return FENCE_CHECK_LUA + body;
}

/** Whether a Redis error is the fence's refusal. */
export function isFenced(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('FENCED');
}

/**
 * A write script's first line: with it (Redis 7) Redis checks min-replicas-to-write, a read-only
 * replica and maxmemory before the script runs, for every call; without it, only at the first
 * write command inside, so a call that happens to write nothing (a remove of an entry whose
 * enqueue was refused a moment before) would run while the calls around it are refused, out of
 * order with them (refused.ts holds and retries the refused ones).
 */
export const WRITE_SCRIPT = '#!lua\n';

/**
 * Each script of `bodies` in two forms: `name` runs unfenced (single node: no epoch key, no
 * epoch argument, nothing extra to run), `name + 'Fenced'` runs the fence first. A body finds its
 * own keys at KEYS[K + 1...] and arguments at ARGV[A + 1...]: K and A are 0 unfenced and 1 fenced
 * (the epoch key and the caller's epoch in front). Both are write scripts (WRITE_SCRIPT).
 */
export function withFencedVariants<N extends string>(
  bodies: Record<N, string>,
): Record<N | `${N}Fenced`, string> {
  const out = {} as Record<N | `${N}Fenced`, string>;
  for (const [name, body] of Object.entries(bodies) as [N, string][]) {
    out[name] = `${WRITE_SCRIPT}local K, A = 0, 0\n${body}`;
    out[`${name}Fenced`] = WRITE_SCRIPT + fencedScript(`local K, A = 1, 1\n${body}`);
  }
  return out;
}
