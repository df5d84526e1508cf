import type { UserStore } from './auth/users.js';
import { ChannelSession, type SessionParent } from './channel-session.js';
import { PublisherFlow } from './flow.js';
import type { Queue } from './queues/queue-type.js';
import type { Message } from './message.js';
import type {
  ClientSessionState,
  Connection,
  ConnectionControl,
  ConnectionInfo,
  Principal,
  RetainedEntry,
} from './session.js';
import type { Vhost } from './vhost.js';

/** What the broker checks and counts as a connection opens and closes sessions (user limits). */
export interface SessionGate {
  /** Throws NOT_ALLOWED when the user's `max-channels` is reached; else counts the session. */
  sessionOpening(c: BrokerConnection): void;
  sessionClosed(c: BrokerConnection): void;
  /** Unacked deliveries a session holds at most when it has no session-wide prefetch; 0 = unlimited. */
  readonly maxUnacked: number;
}

const UNGATED: SessionGate = { sessionOpening: () => {}, sessionClosed: () => {}, maxUnacked: 0 };

/**
 * A client connection's footprint in the core: its sessions and its exclusive queues. It is
 * its sessions' parent itself (an object of closures per session cost ~280 bytes per device).
 */
export class BrokerConnection implements Connection, SessionParent {
  /**
   * Open sessions, in opening order. An array: an MQTT or STOMP connection has one session, and
   * a one-element array is ~100 bytes less per device than a Set's table.
   */
  sessions: readonly ChannelSession[] = [];
  /** Created by the first exclusive queue (an MQTT clean session's subscription is one). */
  private exclusive: Set<Queue> | undefined;
  private closed = false;
  private publisherFlow: PublisherFlow | undefined;

  constructor(
    readonly info: ConnectionInfo,
    readonly principal: Principal,
    readonly vhostRef: Vhost,
    readonly users: UserStore,
    readonly control: ConnectionControl,
    private readonly onClosed: (c: BrokerConnection) => void,
    private readonly gate: SessionGate = UNGATED,
  ) {}

  /** Made by the first publish held back (an idle device's connection never is: 48 bytes less). */
  get flow(): PublisherFlow {
    return (this.publisherFlow ??= new PublisherFlow(this.control));
  }

  get id(): string {
    return this.info.id;
  }

  get vhost(): string {
    return this.vhostRef.name;
  }

  get username(): string {
    return this.principal.username;
  }

  get maxUnacked(): number {
    return this.gate.maxUnacked;
  }

  openSession(): ChannelSession {
    this.gate.sessionOpening(this);
    const s = new ChannelSession(this);
    // A literal: a spread onto an empty array reserves 17 slots (~130 bytes per device).
    this.sessions = this.sessions.length === 0 ? [s] : [...this.sessions, s];
    return s;
  }

  sessionClosed(s: ChannelSession): void {
    const i = this.sessions.indexOf(s);
    if (i < 0) return;
    this.sessions = this.sessions.filter((x) => x !== s);
    this.gate.sessionClosed(this);
  }

  queueDeclared(q: Queue): void {
    (this.exclusive ??= new Set()).add(q);
  }

  /**
   * Sets or (null) clears a retained message. Either needs write permission on the exchange
   * it is published to (a clear, on the retained message's exchange), as publishing does:
   * a read-only user must not delete what others retained.
   */
  async retain(routingKey: string, msg: Message | null): Promise<void> {
    const exchange = msg?.exchange ?? this.vhostRef.retained.get(routingKey)?.exchange;
    if (exchange !== undefined)
      this.users.authorize(this.vhost, this.username, 'write', 'exchange', exchange);
    await this.vhostRef.retained.set(routingKey, msg);
  }

  retainedMatching(pattern: string): RetainedEntry[] {
    return this.vhostRef.retained.matching(pattern);
  }

  sessionState(clientId: string): ClientSessionState | undefined {
    return this.vhostRef.clientSessions.get(clientId);
  }

  /** Some stored client session other than `clientId`'s lists `queue` among its queues. */
  sessionQueueListedByOthers(clientId: string, queue: string): boolean {
    return this.vhostRef.clientSessions.listedByOthers(clientId, queue);
  }

  saveSessionState(clientId: string, state: ClientSessionState | null): Promise<void> {
    return this.vhostRef.clientSessions.set(clientId, state);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sessions) await s.close();
    // AMQP 0-9-1 queue.declare exclusive: the queue is deleted when its connection closes.
    for (const q of this.exclusive ?? []) await this.vhostRef.removeQueue(q);
    this.exclusive = undefined;
    this.onClosed(this);
  }
}
