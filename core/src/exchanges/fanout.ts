import type { BindingIndex, Destination, ExchangeType } from './exchange-type.js';

/** Every bound destination, routing key ignored. */
export const fanoutExchange: ExchangeType = {
  name: 'fanout',
  validateBinding() {},
  createIndex(): BindingIndex {
    const dests = new Map<string, Destination>();
    return {
      add: (b) => void dests.set(b.id, b.destination),
      remove: (b) => void dests.delete(b.id),
      match(_msg, out) {
        for (const d of dests.values()) out.add(d);
      },
    };
  },
};
