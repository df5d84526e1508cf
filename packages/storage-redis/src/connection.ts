/**
 * Where the Redis store connects: a `redis://` / `rediss://` URL (one server, parsed by
 * ioredis) or a `redis-sentinel://` URL naming the Sentinels of a replication group, so the
 * store follows its primary across failovers. The sentinel form:
 *
 *   redis-sentinel://[[username]:password@]host:port[,host:port...]/<master-name>[/<db>]
 *     [?sentinelUsername=...&sentinelPassword=...]
 *
 * The userinfo authenticates to the Redis servers (as in redis://), the query parameters to
 * the Sentinels (when they have a requirepass of their own); every part is percent-decoded.
 * ioredis asks the Sentinels for the primary, and with `failoverDetector` it subscribes to
 * their `+switch-master` and drops its connection to the old primary at once, instead of
 * writing on until that connection fails (a paused old primary may never fail it).
 */
import type { Cluster, Redis, RedisOptions } from 'ioredis';

export interface RedisConnectionTarget {
  /** For ioredis `new Redis(url, options)`; absent for Sentinel and Cluster targets. */
  url?: string;
  options: RedisOptions;
  /** A Redis Cluster's seed nodes (`redis-cluster://`): ioredis `new Cluster(nodes, { redisOptions: options })`. */
  clusterNodes?: { host: string; port: number }[];
  /** The URL with its passwords masked, for logs and error messages. */
  display: string;
}

export class RedisUrlError extends Error {}

const SENTINEL_SCHEME = 'redis-sentinel://';
const CLUSTER_SCHEME = 'redis-cluster://';
const SENTINEL_QUERY = new Set(['sentinelUsername', 'sentinelPassword']);

export function isSentinelUrl(url: string): boolean {
  return url.startsWith(SENTINEL_SCHEME);
}

export function isClusterUrl(url: string): boolean {
  return url.startsWith(CLUSTER_SCHEME);
}

/** The ioredis connection of a storage URL; throws RedisUrlError on a malformed one. */
export function redisConnectionTarget(url: string): RedisConnectionTarget {
  if (isClusterUrl(url)) return clusterTarget(url);
  if (!isSentinelUrl(url)) return { url, options: {}, display: maskRedisUrl(url) };
  return sentinelTarget(url);
}

/** The URL with its passwords masked (also when it is malformed). */
export function maskRedisUrl(url: string): string {
  return isSentinelUrl(url) || isClusterUrl(url) ? maskedSentinelUrl(url) : maskedServerUrl(url);
}

/**
 * `redis-cluster://[[user]:password@]host:port[,host:port...]`: seed nodes of a Redis Cluster;
 * the store then writes every queue's keys with calls of one hash slot each (group-commit.ts).
 */
function clusterTarget(url: string): RedisConnectionTarget {
  const display = maskedSentinelUrl(url);
  const rest = url.slice(CLUSTER_SCHEME.length).replace(/\/$/, '');
  const at = rest.lastIndexOf('@');
  const options: RedisOptions = {};
  if (at >= 0) {
    const [user = '', password] = splitOnce(rest.slice(0, at), ':');
    if (user) options.username = decode(user, 'the username', url);
    if (password !== undefined) options.password = decode(password, 'the password', url);
  }
  const clusterNodes = hostPorts(at < 0 ? rest : rest.slice(at + 1), (why) => {
    throw new RedisUrlError(`invalid Redis Cluster URL ${display}: ${why}`);
  });
  return { options, clusterNodes, display };
}

/** `host:port,host:port` (or `[v6]:port`). */
function hostPorts(hosts: string, fail: (why: string) => never): { host: string; port: number }[] {
  return hosts.split(',').map((hp) => {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(hp);
    const port = Number(m?.[3]);
    if (!m || !(port > 0 && port < 65536)) return fail(`'${hp}' is not host:port`);
    return { host: m[1] ?? m[2]!, port };
  });
}

function maskedServerUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

function decode(part: string, what: string, url: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new RedisUrlError(`${what} in ${maskedSentinelUrl(url)} is not percent-encoded correctly`);
  }
}

function maskedSentinelUrl(url: string): string {
  return url
    .replace(/^(redis-(?:sentinel|cluster):\/\/)([^@/]*:)[^@/]*@/, '$1$2***@')
    .replace(/([?&]sentinelPassword=)[^&]*/, '$1***');
}

function sentinelTarget(url: string): RedisConnectionTarget {
  const display = maskedSentinelUrl(url);
  const fail = (why: string): never => {
    throw new RedisUrlError(`invalid Sentinel URL ${display}: ${why}`);
  };
  const rest = url.slice(SENTINEL_SCHEME.length);
  const [beforeQuery = '', query = ''] = splitOnce(rest, '?');
  const [authority = '', path = ''] = splitOnce(beforeQuery, '/');
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? undefined : authority.slice(0, at);
  const hosts = at < 0 ? authority : authority.slice(at + 1);
  const options: RedisOptions = { failoverDetector: true };

  if (userinfo !== undefined) {
    const [user = '', password] = splitOnce(userinfo, ':');
    if (user) options.username = decode(user, 'the username', url);
    if (password !== undefined) options.password = decode(password, 'the password', url);
  }

  options.sentinels = hostPorts(hosts, fail);

  const [name = '', db, extra] = path.split('/');
  if (!name) fail('no master name (redis-sentinel://host:port,host:port/<master-name>)');
  if (extra !== undefined) fail('the path is /<master-name>[/<db>]');
  options.name = decode(name, 'the master name', url);
  if (db !== undefined && db !== '') {
    if (!/^\d+$/.test(db)) fail(`database '${db}' is not a number`);
    options.db = Number(db);
  }

  for (const [key, value] of new URLSearchParams(query)) {
    if (!SENTINEL_QUERY.has(key))
      fail(`unknown parameter '${key}' (known: ${[...SENTINEL_QUERY].join(', ')})`);
    if (key === 'sentinelUsername') options.sentinelUsername = value;
    else options.sentinelPassword = value;
  }
  return { options, display };
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/**
 * Connects again, with a bounded back-off (100 ms doubling to 2 s), whenever ioredis gives a
 * connection up ('end') while `wanted()` says it is still in use. In Sentinel mode ioredis
 * ends a connection for good when Sentinel's +switch-master (failoverDetector) interrupts a
 * reconnect it is already making after the old primary died: every later command then fails
 * with "Connection is closed." (seen here under load; also redis/ioredis#1683).
 */
export function reconnectWhenEnded(
  redis: Redis,
  wanted: () => boolean,
  onError: (err: unknown) => void,
): void {
  let attempt = 0;
  redis.on('ready', () => (attempt = 0));
  redis.on('end', () => {
    if (!wanted()) return;
    const delay = Math.min(2000, 100 * 2 ** attempt++);
    setTimeout(() => {
      if (wanted() && redis.status === 'end') redis.connect().catch(onError);
    }, delay).unref();
  });
}

/** Redis 7.0 first ran scripts with flags (`#!lua`, fence.ts WRITE_SCRIPT), which the store's writes are. */
export async function checkRedisVersion(redis: Redis | Cluster): Promise<void> {
  const version = /redis_version:(\d+)\.(\d+)/.exec(await redis.info('server'));
  if (version && Number(version[1]) < 7)
    throw new Error(`Redis ${version[1]}.${version[2]} is too old: the Redis store needs Redis 7.0 or later`);
}
