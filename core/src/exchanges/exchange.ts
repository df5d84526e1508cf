import type { FieldTable } from '../message.js';
import type { Binding, BindingIndex, Destination, ExchangeType } from './exchange-type.js';

export interface ExchangeOptions {
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export class Exchange implements Destination {
  readonly kind = 'exchange' as const;
  readonly index: BindingIndex;
  /** Bindings with this exchange as their source, by binding id. */
  readonly bindings = new Map<string, Binding>();
  /** Effective alternate exchange: the `alternate-exchange` argument, else a policy's. */
  alternateExchange: string | undefined;

  constructor(
    readonly vhost: string,
    readonly name: string,
    readonly type: ExchangeType,
    readonly options: ExchangeOptions,
  ) {
    this.index = type.createIndex();
    const ae = options.arguments['alternate-exchange'];
    this.alternateExchange = typeof ae === 'string' ? ae : undefined;
  }

  get durable(): boolean {
    return this.options.durable;
  }

  addBinding(b: Binding): boolean {
    if (this.bindings.has(b.id)) return false;
    this.bindings.set(b.id, b);
    this.index.add(b);
    return true;
  }

  removeBinding(id: string): Binding | undefined {
    const b = this.bindings.get(id);
    if (!b) return undefined;
    this.bindings.delete(id);
    this.index.remove(b);
    return b;
  }
}

/** Stable identity of a binding: same destination, key and arguments = same binding. */
export function bindingId(destination: Destination, routingKey: string, args: FieldTable): string {
  const keys = Object.keys(args);
  const argPart = keys.length === 0 ? '' : stableStringify(args);
  return `${destination.kind[0]}:${destination.name}\u0000${routingKey}\u0000${argPart}`;
}

function stableStringify(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (typeof val === 'bigint') return `${val}n`;
    if (val && typeof val === 'object' && !Array.isArray(val) && !Buffer.isBuffer(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, o[k]]),
      );
    }
    return val;
  });
}
