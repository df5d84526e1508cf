import { describe, expect, it } from 'vitest';
import { LogSampler } from '../src/log-sampler.js';

describe('LogSampler', () => {
  it('logs the first event at once, counts the rest of the interval, and reports them with the next', () => {
    const s = new LogSampler(1000);
    expect(s.take(0)).toEqual({ skipped: 0 });
    expect(s.take(10)).toBeUndefined();
    expect(s.take(999)).toBeUndefined();
    expect(s.take(1000)).toEqual({ skipped: 2 });
    expect(s.take(5000)).toEqual({ skipped: 0 });
  });
});
