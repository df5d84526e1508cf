/**
 * Topic matching as a trie over dot-separated words, with `*` (exactly one word) and `#`
 * (zero or more words) as RabbitMQ defines them.
 *
 * Matching runs the trie as an automaton: it keeps the set of trie nodes the key's words so
 * far can have reached, and advances the whole set one word at a time. A node reached twice
 * is kept once, and a `#` node stays in the set by itself (a self-loop: it swallows a word),
 * so a publish costs at most (trie nodes x key words) steps however many `#` a binding has.
 * (Walking every split of the key for every `#` instead is exponential in the `#` count:
 * 16 `#` words never finished, and in one event loop that freezes every client.)
 */
import { SmallMap } from '../small-map.js';

interface Node<T> {
  /**
   * Created by the first child or value: a leaf (one per device topic, for MQTT fleets) holds
   * no empty table, and a table emptied by remove() is dropped.
   */
  children: Map<string, Node<T>> | undefined;
  /** Values bound with a pattern ending at this node (usually one: a device's own topic). */
  values: SmallMap<string, T> | undefined;
  /** The node's last word is `#`: it matches any number of further words itself. */
  readonly hash: boolean;
  /** The match step that last entered the node (match() dedupes by it, allocating no set). */
  mark: number;
}

const newNode = <T>(hash: boolean): Node<T> => ({ children: undefined, values: undefined, hash, mark: 0 });

/**
 * Adds a node to a match step's list and, since `#` may match zero words, every `#` child
 * below it, each once per step (the node's mark). Returns the nodes added (the work done).
 */
function enter<T>(list: Node<T>[], node: Node<T>, mark: number): number {
  let added = 0;
  let n: Node<T> | undefined = node;
  while (n && n.mark !== mark) {
    added++;
    n.mark = mark;
    list.push(n);
    n = n.children?.get('#');
  }
  return added;
}

export class TopicTrie<T> {
  private readonly root: Node<T> = newNode(false);
  /** One number per step of every match(): a node whose mark equals it is in that step's list. */
  private step = 0;

  add(pattern: string, id: string, value: T): void {
    let node = this.root;
    for (const word of pattern.split('.')) {
      let next = node.children?.get(word);
      if (!next) (node.children ??= new Map()).set(word, (next = newNode(word === '#')));
      node = next;
    }
    (node.values ??= new SmallMap()).set(id, value);
  }

  remove(pattern: string, id: string): void {
    const path: Node<T>[] = [this.root];
    const words = pattern.split('.');
    for (const word of words) {
      const next = path[path.length - 1]!.children?.get(word);
      if (!next) return;
      path.push(next);
    }
    const end = path[path.length - 1]!;
    end.values?.delete(id);
    if (end.values?.size === 0) end.values = undefined;
    // Prune branches left empty so the trie does not keep dead paths.
    for (let i = words.length; i > 0; i--) {
      const node = path[i]!;
      if (node.values !== undefined || node.children !== undefined) break;
      const parent = path[i - 1]!;
      parent.children!.delete(words[i - 1]!);
      if (parent.children!.size === 0) parent.children = undefined;
    }
  }

  /**
   * Calls `out` once per value whose pattern matches `key`. Returns the number of node
   * visits it made (the work done), which is at most (nodes x (words + 1)).
   */
  match(key: string, out: (value: T) => void): number {
    const words = key.split('.');
    let active: Node<T>[] = [];
    let steps = enter(active, this.root, this.nextStep());
    for (const word of words) {
      const next: Node<T>[] = [];
      const mark = this.nextStep();
      for (const node of active) {
        if (node.hash) steps += enter(next, node, mark);
        // A literal '#' or '*' word in a key takes that edge like any word (as RabbitMQ).
        const children = node.children;
        if (children === undefined) continue;
        const exact = children.get(word);
        if (exact) steps += enter(next, exact, mark);
        const star = children.get('*');
        if (star) steps += enter(next, star, mark);
      }
      active = next;
      if (active.length === 0) return steps;
    }
    // Each node is in the list once, and an id is bound at one node (its pattern's).
    for (const node of active) {
      if (node.values) for (const v of node.values.values()) out(v);
    }
    return steps;
  }

  /** A mark no node holds yet (new nodes hold 0; 2^53 steps are decades of publishes). */
  private nextStep(): number {
    return ++this.step;
  }
}
