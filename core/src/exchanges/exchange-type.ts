/**
 * Exchange types are registered modules (CONVENTIONS #1): each names itself, validates a
 * binding and builds a binding index that answers "which destinations match". The routing
 * walk (exchange-to-exchange, alternate-exchange, CC/BCC) lives once, in route.ts.
 */
import type { FieldTable, MessageProperties } from '../message.js';

/** A queue or an exchange; both carry a kind tag so the walk can tell them apart. */
export interface Destination {
  readonly kind: 'queue' | 'exchange';
  readonly name: string;
}

export interface Binding {
  readonly source: string;
  readonly destination: Destination;
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
  add(binding: Binding): void;
  remove(binding: Binding): void;
  /** Adds every matching destination to `out`. */
  match(msg: Routable, out: Set<Destination>): void;
}

export interface ExchangeType {
  readonly name: string;
  /** Throws PRECONDITION_FAILED for a binding this type cannot take. */
  validateBinding(routingKey: string, args: FieldTable): void;
  createIndex(): BindingIndex;
}
