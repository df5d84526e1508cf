/**
 * The reverse of TopicTrie: concrete routing keys in a trie, looked up with a topic pattern
 * (`*` one word, `#` zero or more). Retained messages are found this way for a new wildcard
 * subscription, so the cost is bounded by the trie nodes the pattern can reach (at most
 * nodes x pattern words), not by a scan of every retained message per subscription.
 * Like TopicTrie's match, a lookup dedupes a step's nodes by a per-step mark on the node and
 * reuses its lists between calls, so it allocates no set, list or closure per step.
 */
interface KeyNode<V> {
  readonly children: Map<string, KeyNode<V>>;
  readonly parent: KeyNode<V> | undefined;
  readonly word: string;
  /** The value of the key that ends here. */
  value: V | undefined;
  /** The full key (set while value is). */
  key: string | undefined;
  /** The match step that last added the node to its list. */
  mark: number;
}

const newNode = <V>(parent: KeyNode<V> | undefined, word: string): KeyNode<V> => ({
  children: new Map(),
  parent,
  word,
  value: undefined,
  key: undefined,
  mark: 0,
});

export class TopicKeyIndex<V> {
  private readonly root: KeyNode<V> = newNode(undefined, '');
  private readonly byKey = new Map<string, KeyNode<V>>();
  /** One number per step of every match(): a node whose mark equals it is in that step's list. */
  private step = 0;
  /**
   * The lists match() reuses (steps, and the walk below a `#`). Entries past the length in
   * use are stale and may keep a few deleted nodes alive until a later match overwrites them.
   */
  private listA: KeyNode<V>[] = [];
  private listB: KeyNode<V>[] = [];
  private stack: KeyNode<V>[] = [];
  /** match() is calling `out`: an `out` that matches on this index again gets lists of its own. */
  private emitting = false;

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
    const own = this.emitting;
    let active = own ? [] : this.listA;
    let next = own ? [] : this.listB;
    const stack = own ? [] : this.stack;
    let steps = 0;
    active[0] = this.root;
    let count = 1;
    let start = 0;
    for (;;) {
      let end = pattern.indexOf('.', start);
      if (end === -1) end = pattern.length;
      const word = pattern.slice(start, end);
      const mark = ++this.step;
      let nextCount = 0;
      if (word === '#') {
        // Zero or more words: every node at or below an active one, each visited once.
        let depth = 0;
        for (let i = 0; i < count; i++) stack[depth++] = active[i]!;
        while (depth > 0) {
          const n = stack[--depth]!;
          if (n.mark === mark) continue;
          steps++;
          n.mark = mark;
          next[nextCount++] = n;
          for (const c of n.children.values()) stack[depth++] = c;
        }
      } else {
        for (let i = 0; i < count; i++) {
          const n = active[i]!;
          steps++;
          if (word === '*') {
            for (const c of n.children.values()) {
              steps++;
              if (c.mark !== mark) next[nextCount++] = markNode(c, mark);
            }
          } else {
            const c = n.children.get(word);
            if (c) {
              steps++;
              if (c.mark !== mark) next[nextCount++] = markNode(c, mark);
            }
          }
        }
      }
      const done = active;
      active = next;
      next = done;
      count = nextCount;
      if (count === 0) return steps;
      if (end === pattern.length) break;
      start = end + 1;
    }
    this.emitting = true;
    try {
      for (let i = 0; i < count; i++) {
        const n = active[i]!;
        if (n.key !== undefined) out(n.key, n.value as V);
      }
    } finally {
      this.emitting = own;
    }
    return steps;
  }
}

function markNode<V>(n: KeyNode<V>, mark: number): KeyNode<V> {
  n.mark = mark;
  return n;
}
