import type { BindingIndex, Destination, ExchangeType } from './exchange-type.js';

/** Exact routing-key match: one map lookup per publish, whatever the number of bindings. */
export const directExchange: ExchangeType = {
  name: 'direct',
  validateBinding() {},
  createIndex(): BindingIndex {
    const byKey = new Map<string, Map<string, Destination>>();
    return {
      add(b) {
        let dests = byKey.get(b.routingKey);
        if (!dests) byKey.set(b.routingKey, (dests = new Map()));
        dests.set(b.id, b.destination);
      },
      remove(b) {
        const dests = byKey.get(b.routingKey);
        if (!dests) return;
        dests.delete(b.id);
        if (dests.size === 0) byKey.delete(b.routingKey);
      },
      match(msg, out) {
        const dests = byKey.get(msg.routingKey);
        if (dests) for (const d of dests.values()) out.add(d);
      },
    };
  },
};
