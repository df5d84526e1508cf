/**
 * Exchange types are registered modules (CONVENTIONS #1): each names itself, validates a
 * binding and builds a binding index that answers "which destinations match". The routing
 * walk (exchange-to-exchange, alternate-exchange, CC/BCC) lives once, in route.ts.
 */
import type { FieldTable, MessageProperties } from '../message.js';

/**
 * A queue, an exchange or a direct subscription (direct-subscription.ts); each carries a kind
 * tag so the walk can tell them apart.
 */
export interface Destination {
  readonly kind: 'queue' | 'exchange' | 'direct';
  readonly name: string;
}

/** A binding record's destination. */
export type BoundDestination = Destination & { readonly kind: 'queue' | 'exchange' };

/** What an exchange's index holds: a binding record's fields, or a direct subscription's. */
export interface IndexEntry {
  readonly destination: Destination;
  readonly routingKey: string;
  readonly args: FieldTable;
  /** Identity within the index. */
  readonly id: string;
}

/** A binding record (listed, stored): its destination is a queue or an exchange. */
export interface Binding extends IndexEntry {
  readonly source: string;
  readonly destination: BoundDestination;
  readonly routingKey: string;
  readonly args: FieldTable;
  /** Identity of the binding within its source: destination + key + arguments. */
  readonly id: string;
}

/** What matching may look at. */
export interface Routable {
  readonly routingKey: string;
  readonly properties: MessageProperties;
}

export interface BindingIndex {
  add(entry: IndexEntry): void;
  remove(entry: IndexEntry): void;
  /** Adds every matching destination to `out`. */
  match(msg: Routable, out: Set<Destination>): void;
}

export interface ExchangeType {
  readonly name: string;
  /** Throws PRECONDITION_FAILED for a binding this type cannot take. */
  validateBinding(routingKey: string, args: FieldTable): void;
  createIndex(): BindingIndex;
}
