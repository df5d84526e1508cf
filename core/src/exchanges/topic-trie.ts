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
 *
 * A match runs on every publish (a tenth of the broker's busy time under MQTT QoS 0/1 when it
 * split the key and made two lists and a closure each time), so it allocates nothing but each
 * key word's string: it walks the key by index, keeps the two step lists in the trie between
 * calls (with their own lengths, so they keep their backing stores) and adds to the caller's
 * Set directly.
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

/** Where match() puts the values it finds (the topic exchange's destination Set). */
export interface MatchSink<T> {
  add(value: T): unknown;
}

/**
 * Writes a node into a match step's list from index `length` on and, since `#` may match zero
 * words, every `#` child below it, each once per step (the node's mark). Returns the list's
 * new length (new length - `length` is the nodes added: the work done).
 */
function enter<T>(list: Node<T>[], length: number, node: Node<T>, mark: number): number {
  let n: Node<T> | undefined = node;
  while (n && n.mark !== mark) {
    n.mark = mark;
    list[length++] = n;
    n = n.children?.get('#');
  }
  return length;
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
   * The two step lists match() reuses. Entries past the length in use are stale: they may keep
   * a few removed nodes alive until a later match overwrites them (at most the largest step so
   * far, itself bounded by the trie's nodes).
   */
  private listA: Node<T>[] = [];
  private listB: Node<T>[] = [];
  /** match() is adding to its sink: a sink matching on this trie again gets lists of its own. */
  private emitting = false;

  /**
   * Adds to `out` each value whose pattern matches `key`, once. Returns the number of node
   * visits it made (the work done), which is at most (nodes x (words + 1)).
   */
  match(key: string, out: MatchSink<T>): number {
    let active = this.emitting ? [] : this.listA;
    let next = this.emitting ? [] : this.listB;
    let count = enter(active, 0, this.root, this.nextStep());
    let steps = count;
    let start = 0;
    for (;;) {
      let end = key.indexOf('.', start);
      if (end === -1) end = key.length;
      const word = key.slice(start, end);
      const mark = this.nextStep();
      let nextCount = 0;
      for (let i = 0; i < count; i++) {
        const node = active[i]!;
        if (node.hash) nextCount = enter(next, nextCount, node, mark);
        // A literal '#' or '*' word in a key takes that edge like any word (as RabbitMQ).
        const children = node.children;
        if (children === undefined) continue;
        const exact = children.get(word);
        if (exact) nextCount = enter(next, nextCount, exact, mark);
        const star = children.get('*');
        if (star) nextCount = enter(next, nextCount, star, mark);
      }
      steps += nextCount;
      const done = active;
      active = next;
      next = done;
      count = nextCount;
      if (count === 0 || end === key.length) break;
      start = end + 1;
    }
    if (count === 0) return steps;
    // Each node is in the list once, and an id is bound at one node (its pattern's).
    const outer = this.emitting;
    this.emitting = true;
    try {
      for (let i = 0; i < count; i++) active[i]!.values?.addValuesTo(out);
    } finally {
      this.emitting = outer;
    }
    return steps;
  }

  /** A mark no node holds yet (new nodes hold 0; 2^53 steps are decades of publishes). */
  private nextStep(): number {
    return ++this.step;
  }
}
