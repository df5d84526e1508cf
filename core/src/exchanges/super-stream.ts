/**
 * `x-super-stream`: the exchange of a partitioned stream (RabbitMQ's super streams, Kafka's
 * partitioned topics). Each partition is bound with the argument `x-stream-partition-order`
 * (0, 1, ... as RabbitMQ's super stream bindings carry it) and a message goes to the partition
 * its routing key hashes to (partitions.ts: MurmurHash3, as RabbitMQ's stream clients hash),
 * so every message of a key lands in one partition, in order. The partition count is the
 * number of partitions bound; a message whose partition is not bound right now reaches nothing
 * (the alternate exchange, or a return for mandatory), never another partition, which would
 * break per-key order.
 *
 * A destination that wants to know its partition index (a stream queue, for its consumer
 * group's active member) implements PartitionMember; the index tells it on bind and unbind.
 */
import { preconditionFailed } from '../errors.js';
import type { FieldValue } from '../message.js';
import { partitionOf } from '../streams/partitions.js';
import type { BindingIndex, Destination, ExchangeType } from './exchange-type.js';

export const PARTITION_ORDER_ARG = 'x-stream-partition-order';
/** Most partitions of one partitioned stream (each is a stream with its own log). */
export const MAX_PARTITIONS = 1024;

export interface PartitionMember {
  /** Bound as partition `index` of a partitioned stream; undefined: unbound. */
  partitionBound(index: number | undefined): void;
}

function isPartitionMember(d: Destination): d is Destination & PartitionMember {
  return typeof (d as Partial<PartitionMember>).partitionBound === 'function';
}

function order(v: FieldValue): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= MAX_PARTITIONS)
    throw preconditionFailed(
      `a binding of an x-super-stream exchange needs '${PARTITION_ORDER_ARG}', an integer in [0, ${MAX_PARTITIONS - 1}]`,
    );
  return n;
}

export const superStreamExchange: ExchangeType = {
  name: 'x-super-stream',
  validateBinding(_key, args) {
    order(args[PARTITION_ORDER_ARG]);
  },
  createIndex(): BindingIndex {
    /** Partition index -> its bindings (one normally; a second binding of an index also receives). */
    const partitions = new Map<number, Map<string, Destination>>();
    /** The highest bound index + 1: unbinding a middle partition does not re-hash every key onto the others. */
    let count = 0;
    const recount = (): void => {
      count = 0;
      for (const i of partitions.keys()) if (i + 1 > count) count = i + 1;
    };
    return {
      add(b) {
        const i = order(b.args[PARTITION_ORDER_ARG]);
        let dests = partitions.get(i);
        if (!dests) partitions.set(i, (dests = new Map()));
        dests.set(b.id, b.destination);
        if (i + 1 > count) count = i + 1;
        if (isPartitionMember(b.destination)) b.destination.partitionBound(i);
      },
      remove(b) {
        const i = order(b.args[PARTITION_ORDER_ARG]);
        const dests = partitions.get(i);
        if (!dests) return;
        dests.delete(b.id);
        if (dests.size === 0) {
          partitions.delete(i);
          recount();
        }
        if (isPartitionMember(b.destination)) b.destination.partitionBound(undefined);
      },
      match(msg, out) {
        if (count === 0) return;
        const dests = partitions.get(partitionOf(msg.routingKey, count));
        if (dests) for (const d of dests.values()) out.add(d);
      },
    };
  },
};
