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
import type { RetainedEntry } from './session.js';
import type { MqttSessionState, Store } from './storage/store.js';

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

/** Session state of clients that asked for one to persist (MQTT clean-session=0), by client id. */
export class ClientSessions {
  private readonly byClient = new Map<string, MqttSessionState>();

  constructor(
    private readonly vhost: string,
    private readonly ctx: Context,
  ) {}

  restore(clientId: string, state: MqttSessionState): void {
    this.byClient.set(clientId, state);
  }

  get(clientId: string): MqttSessionState | undefined {
    return this.byClient.get(clientId);
  }

  async set(clientId: string, state: MqttSessionState | null): Promise<void> {
    if (state) checkName('client id', clientId);
    const before = this.byClient.get(clientId);
    if (state) this.byClient.set(clientId, state);
    else if (!this.byClient.delete(clientId)) return;
    if (!this.ctx.store.capabilities.durable) return;
    try {
      await this.ctx.store.putMqttSession(this.vhost, clientId, state);
    } catch (err) {
      // What is kept in memory is what the store holds: a failed save leaves the state as it
      // was (unless a later save already replaced it), and only its caller hears of it.
      if (this.byClient.get(clientId) === (state ?? undefined)) {
        if (before) this.byClient.set(clientId, before);
        else this.byClient.delete(clientId);
      }
      throw err;
    }
  }

  get size(): number {
    return this.byClient.size;
  }
}
