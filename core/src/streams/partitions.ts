/**
 * Partitioned streams (RabbitMQ's super streams, Kafka's partitioned topics): which partition a
 * routing key goes to, and which member of a consumer group reads a partition.
 *
 * Routing is RabbitMQ's stream clients' hash routing (`HashRoutingMurmurStrategy`): MurmurHash3
 * x86 32-bit of the routing key's UTF-8 bytes with seed 104729, unsigned, modulo the partition
 * count. A key always lands in the same partition, so per-key order is per-partition order, and
 * a producer that hashes on its own side (a RabbitMQ stream client) picks the same partition.
 */
export const PARTITION_HASH_SEED = 104729;

export function partitionOf(routingKey: string, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1)
    throw new RangeError(`bad partition count ${partitions}`);
  return murmur3x86_32(Buffer.from(routingKey, 'utf8'), PARTITION_HASH_SEED) % partitions;
}

/** The name of partition `index` of a partitioned stream, as RabbitMQ names super stream partitions. */
export function partitionName(stream: string, index: number): string {
  return `${stream}-${index}`;
}

/**
 * Single active consumer per partition, spread over a group (RabbitMQ's super stream rule in
 * `rabbit_stream_sac_coordinator`): every member consumes every partition, members are listed in
 * the order they joined, and partition i is read by member i mod (group size). With 3 members
 * and 6 partitions each member reads two; when one leaves or joins the same rule assigns again,
 * and only partitions whose member changed move.
 */
export function activeMemberIndex(partitionIndex: number, members: number): number {
  if (members < 1) return -1;
  return partitionIndex % members;
}

/** Every partition's member for a group, as indices into `members` (join order). */
export function assignPartitions<M>(partitions: number, members: readonly M[]): (M | undefined)[] {
  const out: (M | undefined)[] = [];
  for (let p = 0; p < partitions; p++) out.push(members[activeMemberIndex(p, members.length)]);
  return out;
}

/** MurmurHash3, x86 32-bit variant (Austin Appleby's reference algorithm), unsigned result. */
export function murmur3x86_32(data: Uint8Array, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const n = data.length;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  // The 1-3 tail bytes, little-endian, as the reference's fall-through switch reads them.
  const tail = n & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= data[blocks + 2]! << 16;
    if (tail >= 2) k ^= data[blocks + 1]! << 8;
    k ^= data[blocks]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
