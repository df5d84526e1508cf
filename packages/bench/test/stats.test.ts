import { describe, expect, it } from 'vitest';
import { median, percentile, ratioTable } from '../src/stats.js';

describe('bench statistics', () => {
  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 0.5), percentile(xs, 0.99), percentile(xs, 1)]).toEqual([50, 99, 100]);
    expect(median([5, 1, 3])).toBe(3);
  });

  it('reads ratios as "times better" for throughput and for latency', () => {
    const t = ratioTable(
      [
        { scenario: 's', metric: 'msg/s', better: 'higher', values: { a: 300, b: 100 } },
        { scenario: 's', metric: 'p99 ms', better: 'lower', values: { a: 2, b: 10 } },
      ],
      ['a', 'b'],
    );
    expect(t).toContain('| s | msg/s | 300 | 100 | 3.00x |');
    expect(t).toContain('| s | p99 ms | 2.00 | 10.00 | 5.00x |');
  });
});
