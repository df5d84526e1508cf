/**
 * Where a new queue goes: to the node its declaring client is on, unless that node would
 * then own more than its share of the queues, else to the live node with the fewest (ties
 * to the lowest id, so every node computes the same answer). RabbitMQ's client-local and
 * balanced strategies in one rule.
 */
export interface NodeLoad {
  id: string;
  /** Queues it owns. */
  queues: number;
}

export function placeQueue(declaringNode: string, live: readonly NodeLoad[]): string {
  if (live.length === 0) throw new Error('no live node to place a queue on');
  const total = live.reduce((n, l) => n + l.queues, 0) + 1;
  const share = Math.ceil(total / live.length);
  const local = live.find((l) => l.id === declaringNode);
  if (local && local.queues + 1 <= share) return local.id;
  let best = live[0]!;
  for (const l of live) if (l.queues < best.queues || (l.queues === best.queues && l.id < best.id)) best = l;
  return best.id;
}
