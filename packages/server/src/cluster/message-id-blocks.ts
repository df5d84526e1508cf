/**
 * Message ids for a cluster node: blocks reserved with INCRBY on the store's `maxid` counter,
 * so no two nodes ever hand out one id (bodies are stored by id) and ids only grow. A node
 * that takes a queue over jumps to a fresh block first: every id it gives from then on is
 * above every id reserved before, so above every entry the queue holds, and a queue's entries
 * stay in id order across owners (paging and markDeliveredThrough rely on it).
 */
import type { Redis } from 'ioredis';
import type { MessageIds } from '@junction/core';

/** 2^20: a node publishing 100,000 msg/s reserves one every ~10 s; 2^53 lasts for ever. */
export const ID_BLOCK = 1 << 20;

export class MessageIdBlocks implements MessageIds {
  private nextId = 0;
  private end = -1;
  private spare: [number, number] | undefined;
  private fetching: Promise<void> | undefined;

  private constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  static async start(redis: Redis, key: string, onError: (err: unknown) => void): Promise<MessageIdBlocks> {
    const ids = new MessageIdBlocks(redis, key, onError);
    await ids.jump();
    return ids;
  }

  next(): number {
    if (this.nextId > this.end) {
      if (!this.spare)
        // Half a block of warning went by without Redis answering the reservation.
        throw new Error('no message id block reserved (Redis unreachable?)');
      [this.nextId, this.end] = this.spare;
      this.spare = undefined;
    }
    if (this.end - this.nextId < ID_BLOCK / 2 && !this.spare) this.prefetch();
    return this.nextId++;
  }

  last(): number {
    return this.nextId - 1;
  }

  /** From now on, ids above every one reserved so far (by any node). */
  async jump(): Promise<void> {
    const block = await this.reserve();
    [this.nextId, this.end] = block;
    this.spare = undefined;
  }

  private prefetch(): void {
    this.fetching ??= this.reserve()
      .then((block) => {
        // A jump() meanwhile took a later block: this one is below it and must not follow it.
        if (block[0] > this.end) this.spare = block;
      }, this.onError)
      .finally(() => (this.fetching = undefined));
  }

  private async reserve(): Promise<[number, number]> {
    const top = await this.redis.incrby(this.key, ID_BLOCK);
    return [top - ID_BLOCK + 1, top];
  }
}
