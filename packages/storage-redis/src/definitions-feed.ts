/**
 * Follows the definitions change feed (stored-definitions.ts) of a Redis store that other
 * nodes write too. Notices are handled one at a time, in order: the next version is applied
 * from the notice; a gap (a version missed: the subscriber was cut off, a notice too big to
 * carry its changes) or a reconnect of the subscriber reloads the definitions in full. A
 * poll of the version (every `pollEveryMs`, on the command connection) catches a subscriber
 * that went silent without noticing: a cut path drops notices and keeps the socket open.
 */
import type { Redis } from 'ioredis';
import type { DefinitionChange, Definitions } from '@junction/core';
import {
  definitionsFeedChannel,
  definitionsVersionKey,
  parseFeedNotice,
  readStoredDefinitions,
} from './stored-definitions.js';

/** How long a poll that found the version ahead waits for its notice before it reloads. */
const NOTICE_GRACE_MS = 500;

export interface DefinitionsFeedOptions {
  /** Commands: the version, the definitions on a reload. */
  redis: Redis;
  /** A connection of its own for SUBSCRIBE (it can carry nothing else while subscribed). */
  subscriber: Redis;
  /** Default 'junction:'. */
  keyPrefix?: string;
  /** This node's store's `feedOrigin`: its own notices are counted, not applied (it has them). */
  origin: string;
  /** Changes another node made, in order. */
  apply(changes: DefinitionChange[]): Promise<void>;
  /** Every stored definition: make memory match (after a gap, a reconnect, at start). */
  reload(defs: Definitions, reason: string): Promise<void>;
  onError(err: unknown): void;
  /** Default 2000. */
  pollEveryMs?: number;
}

export class RedisDefinitionsFeed {
  /** The version memory matches: every notice up to it is applied or covered by a reload. */
  private applied = 0;
  /** Notices and reloads run one after the other on this chain. */
  private chain: Promise<void> = Promise.resolve();
  private readonly prefix: string;
  private pollTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private reloads = 0;
  private polling = false;

  constructor(private readonly options: DefinitionsFeedOptions) {
    this.prefix = options.keyPrefix ?? 'junction:';
  }

  get version(): number {
    return this.applied;
  }

  /** How many full reloads ran (the first, at start, included). */
  get reloadCount(): number {
    return this.reloads;
  }

  /** Subscribes, then reloads once; resolves when memory matches the stored definitions. */
  async start(): Promise<void> {
    const { subscriber } = this.options;
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (channel.toString() === definitionsFeedChannel(this.prefix))
        this.enqueue(() => this.onNotice(message));
    });
    await subscriber.subscribe(definitionsFeedChannel(this.prefix));
    // ioredis subscribes again by itself after a reconnect; what was published meanwhile is lost.
    subscriber.on('ready', () => this.enqueue(() => this.reload('the feed subscriber reconnected')));
    this.enqueue(() => this.reload('start'));
    await this.chain;
    this.pollTimer = setInterval(
      () => void this.poll().catch(this.options.onError),
      this.options.pollEveryMs ?? 2000,
    );
    this.pollTimer.unref();
  }

  /** Resolves when everything received so far is handled (tests, shutdown). */
  settled(): Promise<void> {
    return this.chain;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pollTimer);
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(() => (this.stopped ? undefined : task())).catch(this.options.onError);
  }

  private async onNotice(message: Buffer): Promise<void> {
    const notice = parseFeedNotice(message);
    if (notice.version <= this.applied) return; // a reload already covered it
    if (notice.version !== this.applied + 1)
      return this.reload(`missed versions ${this.applied + 1}-${notice.version - 1}`);
    if (notice.origin !== this.options.origin) {
      if (notice.changes === undefined)
        return this.reload(`version ${notice.version} was too big to carry its changes`);
      await this.options.apply(notice.changes);
    }
    this.applied = notice.version;
  }

  /** Off the chain: the notices that carry the versions it reads must be able to arrive meanwhile. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const stored = Number((await this.options.redis.get(definitionsVersionKey(this.prefix))) ?? 0);
      if (stored <= this.applied) return;
      // A notice sent with that version may still be on its way.
      await new Promise((r) => setTimeout(r, NOTICE_GRACE_MS));
      this.enqueue(async () => {
        if (this.applied < stored)
          await this.reload(`version ${stored} was never notified (at ${this.applied})`);
      });
    } finally {
      this.polling = false;
    }
  }

  private async reload(reason: string): Promise<void> {
    const { redis } = this.options;
    // The version first: whatever is written after it arrives as a later notice, applied on top.
    const version = Number((await redis.get(definitionsVersionKey(this.prefix))) ?? 0);
    const defs = await readStoredDefinitions(redis, this.prefix);
    await this.options.reload(defs, reason);
    this.applied = Math.max(this.applied, version);
    this.reloads++;
  }
}
