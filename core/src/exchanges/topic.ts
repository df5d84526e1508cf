import type { BindingIndex, Destination, ExchangeType } from './exchange-type.js';
import { TopicTrie } from './topic-trie.js';

export const topicExchange: ExchangeType = {
  name: 'topic',
  validateBinding() {},
  createIndex(): BindingIndex {
    const trie = new TopicTrie<Destination>();
    return {
      add: (b) => trie.add(b.routingKey, b.id, b.destination),
      remove: (b) => trie.remove(b.routingKey, b.id),
      match(msg, out) {
        trie.match(msg.routingKey, out);
      },
    };
  },
};
