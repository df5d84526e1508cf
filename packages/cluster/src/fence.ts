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
