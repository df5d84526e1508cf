/** The alarms' settings: sizes and fractions, and the memory the process may use (cgroups included). */
import { totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseAmount, resolveAmount } from '../src/amount.js';
import { loadConfig } from '../src/config.js';
import { availableMemory, cgroupLimit } from '../src/memory-limit.js';
import { startBroker } from '../src/start-broker.js';

describe('sizes and fractions', () => {
  it('reads sizes with units, plain byte counts and fractions', () => {
    expect(parseAmount('50MB')).toBe(50_000_000);
    expect(parseAmount('1GiB')).toBe(2 ** 30);
    expect(parseAmount('524288')).toBe(524288);
    expect(parseAmount('0.4')).toBe(0.4);
    expect(parseAmount('0')).toBe(0);
    expect(() => parseAmount('lots')).toThrow(/expected a size/);
    expect(() => parseAmount('-1')).toThrow(/expected a size/);
    expect(resolveAmount(0.1, 1000)).toBe(100);
    expect(resolveAmount(5000, 1000)).toBe(5000);
  });

  it('defaults as RabbitMQ: memory watermark 40%, disk free limit 50 MB; flags and env set them', () => {
    expect(loadConfig()).toMatchObject({ memoryHighWatermark: 0.4, diskFreeLimit: 50_000_000 });
    const c = loadConfig({
      env: { JUNCTION_DISK_FREE_LIMIT: '0.1' },
      flags: { 'memory-high-watermark': '512MiB' },
    });
    expect(c).toMatchObject({ memoryHighWatermark: 512 * 2 ** 20, diskFreeLimit: 0.1 });
    expect(() => loadConfig({ flags: { 'disk-free-limit': 'x' } })).toThrow(/--disk-free-limit/);
  });
});

describe('the memory available to the process', () => {
  const files = (f: Record<string, string>) => (p: string) => f[p];
  it('is the cgroup v2 limit when lower than the machine', () => {
    const read = files({
      '/proc/self/cgroup': '0::/kubepods/pod1\n',
      '/sys/fs/cgroup/kubepods/pod1/memory.max': '268435456\n',
    });
    expect(cgroupLimit(read)).toBe(268435456);
    expect(availableMemory(read, 8 * 2 ** 30)).toBe(268435456);
    // Inside a container the cgroup's own directory is mounted at the root.
    const inContainer = files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': '1073741824\n' });
    expect(availableMemory(inContainer, 8 * 2 ** 30)).toBe(2 ** 30);
  });

  it('is the cgroup v1 limit, and the machine when there is none', () => {
    const v1 = files({
      '/proc/self/cgroup': '5:devices:/\n4:memory:/docker/abc\n',
      '/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes': '536870912\n',
    });
    expect(availableMemory(v1, 8 * 2 ** 30)).toBe(512 * 2 ** 20);
    const unlimited = files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': 'max\n' });
    expect(availableMemory(unlimited, 8 * 2 ** 30)).toBe(8 * 2 ** 30);
    const v1Unlimited = files({
      '/proc/self/cgroup': '4:memory:/\n',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
    });
    expect(availableMemory(v1Unlimited, 1000)).toBe(1000);
  });

  it('puts the watermark on by default at 40% of it, shown by /api/nodes and /metrics', async () => {
    const b = await startBroker({ ports: { http: 0 } });
    try {
      const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
      const [node] = (await (await fetch(`${b.httpUrl}/api/nodes`, { headers: auth })).json()) as {
        mem_limit: number;
        mem_alarm: boolean;
      }[];
      const expected = Math.floor(0.4 * availableMemory());
      expect(node).toMatchObject({ mem_limit: expected, mem_alarm: false });
      expect(expected).toBeLessThanOrEqual(0.4 * totalmem());
      const metrics = await (await fetch(`${b.httpUrl}/metrics`)).text();
      expect(metrics).toContain(`junction_memory_high_watermark_bytes ${expected}`);
      expect(metrics).toMatch(/^junction_alarm\{resource="memory"\} 0$/m);
    } finally {
      await b.close();
    }
  });
});
