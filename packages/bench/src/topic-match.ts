/**
 * `node packages/bench/dist/topic-match.js [--bindings N] [--matches N]`: the topic exchange's
 * trie match alone (no broker, no protocol), in ns per match and garbage collections per
 * million matches (what the match allocates shows up as GCs). The bindings are shaped like an
 * MQTT fleet's: most devices bound to their own topic, some `+` and `#` filters over them.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { TopicTrie } from '@junction/core';

const { values } = parseArgs({
  options: { bindings: { type: 'string', default: '1000' }, matches: { type: 'string', default: '1000000' } },
});
const bindings = Number(values.bindings);
const matches = Number(values.matches);

const trie = new TopicTrie<number>();
for (let i = 0; i < bindings; i++) {
  // 90% a device's own topic, 5% `site.*.dev<i>.temp`, 5% `site.<n>.#`.
  const pattern =
    i % 20 === 0 ? `site.*.dev${i}.temp` : i % 20 === 1 ? `site.${i % 50}.#` : `site.${i % 50}.dev${i}.temp`;
  trie.add(pattern, String(i), i);
}
const keys = Array.from({ length: 1024 }, (_, i) => `site.${(i * 7) % 50}.dev${(i * 13) % bindings}.temp`);

let gcs = 0;
const gcObserver = new PerformanceObserver((list) => (gcs += list.getEntries().length));
gcObserver.observe({ entryTypes: ['gc'] });

const sink = new Set<number>();
/** Runs n matches through the sink the topic exchange uses (a Set); returns ns per match. */
function run(n: number): number {
  let found = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    sink.clear();
    trie.match(keys[i & 1023]!, sink);
    found += sink.size;
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (found === 0) throw new Error('no key matched: the bench measures nothing');
  return ns;
}

run(Math.min(matches, 200_000)); // warm-up: let the JIT settle
const rounds: number[] = [];
for (let r = 0; r < 5; r++) {
  gcs = 0;
  const ns = run(matches);
  await new Promise((resolve) => setTimeout(resolve, 200)); // the observer reports GCs late
  rounds.push(ns);
  console.log(`round ${r + 1}: ${ns.toFixed(1)} ns/match, ${gcs} GCs per ${matches} matches`);
}
rounds.sort((a, b) => a - b);
console.log(`median ${rounds[2]!.toFixed(1)} ns/match (${bindings} bindings, ${matches} matches per round)`);
gcObserver.disconnect();
