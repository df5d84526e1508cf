/** Storage URLs: redis:// is ioredis's, redis-sentinel:// is parsed here into ioredis Sentinel options. */
import { describe, expect, it } from 'vitest';
import { maskRedisUrl, redisConnectionTarget, RedisUrlError } from '../src/index.js';

describe('redis-sentinel:// URLs', () => {
  it('names the Sentinels, the master, the servers and Sentinels credentials and the database', () => {
    const t = redisConnectionTarget(
      'redis-sentinel://app:p%40ss%3Aw@10.0.0.1:26379,sentinel-2.internal:26380,[::1]:26381/orders%20group/3?sentinelPassword=s%26cret&sentinelUsername=watch',
    );
    expect(t.url).toBeUndefined();
    expect(t.options).toEqual({
      failoverDetector: true,
      username: 'app',
      password: 'p@ss:w',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-2.internal', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'orders group',
      db: 3,
      sentinelUsername: 'watch',
      sentinelPassword: 's&cret',
    });
    expect(t.display).toBe(
      'redis-sentinel://app:***@10.0.0.1:26379,sentinel-2.internal:26380,[::1]:26381/orders%20group/3?sentinelPassword=***&sentinelUsername=watch',
    );
  });

  it('takes a password without a username, as redis:// does', () => {
    const t = redisConnectionTarget('redis-sentinel://:secret@127.0.0.1:26379/mymaster');
    expect(t.options).toEqual({
      failoverDetector: true,
      password: 'secret',
      sentinels: [{ host: '127.0.0.1', port: 26379 }],
      name: 'mymaster',
    });
    expect(t.display).toBe('redis-sentinel://:***@127.0.0.1:26379/mymaster');
  });

  it.each([
    ['redis-sentinel://127.0.0.1:26379', 'no master name'],
    ['redis-sentinel://127.0.0.1:26379/', 'no master name'],
    ['redis-sentinel://127.0.0.1/m', "'127.0.0.1' is not host:port"],
    ['redis-sentinel://127.0.0.1:0/m', "'127.0.0.1:0' is not host:port"],
    ['redis-sentinel://a:1,,b:2/m', "'' is not host:port"],
    ['redis-sentinel://a:1/m/x', "database 'x' is not a number"],
    ['redis-sentinel://a:1/m/0/more', 'the path is /<master-name>[/<db>]'],
    ['redis-sentinel://a:1/m?password=x', "unknown parameter 'password'"],
    ['redis-sentinel://:%zz@a:1/m', 'the password in redis-sentinel://:***@a:1/m is not percent-encoded'],
  ])('refuses %s: %s', (url, why) => {
    expect(() => redisConnectionTarget(url)).toThrow(RedisUrlError);
    expect(() => redisConnectionTarget(url)).toThrow(why);
  });

  it('never shows a password in what it reports', () => {
    expect(() => redisConnectionTarget('redis-sentinel://:hunter2@a:1/m/x')).toThrow(
      'invalid Sentinel URL redis-sentinel://:***@a:1/m/x',
    );
    expect(maskRedisUrl('redis://:hunter2@127.0.0.1:6379/0')).toBe('redis://:***@127.0.0.1:6379/0');
    expect(maskRedisUrl('redis-sentinel://u:hunter2@a:1/m?sentinelPassword=hunter3')).not.toMatch(/hunter/);
  });

  it('leaves redis:// and rediss:// URLs to ioredis', () => {
    expect(redisConnectionTarget('rediss://u:pw@host:6380/2')).toEqual({
      url: 'rediss://u:pw@host:6380/2',
      options: {},
      display: 'rediss://u:***@host:6380/2',
    });
  });
});
