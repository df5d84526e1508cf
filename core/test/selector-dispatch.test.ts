/**
 * Selector consumers on a deep queue: a message a consumer's filter refused is not tested
 * again (a per-consumer cursor), and one dispatch runs a bounded number of filter calls, so a
 * flood of never-matching subscribers cannot hold the event loop.
 */
import { describe, expect, it } from 'vitest';
import type { Message } from '../src/index.js';
import { bodies, brokerWithSession, collector, msg } from './helpers.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('selector dispatch', () => {
  it('tests each ready message once per consumer and bounds the filter calls per turn', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'deep' });
    for (let i = 0; i < 10_000; i++) s.publish(msg('', 'deep', `m${i}`, { headers: { n: i } }));
    // Filter calls per event-loop iteration: a ticker moves to the next slot each iteration.
    let calls = 0;
    let slot = 0;
    const perSlot = new Map<number, number>();
    let ticking = true;
    const ticker = () => {
      slot++;
      if (ticking) setImmediate(ticker);
    };
    setImmediate(ticker);
    const never = (_m: Message) => {
      calls++;
      perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1);
      return false;
    };
    for (let i = 0; i < 100; i++) await s.consume('deep', { filter: never }, collector());
    // Let every resumed scan finish: each consumer tests each message once.
    for (let i = 0; i < 1000 && calls < 100 * 10_000; i++) await tick();
    ticking = false;
    expect(calls).toBeGreaterThanOrEqual(100 * 10_000);
    // Once per (consumer, message), plus each consume's test of the head against every consumer.
    expect(calls).toBeLessThanOrEqual(100 * 10_000 + 100 * 100);
    // Per iteration: one bounded slice of the scan plus the head checks of the consume calls.
    expect(Math.max(...perSlot.values())).toBeLessThanOrEqual(2000 + 100 * 100);
    expect(calls).toBeLessThanOrEqual(100 * 10_000 + 100 * 101);
    const settled = calls;
    // A new publish costs the head check and one test of the new message per consumer.
    s.publish(msg('', 'deep', 'late'));
    expect(calls - settled).toBeLessThanOrEqual(2 * 100 + 100);
  });

  it('still finds a match deep in the queue', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'q' });
    for (let i = 0; i < 5000; i++) s.publish(msg('', 'q', `m${i}`, { headers: { n: i } }));
    const sink = collector();
    await s.consume('q', { filter: (m) => m.properties.headers?.n === 4321 }, sink);
    expect(bodies(await sink.next(1))).toEqual(['m4321']);
    await s.close();
  });

  it('tests a requeued message again for a consumer whose cursor passed it', async () => {
    const { session: s } = await brokerWithSession();
    await s.declareQueue({ name: 'q' });
    for (let i = 0; i < 50; i++) s.publish(msg('', 'q', `m${i}`, { headers: { n: i } }));
    const seven = (m: Message) => m.properties.headers?.n === 7;
    const first = collector();
    const tag = await s.consume('q', { filter: seven }, first);
    const [d] = await first.next(1);
    await s.cancel(tag);
    // The second consumer scans the whole queue while m7 is out, then m7 comes back.
    const second = collector();
    await s.consume('q', { filter: seven }, second);
    for (let i = 0; i < 5; i++) await tick();
    expect(second.got).toEqual([]);
    s.settle(d!.deliveryTag, 'requeue');
    expect(bodies(await second.next(1))).toEqual(['m7']);
    await s.close();
  });
});
