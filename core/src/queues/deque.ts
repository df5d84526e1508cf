/**
 * A growable ring buffer: O(1) push, shift and unshift, no per-item allocation. Empty ones
 * hold no storage until the first item: every queue has two, and an idle MQTT device's
 * queue stays empty (100,000 devices would otherwise hold 29 MB of empty slots).
 */
export class Deque<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(capacity = 0) {
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  unshift(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1 + this.items.length) % this.items.length;
    this.items[this.head] = item;
    this.count++;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    // Give memory back after a large backlog drains.
    if (this.count === 0 && this.items.length > 1024) {
      this.items = new Array<T | undefined>(0);
      this.head = 0;
    }
    return item;
  }

  at(i: number): T | undefined {
    return i < 0 || i >= this.count ? undefined : this.items[(this.head + i) % this.items.length];
  }

  /** Removes the item at position i (O(n)); used for selector-filtered consumers that skip the head. */
  removeAt(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    if (i === 0) return this.shift();
    const item = this.at(i);
    for (let j = i; j < this.count - 1; j++) {
      this.items[(this.head + j) % this.items.length] = this.items[(this.head + j + 1) % this.items.length];
    }
    this.items[(this.head + this.count - 1) % this.items.length] = undefined;
    this.count--;
    return item;
  }

  clear(): T[] {
    const all = [...this];
    this.items = new Array<T | undefined>(0);
    this.head = 0;
    this.count = 0;
    return all;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) % this.items.length] as T;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.items.length * 2 || 16);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}
