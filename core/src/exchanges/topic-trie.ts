/**
 * Topic matching as a trie over dot-separated words, with `*` (exactly one word) and `#`
 * (zero or more words) as RabbitMQ defines them. Matching walks the trie once per publish:
 * the cost grows with the key's length and the wildcard branches taken, not with the
 * number of bindings.
 */
interface Node<T> {
  children: Map<string, Node<T>>;
  /** Values bound with a pattern ending at this node. */
  values: Map<string, T>;
}

const newNode = <T>(): Node<T> => ({ children: new Map(), values: new Map() });

export class TopicTrie<T> {
  private readonly root: Node<T> = newNode();

  add(pattern: string, id: string, value: T): void {
    let node = this.root;
    for (const word of pattern.split('.')) {
      let next = node.children.get(word);
      if (!next) node.children.set(word, (next = newNode()));
      node = next;
    }
    node.values.set(id, value);
  }

  remove(pattern: string, id: string): void {
    const path: Node<T>[] = [this.root];
    const words = pattern.split('.');
    for (const word of words) {
      const next = path[path.length - 1]!.children.get(word);
      if (!next) return;
      path.push(next);
    }
    path[path.length - 1]!.values.delete(id);
    // Prune branches left empty so the trie does not keep dead paths.
    for (let i = words.length; i > 0; i--) {
      const node = path[i]!;
      if (node.values.size > 0 || node.children.size > 0) break;
      path[i - 1]!.children.delete(words[i - 1]!);
    }
  }

  match(key: string, out: (value: T) => void): void {
    const words = key.split('.');
    // A value may be reached by several paths ("#.#", "a.#" and "#.b"): report each once.
    const seen = new Set<string>();
    const emit = (node: Node<T>): void => {
      for (const [id, v] of node.values) {
        if (!seen.has(id)) {
          seen.add(id);
          out(v);
        }
      }
    };
    const walk = (node: Node<T>, i: number): void => {
      const hash = node.children.get('#');
      if (hash) {
        // '#' matches zero words, or swallows the next one and stays.
        walk(hash, i);
        for (let j = i + 1; j <= words.length; j++) walk(hash, j);
      }
      if (i === words.length) {
        emit(node);
        return;
      }
      const exact = node.children.get(words[i]!);
      if (exact) walk(exact, i + 1);
      const star = node.children.get('*');
      if (star) walk(star, i + 1);
    };
    walk(this.root, 0);
  }
}
