import { describe, expect, it } from 'vitest';
import { PriorityBuffer } from '../src/queues/priority-buffer.js';
import type { QueuedMessage } from '../src/queues/queued-message.js';

let seq = 0;
const entry = (priority: number): QueuedMessage => ({
  seq: ++seq,
  messageId: seq,
  msg: { exchange: '', routingKey: '', properties: { priority }, body: Buffer.alloc(0) },
  priority,
  expiresAt: 0,
  deliveryCount: 0,
  size: 0,
  persisted: false,
});

describe('priority buffer', () => {
  it('serves the highest priority first, FIFO within a priority', () => {
    const b = new PriorityBuffer(9);
    const es = [1, 5, 1, 9, 5, 0].map((p) => entry(p));
    for (const e of es) b.push(e);
    const out: number[] = [];
    while (b.length) out.push(b.shift()!.seq);
    expect(out).toEqual([es[3]!, es[1]!, es[4]!, es[0]!, es[2]!, es[5]!].map((e) => e.seq));
  });

  it('puts requeued messages back at their original place', () => {
    const b = new PriorityBuffer(0);
    const es = [0, 0, 0, 0].map((p) => entry(p));
    for (const e of es) b.push(e);
    const first = b.shift()!;
    const second = b.shift()!;
    b.requeue(second);
    b.requeue(first);
    expect([...b].map((e) => e.seq)).toEqual(es.map((e) => e.seq));
    expect(b.shift()!.seq).toBe(first.seq);
  });

  it('drops the oldest of the lowest priority for drop-head', () => {
    const b = new PriorityBuffer(5);
    const hi = entry(5);
    const lo = entry(1);
    b.push(hi);
    b.push(lo);
    expect(b.shiftLowest()).toBe(lo);
    expect(b.length).toBe(1);
  });

  it('clamps priorities above the maximum', () => {
    expect(new PriorityBuffer(5).levelOf(200)).toBe(5);
    expect(new PriorityBuffer(0).levelOf(7)).toBe(0);
  });
});
