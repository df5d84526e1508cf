/**
 * Chooses the consumer for the next message: the highest consumer priority that has
 * credit wins, round-robin among equals; with single-active-consumer only the first
 * registered consumer ever receives.
 */
import type { Message } from '../message.js';
import type { Consumer } from './consumer.js';

export class ConsumerSet {
  /** Sorted by priority, highest first; registration order within a priority. */
  private list: Consumer[] = [];
  private cursor = 0;

  constructor(private readonly singleActive: boolean) {}

  get size(): number {
    return this.list.length;
  }

  get hasFilters(): boolean {
    return this.filtered > 0;
  }

  private filtered = 0;

  add(c: Consumer): void {
    if (this.list.length === 0) {
      // Most queues have one consumer: a one-slot array, where splice would reserve 17.
      this.list = [c];
      if (c.spec.filter) this.filtered++;
      return;
    }
    let i = this.list.length;
    while (i > 0 && this.list[i - 1]!.spec.priority < c.spec.priority) i--;
    this.list.splice(i, 0, c);
    if (c.spec.filter) this.filtered++;
  }

  remove(c: Consumer): boolean {
    const i = this.list.indexOf(c);
    if (i < 0) return false;
    this.list.splice(i, 1);
    if (c.spec.filter) this.filtered--;
    if (this.cursor > i) this.cursor--;
    return true;
  }

  get(tag: string): Consumer | undefined {
    return this.list.find((c) => c.tag === tag);
  }

  /** The single active consumer, if the queue has that mode. */
  get active(): Consumer | undefined {
    return this.singleActive ? this.list[0] : undefined;
  }

  all(): readonly Consumer[] {
    return this.list;
  }

  /** A consumer that can take `msg` now, or undefined. */
  next(msg: Message): Consumer | undefined {
    const list = this.list;
    const n = list.length;
    if (n === 0) return undefined;
    if (this.singleActive) {
      const c = list[0]!;
      return c.canTake() && accepts(c, msg) ? c : undefined;
    }
    // Walk priority groups from the highest; within a group start at the round-robin cursor.
    let start = 0;
    while (start < n) {
      const prio = list[start]!.spec.priority;
      let end = start;
      while (end < n && list[end]!.spec.priority === prio) end++;
      const size = end - start;
      const offset = this.cursor >= start && this.cursor < end ? this.cursor - start : 0;
      for (let k = 0; k < size; k++) {
        const i = start + ((offset + k) % size);
        const c = list[i]!;
        if (c.canTake() && accepts(c, msg)) {
          this.cursor = start + ((i - start + 1) % size);
          return c;
        }
      }
      start = end;
    }
    return undefined;
  }

  /** Some consumer could take a message now (ignoring filters). */
  anyReady(): boolean {
    if (this.singleActive) return this.list[0]?.canTake() ?? false;
    for (const c of this.list) if (c.canTake()) return true;
    return false;
  }
}

function accepts(c: Consumer, msg: Message): boolean {
  return c.spec.filter === undefined || c.spec.filter(msg);
}
