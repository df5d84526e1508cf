/**
 * A Map that keeps its first entry in fields and makes a Map only for a second one. Most of
 * the tables an MQTT device brings (its subscriptions, its session's consumers, the bindings
 * at its topic's trie leaf) hold one entry, and a V8 Map allocates a hash table of ~200 bytes
 * even for that (DESIGN-NOTES, "What an MQTT device costs"). Keys compare with ===.
 */
export class SmallMap<K, V> {
  private key: K | undefined;
  private value: V | undefined;
  private one = false;
  /** From the second entry on: every entry, in insertion order. */
  private map: Map<K, V> | undefined;

  get size(): number {
    return this.map ? this.map.size : this.one ? 1 : 0;
  }

  get(key: K): V | undefined {
    if (this.map) return this.map.get(key);
    return this.one && this.key === key ? this.value : undefined;
  }

  has(key: K): boolean {
    return this.map ? this.map.has(key) : this.one && this.key === key;
  }

  set(key: K, value: V): this {
    if (this.map) this.map.set(key, value);
    else if (!this.one || this.key === key) {
      this.key = key;
      this.value = value;
      this.one = true;
    } else {
      this.map = new Map([
        [this.key as K, this.value as V],
        [key, value],
      ]);
      this.forget();
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.map) return this.map.delete(key);
    if (!this.one || this.key !== key) return false;
    this.forget();
    return true;
  }

  clear(): void {
    this.map = undefined;
    this.forget();
  }

  values(): IterableIterator<V> {
    if (this.map) return this.map.values();
    return (this.one ? [this.value as V] : []).values();
  }

  /** Adds every value to `sink`: unlike values(), no array or iterator for a single entry. */
  addValuesTo(sink: { add(value: V): unknown }): void {
    if (this.map) for (const v of this.map.values()) sink.add(v);
    else if (this.one) sink.add(this.value as V);
  }

  private forget(): void {
    this.key = undefined;
    this.value = undefined;
    this.one = false;
  }
}
