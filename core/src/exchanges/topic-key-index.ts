/**
 * The reverse of TopicTrie: concrete routing keys in a trie, looked up with a topic pattern
 * (`*` one word, `#` zero or more). Retained messages are found this way for a new wildcard
 * subscription, so the cost is bounded by the trie nodes the pattern can reach (at most
 * nodes x pattern words), not by a scan of every retained message per subscription.
 */
interface KeyNode<V> {
  readonly children: Map<string, KeyNode<V>>;
  readonly parent: KeyNode<V> | undefined;
  readonly word: string;
  /** The value of the key that ends here. */
  value: V | undefined;
  /** The full key (set while value is). */
  key: string | undefined;
}

const newNode = <V>(parent: KeyNode<V> | undefined, word: string): KeyNode<V> => ({
  children: new Map(),
  parent,
  word,
  value: undefined,
  key: undefined,
});

export class TopicKeyIndex<V> {
  private readonly root: KeyNode<V> = newNode(undefined, '');
  private readonly byKey = new Map<string, KeyNode<V>>();

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): V | undefined {
    return this.byKey.get(key)?.value;
  }

  set(key: string, value: V): void {
    const known = this.byKey.get(key);
    if (known) {
      known.value = value;
      return;
    }
    let node = this.root;
    for (const word of key.split('.')) {
      let next: KeyNode<V> | undefined = node.children.get(word);
      if (!next) node.children.set(word, (next = newNode(node, word)));
      node = next;
    }
    this.byKey.set(key, node);
    node.key = key;
    node.value = value;
  }

  delete(key: string): boolean {
    const node = this.byKey.get(key);
    if (!node) return false;
    this.byKey.delete(key);
    node.value = undefined;
    node.key = undefined;
    // Prune the branch left empty.
    let n: KeyNode<V> = node;
    while (n.parent && n.key === undefined && n.children.size === 0) {
      n.parent.children.delete(n.word);
      n = n.parent;
    }
    return true;
  }

  /**
   * Calls `out` for every key the pattern matches, once each. Returns the node visits made
   * (the work done): at most (trie nodes x (pattern words + 1)).
   */
  match(pattern: string, out: (key: string, value: V) => void): number {
    let steps = 0;
    let active: KeyNode<V>[] = [this.root];
    for (const word of pattern.split('.')) {
      const next: KeyNode<V>[] = [];
      const inNext = new Set<KeyNode<V>>();
      const add = (n: KeyNode<V>): void => {
        steps++;
        if (!inNext.has(n)) {
          inNext.add(n);
          next.push(n);
        }
      };
      if (word === '#') {
        // Zero or more words: every node at or below an active one, each visited once.
        const stack = [...active];
        while (stack.length > 0) {
          const n = stack.pop()!;
          if (inNext.has(n)) continue;
          add(n);
          for (const c of n.children.values()) stack.push(c);
        }
      } else {
        for (const n of active) {
          steps++;
          if (word === '*') for (const c of n.children.values()) add(c);
          else {
            const c = n.children.get(word);
            if (c) add(c);
          }
        }
      }
      active = next;
      if (active.length === 0) return steps;
    }
    for (const n of active) if (n.key !== undefined) out(n.key, n.value as V);
    return steps;
  }
}
