import { describe, expect, it } from 'vitest';
import { cpuSeconds } from '../src/cpu.js';
import { groupOf, summarise } from '../src/profile-summary.js';

describe('bench profiles and CPU shares', () => {
  it('groups frames by repository file, npm package and Node module', () => {
    expect(groupOf('file:///work/x/protocols/stomp/dist/parser.js', 'push')).toBe('protocols/stomp/parser');
    expect(groupOf('file:///other/checkout/core/dist/queues/queue.js', 'f')).toBe('core/queues/queue');
    expect(groupOf('file:///w/node_modules/stompit/lib/Client.js', 'f')).toBe('npm stompit');
    expect(groupOf('file:///w/node_modules/@scope/pkg/index.js', 'f')).toBe('npm @scope/pkg');
    expect(groupOf('node:internal/streams/writable', 'f')).toBe('node streams');
    expect(groupOf('node:net', 'f')).toBe('node net');
    expect(groupOf('', '(garbage collector)')).toBe('(garbage collector)');
    expect(groupOf('', 'writev')).toBe('(native)');
  });

  it('splits self time into groups as a share of the wall time, idle apart', () => {
    const frame = (id: number, functionName: string, url: string) => ({
      id,
      callFrame: { functionName, url, lineNumber: 0 },
    });
    const out = summarise(
      {
        nodes: [frame(1, '(idle)', ''), frame(2, 'push', 'file:///r/protocols/stomp/dist/parser.js')],
        samples: [1, 2, 2, 1],
        timeDeltas: [500_000, 250_000, 250_000, 0],
      },
      5,
    );
    expect(out).toContain('busy 50.0%, idle 50.0%');
    expect(out).toContain('50.0%  protocols/stomp/parser');
  });

  it('reads a live process CPU time from /proc and nothing for a missing one', () => {
    expect(cpuSeconds(process.pid)).toBeGreaterThan(0);
    expect(cpuSeconds(2 ** 30)).toBeUndefined();
  });
});
