/**
 * deploy/compose.cluster.yaml, checked offline (no container engine here): each Junction
 * node's command line goes through the server's own parser (parseStartArgs, what the image's
 * `junction start` runs), the nodes share one secret file and one storage URL whose master
 * name is the one the Sentinels monitor with quorum 2 of 3, the Redis servers run durable
 * (durableRedisArgs' settings) with 2 replicas of the primary, and health checks use /readyz.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { durableRedisArgs, redisConnectionTarget } from '@junction/storage-redis';
import { parseStartArgs } from '../src/cli.js';
import { defaults } from '../src/config.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

interface Service {
  build?: { dockerfile: string };
  image?: string;
  command?: string[];
  entrypoint?: string[];
  secrets?: string[];
  healthcheck?: { test: string[] };
}
const compose = yaml.load(read('deploy/compose.cluster.yaml')) as {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
};
const services = Object.entries(compose.services);
const nodes = services.filter(([name]) => name.startsWith('junction-'));
const redis = services.filter(([name]) => /^redis-\d$/.test(name));
const sentinels = services.filter(([name]) => name.startsWith('sentinel-'));
/** A secret file where the container would have /run/secrets/<name>. */
const secretDir = mkdtempSync(join(tmpdir(), 'junction-cluster-secret-'));
afterAll(() => rmSync(secretDir, { recursive: true, force: true }));

/** A Sentinel's config lines, from the script its entrypoint writes them with. */
function sentinelConf(s: Service): string[] {
  return [...s.entrypoint!.join('\n').matchAll(/'((?:port|sentinel) [^']+)'/g)].map((m) => m[1]!);
}

describe('deploy/compose.cluster.yaml', () => {
  it('3 Junction nodes of the image, whose command lines the server parses into cluster mode', () => {
    expect(nodes).toHaveLength(3);
    writeFileSync(join(secretDir, 'junction-cluster'), 'a-secret-of-more-than-16-chars\n');
    const seen = new Set<string>();
    for (const [name, svc] of nodes) {
      expect(svc.build?.dockerfile, name).toBe('deploy/Dockerfile');
      expect(svc.secrets).toEqual(['junction-cluster']);
      const args = svc.command!.map((a) => a.replace('/run/secrets', secretDir));
      const config = parseStartArgs(args, {})!;
      expect(config.cluster.nodeName).toBe(name);
      expect(config.cluster.linkHost).toBe(name); // the compose service name other nodes resolve
      expect(config.cluster.secret).toBe('a-secret-of-more-than-16-chars');
      seen.add(config.storage);
      expect(svc.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${defaults.http!.port}/readyz`);
    }
    expect(seen.size).toBe(1); // one storage URL for every node
    expect(compose.secrets['junction-cluster']!.file).toBe('./cluster-secret.txt');
  });

  it('the storage URL names the 3 Sentinels and the master name they monitor, quorum 2 of 3', () => {
    const url = parseStartArgs(
      nodes[0]![1].command!.map((a) => a.replace('/run/secrets', secretDir)),
      {},
    )!.storage;
    const target = redisConnectionTarget(url).options;
    expect(sentinels).toHaveLength(3);
    expect(target.sentinels!.map((s) => `${s.host}:${s.port}`).sort()).toEqual(
      sentinels.map(([name]) => `${name}:26379`).sort(),
    );
    for (const [name, svc] of sentinels) {
      const conf = sentinelConf(svc);
      expect(conf, name).toContain('port 26379');
      expect(conf, name).toContain(`sentinel monitor ${target.name} redis-0 6379 2`);
      expect(conf.filter((l) => l.startsWith('sentinel monitor'))).toHaveLength(1);
    }
  });

  it('a durable Redis primary and 2 replicas of it', () => {
    expect(redis.map(([n]) => n).sort()).toEqual(['redis-0', 'redis-1', 'redis-2']);
    // durableRedisArgs minus what is per-process (port, bind, dir, daemonize).
    const durable = durableRedisArgs(0, '')
      .join(' ')
      .replace(/^.*?--appendonly/, '--appendonly');
    for (const [name, svc] of redis) {
      const cmd = svc.command!.join(' ');
      expect(cmd, name).toContain(durable.replace(' --daemonize no', ''));
      expect(cmd, name).toContain('--min-replicas-to-write 1');
      if (name === 'redis-0') expect(cmd).not.toContain('--replicaof');
      else expect(cmd, name).toContain('--replicaof redis-0 6379');
    }
  });
});
