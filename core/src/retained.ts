/**
 * Per-vhost state that outlives a connection but is not a queue: retained messages (the
 * last message published with "retain" per routing key, handed to every new subscription
 * whose pattern matches) and client session state (an MQTT persistent session's
 * subscriptions). Both live in the store when it is durable, so they survive restarts.
 *
 * Keys are routing keys on the topic exchange, and patterns are topic binding keys, so the
 * core matches retained messages with the same semantics as routing, whatever protocol
 * asked.
 */
import type { Logger } from 'pino';
import { TopicKeyIndex } from './exchanges/topic-key-index.js';
import type { Message } from './message.js';
import { checkName } from './names.js';
import type { RetainedEntry, StoredWill } from './session.js';
import type { MqttSessionState, Store } from './storage/store.js';
import { MAX_TIMER_MS } from './timers.js';

interface Context {
  readonly store: Store;
  readonly log: Logger;
  nextMessageId(): number;
}

export class RetainedMessages {
  /** Retained messages by routing key, in a trie of key words so patterns find them without a scan. */
  private readonly byKey = new TopicKeyIndex<Message>();

  constructor(
    private readonly vhost: string,
    private readonly ctx: Context,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** Recovery: a retained message from the store. */
  restore(routingKey: string, message: Message): void {
    this.byKey.set(routingKey, message);
  }

  /** Sets (or, with null, clears) the retained message of a key; resolves once it is durable. */
  async set(routingKey: string, message: Message | null): Promise<void> {
    if (message) checkName('topic', routingKey);
    const before = this.byKey.get(routingKey);
    if (message) this.byKey.set(routingKey, message);
    else if (!this.byKey.delete(routingKey)) return;
    if (!this.ctx.store.capabilities.durable) return;
    const stored = message && {
      id: this.ctx.nextMessageId(),
      exchange: message.exchange,
      routingKey,
      properties: message.properties,
      body: message.body,
    };
    try {
      await this.ctx.store.putRetained(this.vhost, routingKey, stored);
    } catch (err) {
      // Memory keeps what the store holds, unless a later set already replaced it.
      if (this.byKey.get(routingKey) === (message ?? undefined)) {
        if (before) this.byKey.set(routingKey, before);
        else this.byKey.delete(routingKey);
      }
      throw err;
    }
  }

  /** The retained message of a key, if any. */
  get(routingKey: string): Message | undefined {
    return this.byKey.get(routingKey);
  }

  /** Retained messages whose key matches a topic binding pattern (`*` one word, `#` any). */
  matching(pattern: string): RetainedEntry[] {
    const out: RetainedEntry[] = [];
    this.byKey.match(pattern, (routingKey, message) => out.push({ routingKey, message }));
    return out;
  }
}

/**
 * Session state of clients that asked for one to persist (MQTT clean-session=0, or an MQTT 5
 * Session Expiry Interval), by client id. A session with `expiresAt` is removed with its
 * queues at that time, and a stored will is published at its `publishAt` or when its session
 * ends, whichever is first (one unref'd timer per session that waits for either, none for the
 * others), also when the state was restored from the store.
 */
export class ClientSessions {
  private readonly byClient = new Map<string, MqttSessionState>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /**
   * How many stored sessions list each queue: a queue several sessions share (an MQTT shared
   * subscription's group queue) is removed with the last of them, not with the first to expire.
   */
  private readonly listings = new Map<string, number>();

  constructor(
    private readonly vhost: string,
    private readonly ctx: Context,
    /** Removes an expired session's queues (the state itself is removed here afterwards). */
    private readonly removeQueues: (names: readonly string[]) => Promise<void>,
    /** Publishes a stored will (as its user). */
    private readonly publishWill: (clientId: string, will: StoredWill) => Promise<void>,
  ) {}

  restore(clientId: string, state: MqttSessionState): void {
    if (state.expiresAt === undefined && state.expiryMs !== undefined)
      state = { ...state, expiresAt: Date.now() + state.expiryMs };
    if (state.will) state = { ...state, will: restoredWill(state.will) };
    this.replace(clientId, state);
    this.schedule(clientId, state);
  }

  /** Some stored session other than `clientId`'s lists `queue`. */
  listedByOthers(clientId: string, queue: string): boolean {
    const own = this.byClient.get(clientId)?.queues?.includes(queue) === true ? 1 : 0;
    return (this.listings.get(queue) ?? 0) > own;
  }

  /** Some stored session lists `queue`. */
  listed(queue: string): boolean {
    return this.listings.has(queue);
  }

  /** Sets (or with undefined removes) a client's state, keeping `listings` counted. */
  private replace(clientId: string, state: MqttSessionState | undefined): boolean {
    const before = this.byClient.get(clientId);
    for (const q of before?.queues ?? []) {
      const n = (this.listings.get(q) ?? 1) - 1;
      if (n > 0) this.listings.set(q, n);
      else this.listings.delete(q);
    }
    for (const q of state?.queues ?? []) this.listings.set(q, (this.listings.get(q) ?? 0) + 1);
    if (state) this.byClient.set(clientId, state);
    return state ? true : this.byClient.delete(clientId);
  }

  get(clientId: string): MqttSessionState | undefined {
    return this.byClient.get(clientId);
  }

  async set(clientId: string, state: MqttSessionState | null): Promise<void> {
    if (state) checkName('client id', clientId);
    const before = this.byClient.get(clientId);
    if (!this.replace(clientId, state ?? undefined)) return;
    this.schedule(clientId, state);
    // The session ends with its will still waiting: the will goes out now (3.1.3.2.2).
    if (state === null && before?.will) this.sendWill(clientId, before.will);
    if (!this.ctx.store.capabilities.durable) return;
    try {
      await this.ctx.store.putMqttSession(this.vhost, clientId, state);
    } catch (err) {
      // What is kept in memory is what the store holds: a failed save leaves the state as it
      // was (unless a later save already replaced it), and only its caller hears of it.
      if (this.byClient.get(clientId) === (state ?? undefined)) {
        this.replace(clientId, before);
        this.schedule(clientId, before);
      }
      throw err;
    }
  }

  get size(): number {
    return this.byClient.size;
  }

  /** Stops the expiry timers (the broker is closing). */
  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(clientId: string, state: MqttSessionState | null | undefined): void {
    const previous = this.timers.get(clientId);
    if (previous) clearTimeout(previous);
    this.timers.delete(clientId);
    const at = Math.min(state?.will?.publishAt ?? Infinity, state?.expiresAt ?? Infinity);
    if (at === Infinity) return;
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS);
    const timer = setTimeout(() => this.due(clientId), delay);
    timer.unref();
    this.timers.set(clientId, timer);
  }

  /** A session's timer fired: its will is due, or its expiry, or (a far time) neither yet. */
  private due(clientId: string): void {
    this.timers.delete(clientId);
    const state = this.byClient.get(clientId);
    if (!state) return;
    const now = Date.now();
    if (state.will && state.will.publishAt <= now) return this.willDue(clientId, state, state.will);
    if (state.expiresAt !== undefined && state.expiresAt <= now) return this.expire(clientId, state);
    this.schedule(clientId, state);
  }

  /**
   * Publishes the will, then keeps the session (until it expires) without it: a crash between
   * the two publishes it again after the restart, never not at all.
   */
  private willDue(clientId: string, state: MqttSessionState, will: StoredWill): void {
    const { will: _sent, ...rest } = state;
    this.publishWill(clientId, will)
      .then(
        () => {
          this.ctx.log.info({ vhost: this.vhost, clientId }, 'delayed will published');
          if (this.byClient.get(clientId) === state) return this.set(clientId, rest);
        },
        (err: unknown) => {
          this.ctx.log.warn({ err, vhost: this.vhost, clientId }, 'delayed will not published');
          if (this.byClient.get(clientId) === state) return this.set(clientId, rest);
        },
      )
      .catch((err: unknown) =>
        this.ctx.log.error({ err, vhost: this.vhost, clientId }, 'saving a session after its will failed'),
      );
  }

  /** A session ended with its will still waiting (expired, or replaced by a Clean Start). */
  private sendWill(clientId: string, will: StoredWill): void {
    this.publishWill(clientId, will).then(
      () => this.ctx.log.info({ vhost: this.vhost, clientId }, 'will of an ended session published'),
      (err: unknown) => this.ctx.log.warn({ err, vhost: this.vhost, clientId }, 'delayed will not published'),
    );
  }

  private expire(clientId: string, state: MqttSessionState): void {
    const gone = async (): Promise<void> => {
      // A queue another stored session lists too (a shared subscription's) stays for it.
      await this.removeQueues((state.queues ?? []).filter((q) => !this.listedByOthers(clientId, q)));
      // Unless the client came back meanwhile and saved a new state.
      if (this.byClient.get(clientId) === state) await this.set(clientId, null);
    };
    gone().then(
      () => this.ctx.log.info({ vhost: this.vhost, clientId }, 'client session expired'),
      (err: unknown) =>
        this.ctx.log.error({ err, vhost: this.vhost, clientId }, 'removing an expired session failed'),
    );
  }
}

/**
 * A will as the store gave it back: its body and binary header values Buffers again (stores
 * may hand binary data back as a plain Uint8Array).
 */
function restoredWill(will: StoredWill): StoredWill {
  const m = will.message;
  const headers = m.properties.headers;
  let fixed: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(headers ?? {}))
    if (v instanceof Uint8Array && !Buffer.isBuffer(v))
      // defineProperty: a header may be named `__proto__` (MQTT user properties are client-chosen).
      Object.defineProperty((fixed ??= { ...headers }), k, {
        value: asBuffer(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  return {
    ...will,
    message: {
      ...m,
      body: asBuffer(m.body),
      properties: fixed ? { ...m.properties, headers: fixed as typeof headers } : m.properties,
    },
  };
}

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
