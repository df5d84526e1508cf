/**
 * The in-memory store: the reference implementation of the Store contract. Nothing
 * survives the process, so it reports durable=false and the core skips message writes;
 * its state still survives close() and open() within one process, which is what the
 * shared store contract tests exercise.
 */
import type {
  DefinitionChange,
  Definitions,
  EnqueueRecord,
  MqttSessionState,
  QueueRef,
  RecoveredState,
  RetainedMessage,
  Store,
  StoreCapabilities,
  StoredMessage,
} from './store.js';
import { emptyDefinitions } from './store.js';
import { definitionIdentity as identity } from './identity.js';
import type { StreamLog, StreamSettings } from './stream-log.js';
import { emptyMemoryStream, MemoryStreamLog, type MemoryStreamState } from './memory-stream-log.js';

const qkey = (q: QueueRef): string => `${q.vhost}\u0000${q.queue}`;

export class MemoryStore implements Store {
  readonly capabilities: StoreCapabilities = { durable: false };
  private definitions: Definitions | null = null;
  private readonly entries = new Map<string, Map<number, EnqueueRecord>>();
  private readonly retainedByVhost = new Map<string, Map<string, StoredMessage>>();
  private readonly sessions = new Map<string, Map<string, MqttSessionState>>();
  private maxId = 0;
  private readonly streams = new Map<string, MemoryStreamState>();
  private readonly openStreams = new Map<string, MemoryStreamLog>();

  async open(): Promise<RecoveredState> {
    return {
      definitions: this.definitions && structuredClone(this.definitions),
      maxMessageId: this.maxId,
      messages: (q) => this.iterate(q),
    };
  }

  private async *iterate(q: QueueRef): AsyncIterable<EnqueueRecord> {
    const m = this.entries.get(qkey(q));
    if (m) yield* [...m.values()].sort((a, b) => a.messageId - b.messageId);
  }

  async close(): Promise<void> {}

  async writeDefinitions(changes: readonly DefinitionChange[]): Promise<void> {
    const d = (this.definitions ??= emptyDefinitions());
    for (const c of changes) {
      const list = d[
        `${c.kind === 'policy' ? 'policie' : c.kind}s` as keyof Definitions
      ] as unknown as Record<string, unknown>[];
      const key =
        c.op === 'put'
          ? identity(c.kind, c.value as unknown as Record<string, unknown>)
          : identity(c.kind, c.key as Record<string, unknown>);
      const i = list.findIndex((x) => identity(c.kind, x) === key);
      if (i >= 0) list.splice(i, 1);
      if (c.op === 'put') list.push(structuredClone(c.value) as unknown as Record<string, unknown>);
      if (c.op === 'delete' && c.kind === 'queue')
        this.entries.delete(qkey({ vhost: c.key.vhost, queue: c.key.name }));
    }
  }

  async enqueue(records: readonly EnqueueRecord[]): Promise<void> {
    for (const r of records) {
      let m = this.entries.get(qkey(r));
      if (!m) this.entries.set(qkey(r), (m = new Map()));
      m.set(r.messageId, r);
      if (r.messageId > this.maxId) this.maxId = r.messageId;
    }
  }

  async remove(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    for (const e of entries) this.entries.get(qkey(e))?.delete(e.messageId);
  }

  async markDelivered(entries: readonly (QueueRef & { messageId: number })[]): Promise<void> {
    for (const e of entries) {
      const m = this.entries.get(qkey(e));
      const r = m?.get(e.messageId);
      if (m && r) m.set(e.messageId, { ...r, deliveryCount: r.deliveryCount + 1 });
    }
  }

  async dropQueue(queue: QueueRef): Promise<void> {
    this.entries.delete(qkey(queue));
  }

  async readEntries(queue: QueueRef, afterMessageId: number, limit: number): Promise<EnqueueRecord[]> {
    const m = this.entries.get(qkey(queue));
    if (!m || limit <= 0) return [];
    const out: EnqueueRecord[] = [];
    for (const r of m.values()) if (r.messageId > afterMessageId) out.push(r);
    return out.sort((a, b) => a.messageId - b.messageId).slice(0, limit);
  }

  async countEntries(queue: QueueRef): Promise<number> {
    return this.entries.get(qkey(queue))?.size ?? 0;
  }

  async putRetained(vhost: string, topic: string, msg: StoredMessage | null): Promise<void> {
    let m = this.retainedByVhost.get(vhost);
    if (!m) this.retainedByVhost.set(vhost, (m = new Map()));
    if (msg) m.set(topic, msg);
    else m.delete(topic);
  }

  async *retained(vhost: string): AsyncIterable<RetainedMessage> {
    for (const [topic, message] of this.retainedByVhost.get(vhost) ?? []) yield { topic, message };
  }

  async putMqttSession(vhost: string, clientId: string, state: MqttSessionState | null): Promise<void> {
    let m = this.sessions.get(vhost);
    if (!m) this.sessions.set(vhost, (m = new Map()));
    if (state) m.set(clientId, structuredClone(state));
    else m.delete(clientId);
  }

  async *mqttSessions(vhost: string): AsyncIterable<{ clientId: string; state: MqttSessionState }> {
    for (const [clientId, state] of this.sessions.get(vhost) ?? []) yield { clientId, state };
  }

  async openStream(ref: QueueRef, settings: StreamSettings): Promise<StreamLog> {
    const key = qkey(ref);
    const open = this.openStreams.get(key);
    if (open) return open;
    let state = this.streams.get(key);
    if (!state) this.streams.set(key, (state = emptyMemoryStream()));
    const log = new MemoryStreamLog(settings, state, () => this.openStreams.delete(key));
    this.openStreams.set(key, log);
    return log;
  }

  async dropStream(ref: QueueRef): Promise<void> {
    await this.openStreams.get(qkey(ref))?.close();
    this.streams.delete(qkey(ref));
  }
}
