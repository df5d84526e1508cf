/**
 * The broker: vhosts, users, the store and the connections of every protocol. It is the
 * BrokerApi adapters are given, and recovers its state from the store at start.
 */
import { isIP } from 'node:net';
import { pino, type Logger } from 'pino';
import { storedUser, UserStore, type User } from './auth/users.js';
import { randomBytes } from 'node:crypto';
import { ScramExchange, ScramRefused, scramCredentials } from './auth/scram.js';
import { BrokerConnection, type SessionGate } from './connection.js';
import { Counts, Limits, USER_LIMITS, limitReached, type UserLimitName } from './limits.js';
import { BrokerError, notFound, preconditionFailed, unknownVhost } from './errors.js';
import { BrokerEvents } from './events.js';
import type { ExchangeType } from './exchanges/exchange-type.js';
import { ExchangeTypeRegistry } from './exchanges/registry.js';
import type { QueueType } from './queues/queue-type.js';
import { QueueTypeRegistry } from './queues/registry.js';
import type {
  BrokerApi,
  ConnectionControl,
  ConnectionInfo,
  Credentials,
  Principal,
  ScramLogin,
  StoredWill,
} from './session.js';
import type { DefinitionChange, Definitions, Store } from './storage/store.js';
import { MemoryStore } from './storage/memory-store.js';
import { timedStore } from './storage/timed-store.js';
import { Vhost } from './vhost.js';
import { checkName } from './names.js';
import { applyStoredChanges, reconcileChanges, type MirrorAccess } from './definitions-mirror.js';
import type { QueueHosting } from './queues/queue-hosting.js';

export interface BrokerOptions {
  store?: Store;
  logger?: Logger;
  /** The user created in a fresh store; null creates none. Default guest/guest. */
  defaultUser?: { username: string; password: string } | null;
  /** Users allowed to connect from loopback addresses only (RabbitMQ's loopback_users). Default ['guest']. */
  loopbackUsers?: readonly string[];
  exchangeTypes?: readonly ExchangeType[];
  /** The queue types x-queue-type may name; default: the built-in ones (queues/registry.ts). */
  queueTypes?: readonly QueueType[];
  /**
   * Deep-queue paging: a durable queue on a durable store keeps at most this many ready
   * messages (and body bytes) in memory; the rest stay in the store until the head drains.
   * false: keep everything in memory. Default 50,000 messages / 64 MiB.
   */
  queuePaging?: { maxMessages?: number; maxBytes?: number } | false;
  /**
   * Unacked consumer deliveries a session (AMQP channel, STOMP connection) holds at most when
   * its client set no session-wide prefetch. Default 0: unlimited, as RabbitMQ.
   */
  maxUnackedPerSession?: number;
  /**
   * Where message ids come from, given the highest id the store holds. Default: a counter from
   * there. A cluster hands out blocks reserved in the shared store, so no two nodes use one id.
   */
  messageIds?: (maxStoredId: number) => MessageIds;
  /** Cluster mode: which node serves each stored queue (queues/queue-hosting.ts). */
  queueHosting?: QueueHosting;
}

/** Broker-wide message ids: only ever growing, never handed out twice. */
export interface MessageIds {
  next(): number;
  /** No id handed out so far, nor any in the store, is above it. */
  last(): number;
}

function counterFrom(max: number): MessageIds {
  let id = max;
  return { next: () => ++id, last: () => id };
}

/**
 * Management's per-request connections: user and vhost limits do not count them, so an
 * operator can still act on a vhost whose tenants use up its limits.
 */
const UNLIMITED_PROTOCOLS: ReadonlySet<string> = new Set(['http', 'internal']);

export const DEFAULT_PAGING = { maxMessages: 50_000, maxBytes: 64 * 1024 * 1024 };

/** RabbitMQ's resource alarms: memory above the high watermark, disk free below the limit. */
export type AlarmKind = 'memory' | 'disk';

export class Broker implements BrokerApi {
  readonly vhosts = new Map<string, Vhost>();
  readonly users = new UserStore();
  readonly events = new BrokerEvents();
  readonly connections = new Map<string, BrokerConnection>();
  readonly exchangeTypes: ExchangeTypeRegistry;
  readonly queueTypes: QueueTypeRegistry;
  readonly log: Logger;
  readonly store: Store;
  readonly startedAt = Date.now();
  readonly paging: { readonly maxMessages: number; readonly maxBytes: number } | null;
  private readonly loopbackUsers: ReadonlySet<string>;
  /** Connections opened to publish stored wills, for their ids. */
  private willConnections = 0;
  /** Keys the made-up SCRAM salts of unknown users (stable for the process's life). */
  private readonly scramUnknownUserKey = randomBytes(32);
  private ids: MessageIds = counterFrom(0);
  readonly queueHosting: QueueHosting | undefined;
  private readonly messageIdSource: BrokerOptions['messageIds'];
  private closing = false;
  /** RabbitMQ's resource alarms that are on, by kind, with their reasons: publishers are blocked while any is. */
  private readonly alarms = new Map<AlarmKind, string>();
  /** RabbitMQ's user limits by user name (max-connections, max-channels). */
  private readonly userLimitSets = new Map<string, Limits<UserLimitName>>();
  private readonly connectionsPerVhost = new Counts();
  private readonly connectionsPerUser = new Counts();
  private readonly channelsPerUser = new Counts();
  private readonly sessionGate: SessionGate;

  private constructor(options: BrokerOptions) {
    this.store = timedStore(options.store ?? new MemoryStore(), this.events);
    this.log = options.logger ?? pino({ level: 'silent' });
    this.exchangeTypes = new ExchangeTypeRegistry(options.exchangeTypes);
    this.queueTypes = new QueueTypeRegistry(options.queueTypes);
    this.loopbackUsers = new Set(options.loopbackUsers ?? ['guest']);
    this.messageIdSource = options.messageIds;
    this.queueHosting = options.queueHosting;
    const paging = options.queuePaging;
    this.paging =
      paging === false
        ? null
        : {
            maxMessages: Math.max(2, paging?.maxMessages ?? DEFAULT_PAGING.maxMessages),
            maxBytes: Math.max(1024, paging?.maxBytes ?? DEFAULT_PAGING.maxBytes),
          };
    this.sessionGate = {
      maxUnacked: options.maxUnackedPerSession ?? 0,
      sessionOpening: (c) => {
        if (UNLIMITED_PROTOCOLS.has(c.info.protocol)) return;
        const max = this.userLimitSets.get(c.username)?.get('max-channels');
        if (max !== undefined && this.channelsPerUser.of(c.username) >= max) {
          throw limitReached(
            `number of channels opened for user '${c.username}' has reached the maximum allowed user limit of (${max})`,
          );
        }
        this.channelsPerUser.add(c.username, 1);
      },
      sessionClosed: (c) => {
        if (!UNLIMITED_PROTOCOLS.has(c.info.protocol)) this.channelsPerUser.add(c.username, -1);
      },
    };
  }

  /** Opens the store, recovers definitions and messages, or creates the defaults. */
  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const broker = new Broker(options);
    broker.store.onFailure?.((err) =>
      broker.log.error({ err }, 'the store failed: it is read-only, writes are refused until a restart'),
    );
    const state = await broker.store.open();
    broker.ids = (broker.messageIdSource ?? counterFrom)(state.maxMessageId);
    if (state.definitions) {
      await broker.recover(state.definitions, state.messages.bind(state));
    } else {
      await broker.addVhost('/');
      const u =
        options.defaultUser === undefined ? { username: 'guest', password: 'guest' } : options.defaultUser;
      if (u) {
        await broker.putUser(u.username, { password: u.password, tags: ['administrator'] });
        await broker.setPermission('/', u.username, { configure: '.*', write: '.*', read: '.*' });
      }
    }
    return broker;
  }

  private async recover(
    defs: Definitions,
    messages: Awaited<ReturnType<Store['open']>>['messages'],
  ): Promise<void> {
    for (const v of defs.vhosts) {
      const vhost = this.newVhost(v.name);
      vhost.limits.restore(v.limits);
      this.vhosts.set(v.name, vhost);
    }
    for (const u of defs.users) {
      this.users.put(storedUser(u));
      if (u.limits) this.userLimitsOf(u.name).restore(u.limits);
    }
    for (const p of defs.permissions) this.users.setPermission(p.vhost, p.user, p);
    for (const p of defs.policies) this.vhosts.get(p.vhost)?.policies.put(p);
    for (const x of defs.exchanges) {
      this.vhosts.get(x.vhost)?.restoreExchange(x.name, x.type, {
        durable: true,
        autoDelete: x.autoDelete,
        internal: x.internal,
        arguments: x.arguments,
      });
    }
    let restored = 0;
    for (const q of defs.queues) {
      const vhost = this.vhosts.get(q.vhost);
      if (!vhost) continue;
      const queue = vhost.restoreQueue(q.name, q.autoDelete, q.arguments);
      const ref = { vhost: q.vhost, queue: q.name };
      restored += await queue.recover({
        records: messages(ref),
        count: () => this.store.countEntries(ref),
        maxMessageId: this.ids.last(),
      });
    }
    for (const b of defs.bindings) {
      const vhost = this.vhosts.get(b.vhost);
      const dest =
        b.destinationType === 'queue'
          ? vhost?.queues.get(b.destination)
          : vhost?.exchanges.get(b.destination);
      if (!vhost || !dest) continue;
      // A stored binding this broker refuses now (a key over a limit it did not have) is left
      // out, and said so: a silently missing binding routes nothing and nobody knows why.
      await vhost
        .bind(b.source, dest, b.routingKey, b.arguments)
        .catch((err: unknown) =>
          this.log.warn(
            { err, vhost: b.vhost, source: b.source, destination: b.destination, routingKey: b.routingKey },
            'stored binding not restored',
          ),
        );
    }
    for (const vhost of this.vhosts.values()) {
      for await (const r of this.store.retained(vhost.name)) {
        const { exchange, routingKey, properties, body } = r.message;
        vhost.retained.restore(r.topic, { exchange, routingKey, properties, body });
      }
      for await (const s of this.store.mqttSessions(vhost.name))
        vhost.clientSessions.restore(s.clientId, s.state);
      await vhost.dropUnlistedSessionQueues();
    }
    this.log.info(
      { vhosts: defs.vhosts.length, queues: defs.queues.length, messages: restored },
      'recovered from store',
    );
  }

  nextMessageId(): number {
    return this.ids.next();
  }

  lastMessageId(): number {
    return this.ids.last();
  }

  /** Definitions another node stored (the change feed): memory only (definitions-mirror.ts). */
  applyStoredDefinitions(changes: readonly DefinitionChange[]): Promise<void> {
    return applyStoredChanges(this.mirrorAccess(), changes);
  }

  /** Makes memory match the stored definitions in full (a reload after a gap in the feed). */
  reconcileDefinitions(defs: Definitions): Promise<void> {
    const access = this.mirrorAccess();
    return applyStoredChanges(access, reconcileChanges(access, defs));
  }

  private mirrorAccess(): MirrorAccess {
    return {
      broker: this,
      vhostFor: (name) => {
        let v = this.vhosts.get(name);
        if (!v) this.vhosts.set(name, (v = this.newVhost(name)));
        return v;
      },
      forgetVhost: async (name) => {
        const v = this.vhosts.get(name);
        if (!v) return;
        for (const c of [...this.connections.values()])
          if (c.vhost === name) await c.control.close(`vhost '${name}' is deleted`);
        for (const q of [...v.queues.values()]) await v.removeQueue(q, { alreadyStored: true });
        v.clientSessions.stop();
        this.vhosts.delete(name);
        this.users.clearVhost(name);
      },
      setUserLimits: (user, limits) => {
        if (limits === undefined) this.userLimitSets.delete(user);
        else this.userLimitsOf(user).replace(limits);
      },
    };
  }

  private newVhost(name: string): Vhost {
    return new Vhost(name, this);
  }

  vhost(name: string): Vhost {
    const v = this.vhosts.get(name);
    if (!v) throw notFound(`vhost '${name}'`);
    return v;
  }

  // ---- BrokerApi ----------------------------------------------------------------------------

  async authenticate(creds: Credentials, conn: ConnectionInfo): Promise<Principal> {
    const user = this.users.check(creds.username, creds.password);
    if (!user) {
      throw new BrokerError(
        'ACCESS_REFUSED',
        `ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.`,
        {
          scope: 'connection',
        },
      );
    }
    return this.principalFor(user, conn);
  }

  async authenticateExternal(username: string, conn: ConnectionInfo): Promise<Principal> {
    const user = this.users.get(username);
    if (!user) {
      throw new BrokerError(
        'ACCESS_REFUSED',
        `ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL: the client certificate names user '${username}', who does not exist`,
        { scope: 'connection' },
      );
    }
    return this.principalFor(user, conn);
  }

  scram(conn: ConnectionInfo): ScramLogin {
    const exchange = new ScramExchange((name) => {
      const user = this.users.get(name);
      return user ? (user.scram ?? 'no-credentials') : undefined;
    }, this.scramUnknownUserKey);
    return {
      start: (clientFirst) => exchange.start(clientFirst),
      finish: (clientFinal) => {
        const { username, serverFinal } = exchange.finish(clientFinal);
        const user = this.users.get(username);
        if (!user) throw new ScramRefused(`user '${username}' was deleted during the exchange`);
        return { principal: this.principalFor(user, conn), serverFinal };
      },
    };
  }

  /**
   * A stored will whose time has come (ClientSessions): published through a short-lived
   * connection of its own as the will's user, so permissions apply as to any publish, and
   * retained if asked. Resolves once the message is routed and durable.
   */
  async publishWill(vhost: string, clientId: string, will: StoredWill): Promise<void> {
    const user = this.users.get(will.user);
    if (!user)
      throw new BrokerError('ACCESS_REFUSED', `ACCESS_REFUSED - user '${will.user}' no longer exists`);
    const info = {
      id: `will-${++this.willConnections}`,
      protocol: 'mqtt' as const,
      remoteAddress: '',
      remotePort: 0,
      localPort: 0,
      clientId,
    };
    const conn = this.connect({ username: user.name, tags: user.tags }, vhost, info, {
      close: () => conn.close(),
    });
    try {
      const msg = will.message;
      await new Promise<void>((resolve, reject) => {
        conn
          .openSession()
          .publish(msg, undefined, (outcome) =>
            outcome.ok
              ? resolve()
              : reject(new Error(outcome.storeFailed ? 'the store failed' : 'a queue refused it')),
          );
      });
      if (will.retain) await conn.retain(msg.routingKey, msg.body.length > 0 ? msg : null);
    } finally {
      await conn.close();
    }
  }

  private principalFor(user: User, conn: ConnectionInfo): Principal {
    if (this.loopbackUsers.has(user.name) && !isLoopback(conn.remoteAddress)) {
      throw new BrokerError(
        'ACCESS_REFUSED',
        `ACCESS_REFUSED - user '${user.name}' can only connect via localhost`,
        {
          scope: 'connection',
        },
      );
    }
    let principal = this.principals.get(user);
    if (!principal) {
      principal = { username: user.name, tags: user.tags };
      this.principals.set(user, principal);
    }
    return principal;
  }

  /**
   * One Principal per user record (a User is replaced, never changed, when its password or tags
   * are): a fleet's devices that log in as one user share it instead of holding one each.
   */
  private readonly principals = new WeakMap<User, Principal>();

  /** One function for every connection (a closure each cost ~110 bytes per MQTT device). */
  private readonly connectionClosed = (c: BrokerConnection): void => {
    if (this.connections.get(c.id) === c) this.connections.delete(c.id);
    if (!UNLIMITED_PROTOCOLS.has(c.info.protocol)) {
      this.connectionsPerVhost.add(c.vhost, -1);
      this.connectionsPerUser.add(c.principal.username, -1);
    }
    if (this.events.observed) this.events.emit('connectionClosed', { id: c.id, protocol: c.info.protocol });
  };

  connect(
    principal: Principal,
    vhostName: string,
    info: ConnectionInfo,
    control: ConnectionControl,
  ): BrokerConnection {
    if (this.closing)
      throw new BrokerError('CONNECTION_FORCED', 'CONNECTION_FORCED - broker is shutting down');
    const vhost = this.vhosts.get(vhostName);
    if (!vhost) throw unknownVhost(vhostName);
    if (!this.users.hasVhostAccess(vhostName, principal.username)) {
      throw new BrokerError(
        'NOT_ALLOWED',
        `NOT_ALLOWED - access to vhost '${vhostName}' refused for user '${principal.username}'`,
      );
    }
    const limited = !UNLIMITED_PROTOCOLS.has(info.protocol);
    if (limited) this.checkConnectionLimits(vhost, principal.username);
    const conn = new BrokerConnection(
      info,
      principal,
      vhost,
      this.users,
      control,
      this.connectionClosed,
      this.sessionGate,
    );
    if (limited) {
      this.connectionsPerVhost.add(vhostName, 1);
      this.connectionsPerUser.add(principal.username, 1);
    }
    this.connections.set(info.id, conn);
    // After the adapter's own answer to the login (AMQP open-ok, CONNACK, CONNECTED) is out:
    // a client gets connection.blocked on an open connection, never in place of open-ok.
    queueMicrotask(() => {
      const blockedFor = this.blockedFor();
      if (blockedFor !== null && this.connections.get(info.id) === conn)
        control.setBlocked?.(true, blockedFor);
    });
    if (this.events.observed) this.events.emit('connectionOpened', { id: info.id, protocol: info.protocol });
    return conn;
  }

  /** RabbitMQ's texts: the vhost's max-connections, then the user's. */
  private checkConnectionLimits(vhost: Vhost, user: string): void {
    const perVhost = vhost.limits.get('max-connections');
    if (perVhost !== undefined && this.connectionsPerVhost.of(vhost.name) >= perVhost) {
      throw limitReached(
        `access to vhost '${vhost.name}' refused for user '${user}': connection limit (${perVhost}) is reached`,
      );
    }
    const perUser = this.userLimitSets.get(user)?.get('max-connections');
    if (perUser !== undefined && this.connectionsPerUser.of(user) >= perUser) {
      throw limitReached(
        `Connection refused for user '${user}': user connection limit (${perUser}) is reached`,
      );
    }
  }

  /** Live connections and channels counted against limits (management's vhost and user views). */
  limitUsage(): {
    connectionsOfVhost(v: string): number;
    connectionsOfUser(u: string): number;
    channelsOfUser(u: string): number;
  } {
    return {
      connectionsOfVhost: (v) => this.connectionsPerVhost.of(v),
      connectionsOfUser: (u) => this.connectionsPerUser.of(u),
      channelsOfUser: (u) => this.channelsPerUser.of(u),
    };
  }

  /**
   * Sets (value >= 0) or clears (null or a negative value) one vhost limit and stores it with
   * the vhost's definition. Throws PRECONDITION_FAILED for an unknown name or a non-integer.
   * Existing connections and queues stay: a limit refuses only what comes next (as RabbitMQ).
   */
  async setVhostLimit(vhostName: string, name: string, value: number | null): Promise<void> {
    const v = this.vhost(vhostName);
    const before = v.limits.toJSON();
    const changed = value === null ? v.limits.clear(name) : v.limits.set(name, value);
    if (!changed) return;
    try {
      await this.writeDefinitions([
        { op: 'put', kind: 'vhost', value: { name: v.name, limits: v.limits.toJSON() } },
      ]);
    } catch (err) {
      v.limits.clear(name);
      v.limits.restore(before);
      throw err;
    }
  }

  /** The limits of a user, empty when none are set. */
  userLimits(user: string): Readonly<Record<string, number>> {
    return this.userLimitSets.get(user)?.toJSON() ?? {};
  }

  /** As setVhostLimit, for a user's limits; NOT_FOUND for an unknown user. */
  async setUserLimit(user: string, name: string, value: number | null): Promise<void> {
    const u = this.users.get(user);
    if (!u) throw notFound(`user '${user}'`);
    const limits = this.userLimitsOf(user);
    const before = limits.toJSON();
    const changed = value === null ? limits.clear(name) : limits.set(name, value);
    if (!changed) return;
    try {
      await this.writeDefinitions([{ op: 'put', kind: 'user', value: this.userDefinition(u) }]);
    } catch (err) {
      limits.clear(name);
      limits.restore(before);
      throw err;
    }
  }

  private userLimitsOf(user: string): Limits<UserLimitName> {
    let l = this.userLimitSets.get(user);
    if (!l) this.userLimitSets.set(user, (l = new Limits(USER_LIMITS, 'user')));
    return l;
  }

  private userDefinition(u: User) {
    const limits = this.userLimitSets.get(u.name);
    return {
      name: u.name,
      passwordHash: u.passwordHash,
      tags: [...u.tags],
      ...(u.scram ? { scram: u.scram } : {}),
      ...(limits && limits.size > 0 ? { limits: limits.toJSON() } : {}),
    };
  }

  /**
   * Sets or clears one resource alarm. While any alarm is on every connection is told to stop
   * reading publishes; the connections hear of it when the first one is set and the last cleared.
   */
  setAlarm(kind: AlarmKind, reason: string | null): void {
    const before = this.blockedFor();
    if (reason === null) this.alarms.delete(kind);
    else this.alarms.set(kind, reason);
    const after = this.blockedFor();
    if ((before === null) === (after === null)) return;
    for (const c of this.connections.values()) c.control.setBlocked?.(after !== null, after ?? '');
  }

  /** The alarms that are on, by kind, with their reasons (management, /metrics). */
  activeAlarms(): ReadonlyMap<AlarmKind, string> {
    return this.alarms;
  }

  /** Why publishers are blocked (every alarm's reason), or null. */
  private blockedFor(): string | null {
    return this.alarms.size === 0 ? null : [...this.alarms.values()].join('; ');
  }

  /**
   * Set when the store failed and became read-only (writes refused until a restart): for
   * readiness checks and management. Undefined while the store is healthy.
   */
  get storeFailure(): Error | undefined {
    return this.store.failure;
  }

  // ---- administration (management API, config, definitions import) ------------------------

  async addVhost(name: string): Promise<Vhost> {
    let v = this.vhosts.get(name);
    if (v) return v;
    checkName('vhost', name);
    v = this.newVhost(name);
    this.vhosts.set(name, v);
    try {
      await this.writeDefinitions([{ op: 'put', kind: 'vhost', value: { name } }]);
    } catch (err) {
      // Memory follows the store: a vhost that was not stored does not exist.
      if (this.vhosts.get(name) === v) this.vhosts.delete(name);
      throw err;
    }
    return v;
  }

  async deleteVhost(name: string): Promise<void> {
    const v = this.vhost(name);
    for (const c of [...this.connections.values()]) {
      if (c.vhost === name) await c.control.close(`vhost '${name}' is deleted`);
    }
    for (const q of [...v.queues.values()]) await v.removeQueue(q);
    v.clientSessions.stop();
    this.vhosts.delete(name);
    this.users.clearVhost(name);
    await this.writeDefinitions([{ op: 'delete', kind: 'vhost', key: { name } }]);
  }

  async putUser(
    name: string,
    opts: { password?: string; passwordHash?: string; tags?: readonly string[] },
  ): Promise<void> {
    if (!name) throw preconditionFailed('user name must not be empty');
    checkName('user', name);
    const derived =
      opts.password === undefined
        ? undefined
        : { password: opts.password, scram: await scramCredentials(opts.password) };
    const prev = this.users.get(name);
    // A new hash replaces the password: SCRAM keys derived from the old one go with it.
    const keptScram = opts.passwordHash === undefined ? prev?.scram : undefined;
    const user: User = derived
      ? this.users.add(name, derived.password, opts.tags ?? prev?.tags ?? [], derived.scram)
      : {
          name,
          passwordHash: opts.passwordHash ?? prev?.passwordHash ?? '',
          tags: opts.tags ?? prev?.tags ?? [],
          ...(keptScram ? { scram: keptScram } : {}),
        };
    this.users.put(user);
    try {
      await this.writeDefinitions([{ op: 'put', kind: 'user', value: this.userDefinition(user) }]);
    } catch (err) {
      if (prev) this.users.put(prev);
      else this.users.delete(name);
      throw err;
    }
  }

  async deleteUser(name: string): Promise<boolean> {
    const had = this.users.delete(name);
    this.userLimitSets.delete(name);
    if (had) await this.writeDefinitions([{ op: 'delete', kind: 'user', key: { name } }]);
    return had;
  }

  async setPermission(
    vhost: string,
    user: string,
    p: { configure: string; write: string; read: string },
  ): Promise<void> {
    this.vhost(vhost);
    this.users.setPermission(vhost, user, p);
    await this.writeDefinitions([{ op: 'put', kind: 'permission', value: { vhost, user, ...p } }]);
  }

  async clearPermission(vhost: string, user: string): Promise<void> {
    if (this.users.clearPermission(vhost, user)) {
      await this.writeDefinitions([{ op: 'delete', kind: 'permission', key: { vhost, user } }]);
    }
  }

  private async writeDefinitions(changes: DefinitionChange[]): Promise<void> {
    if (this.store.capabilities.durable) await this.store.writeDefinitions(changes);
  }

  /** Graceful stop: ask every adapter connection to close, then flush and close the store. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await Promise.allSettled([...this.connections.values()].map((c) => c.control.close('broker shutdown')));
    for (const c of [...this.connections.values()]) await c.close();
    for (const v of this.vhosts.values()) v.clientSessions.stop();
    await this.store.close();
  }
}

export function isLoopback(address: string): boolean {
  if (address === '::1' || address === 'localhost') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return isIP(v4) === 4 && v4.startsWith('127.');
}
