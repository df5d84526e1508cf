/**
 * Single active consumer on a stream (RabbitMQ streams' `single-active-consumer` with a
 * consumer name): consumers that share a name form a group, listed in the order they joined,
 * and one of them reads at a time. On a partition of a partitioned stream the active one is
 * member (partition index mod group size), so a group whose members all consume every
 * partition spreads the partitions over its members (partitions.ts); on a plain stream it is
 * the first. Joins and leaves re-pick; the caller hands the group's position over.
 */
import { activeMemberIndex } from './partitions.js';

export class ActiveMembers<M> {
  private readonly groups = new Map<string, M[]>();

  join(group: string, member: M): void {
    const list = this.groups.get(group);
    if (list) list.push(member);
    else this.groups.set(group, [member]);
  }

  leave(group: string, member: M): void {
    const list = this.groups.get(group);
    if (!list) return;
    const i = list.indexOf(member);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.groups.delete(group);
  }

  /** The member that reads for `group` now; undefined when the group is empty. */
  active(group: string, partitionIndex: number): M | undefined {
    const list = this.groups.get(group);
    if (!list) return undefined;
    return list[activeMemberIndex(partitionIndex, list.length)];
  }

  names(): IterableIterator<string> {
    return this.groups.keys();
  }
}
