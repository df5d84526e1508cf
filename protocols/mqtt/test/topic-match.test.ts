import { describe, expect, it } from 'vitest';
import { TopicTrie } from '@junction/core';
import { seededRandom } from '@junction/testkit';
import { filterToPattern, topicToKey } from '../src/topics.js';

/** MQTT-4.7 read literally: `+` is one level (empty too), a last `#` the parent and any levels below. */
function mqttMatches(filter: string[], topic: string[]): boolean {
  if (filter.length === 0) return topic.length === 0;
  const [f, ...rest] = filter;
  if (f === '#') return true;
  if (topic.length === 0) return false;
  return (f === '+' || f === topic[0]) && mqttMatches(rest, topic.slice(1));
}

describe('MQTT filters through the topic trie, seeded', () => {
  it('match the topics MQTT says they match, with empty levels, `.` and `*` inside levels', () => {
    const seed = 0x3a77;
    const random = seededRandom(seed);
    const pick = <W>(from: readonly W[]): W => from[Math.floor(random() * from.length)]!;
    // `.` inside a level and a literal `*` level are what the topic <-> key mapping rewrites.
    const levels = ['a', 'b', '', '*', 'v1.2', 'a.b'];
    const filterLevels = [...levels, '+', '+'];
    const path = (from: readonly string[], max: number) =>
      Array.from({ length: 1 + Math.floor(random() * max) }, () => pick(from));
    for (let run = 0; run < 200; run++) {
      const trie = new TopicTrie<number>();
      const filters = Array.from({ length: 1 + Math.floor(random() * 30) }, () => {
        const f = path(filterLevels, 5);
        if (random() < 0.4) f.push('#'); // `#` only as the last level (MQTT-4.7.1-2)
        return f;
      });
      filters.forEach((f, i) => trie.add(filterToPattern(f.join('/')), String(i), i));
      for (let k = 0; k < 20; k++) {
        const topic = path(levels, 6);
        const got: number[] = [];
        trie.match(topicToKey(topic.join('/')), { add: (v) => got.push(v) });
        const want = filters.flatMap((f, i) => (mqttMatches(f, topic) ? [i] : []));
        expect(
          got.sort((x, y) => x - y),
          `seed ${seed}, run ${run}: topic ${JSON.stringify(topic.join('/'))}`,
        ).toEqual(want);
      }
    }
  });
});
