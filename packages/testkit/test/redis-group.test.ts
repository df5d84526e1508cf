/**
 * The Redis replication group fixture: it starts as the research's settings say, and its
 * faults do what failover tests rely on (a killed or paused primary is replaced by a replica
 * the Sentinels agree on; a restarted or resumed one comes back as a replica).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedisGroup, until, type RedisGroup } from '../src/index.js';

const password = 'group secret';
let group: RedisGroup;

const connect = (port: number): Redis =>
  new Redis({ host: '127.0.0.1', port, password, maxRetriesPerRequest: 1, connectTimeout: 1000 });

async function role(port: number): Promise<string> {
  const c = connect(port);
  try {
    return String(((await c.call('ROLE')) as unknown[])[0]);
  } finally {
    c.disconnect();
  }
}

beforeAll(async () => {
  group = await startRedisGroup({ password });
}, 60_000);
afterAll(async () => {
  await group?.cleanup();
});

describe('startRedisGroup', () => {
  it('starts a primary with two online replicas, durable and refusing writes without a replica', async () => {
    const primary = await group.primaryPort();
    expect(primary).toBe(group.serverPorts[0]);
    expect(group.url).toBe(
      `redis-sentinel://:group%20secret@${group.sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/junction`,
    );
    const c = connect(primary);
    try {
      const info = await c.info('replication');
      expect(info.match(/state=online/g)).toHaveLength(2);
      const config = (await c.config('GET', '*')) as string[];
      const get = (k: string): string | undefined => config[config.indexOf(k) + 1];
      expect([get('appendonly'), get('appendfsync')]).toEqual(['yes', 'always']);
      expect([get('min-replicas-to-write'), get('min-replicas-max-lag')]).toEqual(['1', '2']);
    } finally {
      c.disconnect();
    }
    for (const port of group.serverPorts.slice(1)) expect(await role(port)).toBe('slave');
  });

  it('kill -9 of the primary: the Sentinels promote a replica; the killed one restarts as a replica', async () => {
    const old = await group.killPrimary();
    const next = await group.waitForNewPrimary(old);
    expect(next).not.toBe(old);
    expect(group.serverPorts).toContain(next);
    expect(await role(next)).toBe('master');
    await group.restart(old);
    await until(
      async () => (await role(old)) === 'slave',
      'the restarted server to follow the new primary',
      15_000,
    );
  }, 60_000);

  it('SIGSTOP of the primary: a replica is promoted; after SIGCONT the old one is made a replica', async () => {
    const old = await group.pausePrimary();
    const next = await group.waitForNewPrimary(old);
    expect(next).not.toBe(old);
    group.resume(old);
    await until(
      async () => (await role(old)) === 'slave',
      'the resumed server to be reconfigured as a replica',
      20_000,
    );
    expect(await group.primaryPort()).toBe(next);
  }, 60_000);
});
