/**
 * One STOMP connection: the CONNECT handshake, heart-beats, and the dispatch of every
 * client frame onto one core Session (a STOMP connection is one session: one ordering
 * domain, one delivery-tag space). Frames are handled strictly in arrival order: when a
 * frame needs async core work (declare, consume, commit) later frames wait behind it.
 */
import type { Logger } from 'pino';
import {
  BrokerError,
  compileSelector,
  createMessage,
  type BrokerApi,
  type Connection,
  type ConnectionInfo,
  type Delivery,
  type FieldTable,
  type Message,
  type Principal,
  type Session,
  type SettleOutcome,
  type Transaction,
} from '@junction/core';
import type { StompConfig } from './config.js';
import { destinationOf, DestinationError, parseDestination, type Destination } from './destinations.js';
import { encodeFrame, encodeHead, HEARTBEAT, ZERO_COPY_BODY } from './encode.js';
import { describeError, StompProtocolError } from './errors.js';
import { appendPropertyHeaders, HeaderError, propertiesFromSend, queueArguments } from './headers.js';
import { FrameParser, type Frame, type FrameError } from './parser.js';
import type { Transport } from './transport.js';

let connectionCounter = 0;

const SERVER = 'Junction/0.1.0';
const VERSIONS = [
  ['1.2', 12],
  ['1.1', 11],
  ['1.0', 10],
] as const;

type AckMode = 'auto' | 'client' | 'client-individual';

interface Subscription {
  readonly id: string;
  readonly ack: AckMode;
  consumerTag: string;
  readonly queue: string;
  /** MESSAGE destination override (temp queues show the name the client used). */
  readonly destination: string | undefined;
  /** A durable topic subscription's queue: deleted by UNSUBSCRIBE with durable:true. */
  readonly durableQueue: string | undefined;
  /** Unacked delivery tags, ascending (Set keeps insertion order and tags only grow). */
  readonly unacked: Set<number>;
  cancelled: boolean;
}

interface StompTx {
  readonly tx: Transaction;
  /** Acks/nacks made in the tx: put back into tracking on ABORT. */
  readonly settled: Array<[number, Subscription]>;
}

type State = 'connecting' | 'authenticating' | 'open' | 'closing' | 'closed';

export class StompConnection {
  readonly id = `stomp-${++connectionCounter}`;
  readonly connectedAt = Date.now();
  state: State = 'connecting';
  version = 0;
  principal: Principal | undefined;
  core: Connection | undefined;
  clientId: string | undefined;
  /** The CONNECT headers minus the passcode, for management. */
  clientProperties: Record<string, string> | undefined;
  private session: Session | undefined;
  private readonly parser: FrameParser;
  private readonly subs = new Map<string, Subscription>();
  private readonly unacked = new Map<number, Subscription>();
  private readonly txs = new Map<string, StompTx>();
  private readonly declared = new Set<string>();
  /** temp-queue name -> real (server-named, exclusive) queue. */
  private readonly tempQueues = new Map<string, string>();
  private readonly backlog: Frame[] = [];
  private busy = false;
  private readonly paused = new Set<'backlog' | 'flow' | 'blocked'>();
  private lastReadAt = Date.now();
  private wroteSinceTick = false;
  private timers: NodeJS.Timeout[] = [];
  private pendingConfirms = 0;
  private confirmWaiters: Array<() => void> = [];
  private closedPromise: Promise<void> | undefined;

  constructor(
    readonly transport: Transport,
    private readonly broker: BrokerApi,
    private readonly cfg: StompConfig,
    private readonly log: Logger,
    private readonly onClosed: (c: StompConnection) => void,
  ) {
    this.parser = new FrameParser(
      { maxFrameSize: cfg.maxFrameSize, maxHeaders: cfg.maxHeaders, maxHeaderLength: cfg.maxHeaderLength },
      (f) => this.onFrame(f),
      (e) => this.onFrameError(e),
    );
    transport.bind({
      onData: (chunk) => {
        this.lastReadAt = Date.now();
        if (this.state === 'closing' || this.state === 'closed') return;
        this.parser.push(chunk);
      },
      onDrain: () => this.session?.resume(),
      onClose: () => void this.cleanup(),
    });
    const t = setTimeout(() => {
      if (this.state === 'connecting' || this.state === 'authenticating') {
        this.sendErrorAndClose({
          message: 'CONNECT timeout',
          detail: 'no CONNECT frame received in time',
          internal: false,
        });
      }
    }, cfg.connectTimeoutMs);
    t.unref();
    this.timers.push(t);
  }

  get versionString(): string {
    return this.version === 12 ? '1.2' : this.version === 11 ? '1.1' : this.version === 10 ? '1.0' : '';
  }

  get info(): ConnectionInfo {
    return {
      id: this.id,
      protocol: 'stomp',
      protocolVersion: this.version ? `STOMP ${this.versionString}` : 'STOMP',
      remoteAddress: this.transport.remoteAddress,
      remotePort: this.transport.remotePort,
      localPort: this.transport.localPort,
      ...(this.clientId !== undefined ? { clientId: this.clientId } : {}),
      ...(this.clientProperties !== undefined ? { clientProperties: this.clientProperties } : {}),
    };
  }

  /** For management: a resource alarm or publisher flow control is holding reads back. */
  get heldBy(): 'blocked' | 'flow' | undefined {
    return this.paused.has('blocked') ? 'blocked' : this.paused.has('flow') ? 'flow' : undefined;
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  // ---- output -------------------------------------------------------------------------------

  private write(frame: Buffer): boolean {
    this.wroteSinceTick = true;
    return this.transport.write(frame);
  }

  private send(command: string, headers: string[], body?: Buffer): void {
    if (this.state === 'closed') return;
    this.write(encodeFrame(command, headers, body, this.version));
  }

  private receipt(frame: Frame): void {
    const r = frame.headers['receipt'];
    if (r !== undefined) this.send('RECEIPT', ['receipt-id', r]);
  }

  private sendErrorAndClose(
    report: { message: string; detail: string; internal: boolean },
    receiptId?: string,
  ): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const headers = ['message', report.message, 'content-type', 'text/plain'];
    if (receiptId !== undefined) headers.push('receipt-id', receiptId);
    this.send('ERROR', headers, Buffer.from(report.detail, 'utf8'));
    this.state = 'closing';
    this.transport.end();
    void this.cleanup();
  }

  private fail(err: unknown, frame: Frame | undefined): void {
    // Work that was in flight when the connection went away: nothing left to tell.
    if (this.state === 'closing' || this.state === 'closed') return;
    const report = describeError(err);
    if (report.internal)
      this.log.error({ err, conn: this.id, command: frame?.command }, 'STOMP frame handling failed');
    else this.log.debug({ conn: this.id, reason: report.detail }, 'STOMP error');
    this.sendErrorAndClose(report, frame?.headers['receipt']);
  }

  private onFrameError(err: FrameError): void {
    this.fail(err, undefined);
  }

  /** The broker (management, shutdown, vhost deletion) closes this connection. */
  async closeByBroker(reason: string): Promise<void> {
    this.sendErrorAndClose({ message: reason, detail: reason, internal: false });
    await this.cleanup();
  }

  // ---- input --------------------------------------------------------------------------------

  private onFrame(frame: Frame): void {
    if (this.busy || this.backlog.length > 0) {
      this.backlog.push(frame);
      if (this.backlog.length >= this.cfg.maxPendingFrames) this.pauseReading('backlog', true);
      return;
    }
    this.dispatch(frame);
  }

  private dispatch(frame: Frame): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    let r: void | Promise<void>;
    try {
      r = this.handle(frame);
    } catch (err) {
      this.fail(err, frame);
      return;
    }
    if (r instanceof Promise) {
      this.busy = true;
      r.then(
        () => {
          this.busy = false;
          this.drainBacklog();
        },
        (err: unknown) => {
          this.busy = false;
          this.fail(err, frame);
        },
      );
    }
  }

  private drainBacklog(): void {
    while (!this.busy && this.backlog.length > 0 && this.state !== 'closing' && this.state !== 'closed') {
      this.dispatch(this.backlog.shift()!);
    }
    if (this.backlog.length < this.cfg.maxPendingFrames / 2) this.pauseReading('backlog', false);
  }

  private pauseReading(why: 'backlog' | 'flow' | 'blocked', on: boolean): void {
    const was = this.paused.size > 0;
    if (on) this.paused.add(why);
    else this.paused.delete(why);
    const now = this.paused.size > 0;
    if (was !== now) {
      if (now) this.transport.pause();
      else this.transport.resume();
    }
  }

  private handle(frame: Frame): void | Promise<void> {
    if (this.state === 'connecting') {
      if (frame.command === 'CONNECT' || frame.command === 'STOMP') return this.onConnect(frame);
      throw new StompProtocolError(
        'Not connected',
        `expected CONNECT or STOMP, got ${frame.command.slice(0, 32)}`,
      );
    }
    switch (frame.command) {
      case 'SEND':
        return this.onSend(frame);
      case 'SUBSCRIBE':
        return this.onSubscribe(frame);
      case 'UNSUBSCRIBE':
        return this.onUnsubscribe(frame);
      case 'ACK':
        return this.onSettle(frame, 'ack');
      case 'NACK':
        return this.onSettle(frame, frame.headers['requeue'] === 'false' ? 'reject' : 'requeue');
      case 'BEGIN':
        return this.onBegin(frame);
      case 'COMMIT':
        return this.onCommit(frame);
      case 'ABORT':
        return this.onAbort(frame);
      case 'DISCONNECT':
        return this.onDisconnect(frame);
      case 'CONNECT':
      case 'STOMP':
        throw new StompProtocolError('Already connected', 'CONNECT received on an open connection');
      default:
        throw new StompProtocolError(
          'Unknown command',
          `unknown STOMP command '${frame.command.slice(0, 32)}'`,
        );
    }
  }

  // ---- CONNECT ------------------------------------------------------------------------------

  private async onConnect(frame: Frame): Promise<void> {
    const h = frame.headers;
    const accepted = (h['accept-version'] ?? '1.0').split(',').map((v) => v.trim());
    const chosen = VERSIONS.find(([v]) => accepted.includes(v));
    if (!chosen) {
      this.send(
        'ERROR',
        [
          'version',
          '1.0,1.1,1.2',
          'message',
          'Supported protocol versions are 1.0,1.1,1.2',
          'content-type',
          'text/plain',
        ],
        Buffer.from(`unsupported accept-version '${h['accept-version'] ?? ''}'`),
      );
      this.state = 'closing';
      this.transport.end();
      await this.cleanup();
      return;
    }
    this.version = chosen[1];
    this.parser.version = this.version === 10 ? 0 : this.version;
    let cx = 0;
    let cy = 0;
    const hb = h['heart-beat'];
    if (hb !== undefined && this.version >= 11) {
      const m = /^\s*(\d{1,9})\s*,\s*(\d{1,9})\s*$/.exec(hb);
      if (!m)
        throw new StompProtocolError(
          'Invalid heart-beat header',
          `heart-beat must be "cx,cy", got '${hb.slice(0, 64)}'`,
        );
      cx = Number(m[1]);
      cy = Number(m[2]);
    }
    const cid = h['client-id'];
    if (cid !== undefined) this.clientId = cid;
    const props: Record<string, string> = {};
    let count = 0;
    for (const name in h) {
      if (name === 'passcode' || name === '__proto__' || ++count > 32) continue;
      props[name] = h[name]!.slice(0, 256);
    }
    this.clientProperties = props;

    this.state = 'authenticating';
    let login = h['login'];
    let passcode = h['passcode'];
    if (login === undefined && this.cfg.defaultUser) {
      login = this.cfg.defaultUser.login;
      passcode = this.cfg.defaultUser.passcode;
    }
    let principal: Principal;
    try {
      principal = await this.broker.authenticate(
        { username: login ?? '', password: passcode ?? '' },
        this.info,
      );
    } catch (err) {
      this.log.info({ conn: this.id, user: login }, 'STOMP authentication failed');
      const why = err instanceof BrokerError ? err.message : 'authentication failed';
      throw new StompProtocolError('Access refused', `Access refused for user '${login ?? ''}': ${why}`);
    }
    if ((this.state as State) !== 'authenticating') return; // closed meanwhile
    this.principal = principal;
    this.core = this.connectVhost(principal, h['host']);
    this.session = this.core.openSession();
    this.state = 'open';

    // Heart-beats (STOMP 1.1 §Heart-beating): each side uses the larger of what one can do and
    // the other wants; 0 on either side disables that direction.
    const [sx, sy] = this.cfg.heartbeat;
    const out = sx === 0 || cy === 0 ? 0 : Math.max(sx, cy);
    const inc = cx === 0 || sy === 0 ? 0 : Math.max(cx, sy);
    const headers = ['version', this.versionString, 'session', this.session.id, 'server', SERVER];
    if (this.version >= 11) headers.push('heart-beat', `${out ? sx : 0},${inc ? sy : 0}`);
    // CONNECTED is never escaped (1.2 spec).
    this.write(encodeFrame('CONNECTED', headers, undefined, this.version, true));
    this.startHeartbeats(out, inc);
    this.log.debug(
      { conn: this.id, user: principal.username, vhost: this.core.vhost, version: this.versionString },
      'STOMP connected',
    );
  }

  /**
   * RabbitMQ semantics for `host`: it names the vhost when such a vhost exists; a missing
   * host, or one that is not a vhost name (clients often send the DNS host name), means
   * the default vhost. Access refused on an existing vhost is an error.
   */
  private connectVhost(principal: Principal, host: string | undefined): Connection {
    const control = {
      close: (reason: string) => this.closeByBroker(reason),
      setBlocked: (blocked: boolean) => this.pauseReading('blocked', blocked),
      throttle: (on: boolean) => this.pauseReading('flow', on),
    };
    if (host !== undefined && host !== '' && host !== this.cfg.defaultVhost) {
      try {
        return this.broker.connect(principal, host, this.info, control);
      } catch (err) {
        const unknownVhost =
          err instanceof BrokerError && err.code === 'NOT_ALLOWED' && /not found/.test(err.message);
        if (!unknownVhost) throw err;
      }
    }
    return this.broker.connect(principal, this.cfg.defaultVhost, this.info, control);
  }

  private startHeartbeats(out: number, inc: number): void {
    if (out > 0) {
      // Ticks at half the interval: an EOL goes out when a whole tick passed without any
      // write, so the gap between writes never exceeds the negotiated interval.
      const t = setInterval(
        () => {
          if (!this.wroteSinceTick)
            this.write(HEARTBEAT); // sets wroteSinceTick: next EOL a full interval later
          else this.wroteSinceTick = false;
        },
        Math.max(1, Math.floor(out / 2)),
      );
      t.unref();
      this.timers.push(t);
    }
    if (inc > 0) {
      const t = setInterval(
        () => {
          if (Date.now() - this.lastReadAt > inc * 2) {
            this.log.info({ conn: this.id }, 'STOMP client heart-beats stopped; closing');
            this.transport.destroy();
            void this.cleanup();
          }
        },
        Math.max(10, Math.floor(inc / 2)),
      );
      t.unref();
      this.timers.push(t);
    }
  }

  // ---- SEND ---------------------------------------------------------------------------------

  private onSend(frame: Frame): void | Promise<void> {
    const h = frame.headers;
    const dest = parseDestination(h['destination']);
    const txId = h['transaction'];
    if (txId !== undefined && !this.txs.has(txId)) {
      throw new StompProtocolError('Invalid transaction', `transaction '${txId}' is not active`);
    }
    let replyTo = h['reply-to'];
    let tempReply: string | undefined;
    if (replyTo !== undefined && replyTo.startsWith('/temp-queue/')) {
      tempReply = replyTo.slice('/temp-queue/'.length);
      if (tempReply.length === 0) throw new DestinationError('Invalid reply-to: temp queue name is empty');
      const real = this.tempQueues.get(tempReply);
      if (real !== undefined) {
        replyTo = '/reply-queue/' + real;
        tempReply = undefined;
      }
    }
    const route = this.routeForSend(dest);
    if (route === undefined || tempReply !== undefined) {
      return (async () => {
        const r = route ?? (await this.resolveSendRoute(dest));
        if (tempReply !== undefined)
          replyTo = '/reply-queue/' + (await this.ensureTempQueue(tempReply, true));
        this.publish(frame, r[0], r[1], replyTo);
      })();
    }
    this.publish(frame, route[0], route[1], replyTo);
  }

  /** [exchange, routingKey] when no async work is needed, undefined otherwise. */
  private routeForSend(d: Destination): [string, string] | undefined {
    switch (d.kind) {
      case 'queue':
        return this.declared.has(d.name) ? ['', d.name] : undefined;
      case 'topic':
        return ['amq.topic', d.key];
      case 'exchange':
        return [d.exchange, d.key];
      case 'amq-queue':
      case 'reply-queue':
        return ['', d.name];
      case 'temp-queue': {
        const real = this.tempQueues.get(d.name);
        return real === undefined ? undefined : ['', real];
      }
    }
  }

  private async resolveSendRoute(d: Destination): Promise<[string, string]> {
    if (d.kind === 'queue') {
      await this.declareQueue(d.name);
      return ['', d.name];
    }
    if (d.kind === 'temp-queue') return ['', await this.ensureTempQueue(d.name, true)];
    return this.routeForSend(d)!;
  }

  /** /queue/ destinations are durable queues declared on first use (RabbitMQ does the same). */
  private async declareQueue(name: string, args?: FieldTable): Promise<void> {
    // With arguments the declare always runs: a mismatch with the existing queue must be an error.
    if (this.declared.has(name) && args === undefined) return;
    await this.session!.declareQueue({
      name,
      durable: true,
      autoDelete: false,
      exclusive: false,
      ...(args ? { arguments: args } : {}),
    });
    this.declared.add(name);
  }

  private publish(frame: Frame, exchange: string, routingKey: string, replyTo: string | undefined): void {
    const h = frame.headers;
    const msg = createMessage(exchange, routingKey, frame.body, propertiesFromSend(h, replyTo, Date.now()));
    const txId = h['transaction'];
    if (txId !== undefined) {
      const t = this.txs.get(txId);
      if (!t) throw new StompProtocolError('Invalid transaction', `transaction '${txId}' is not active`);
      t.tx.publish(msg);
      this.receipt(frame);
      return;
    }
    const receipt = h['receipt'];
    if (receipt === undefined) {
      this.session!.publish(msg);
      return;
    }
    // The RECEIPT waits for the core's outcome: after the durable commit of a persistent message.
    this.pendingConfirms++;
    this.session!.publish(msg, undefined, (outcome) => {
      if (outcome.ok) this.send('RECEIPT', ['receipt-id', receipt]);
      else
        this.sendErrorAndClose(
          {
            message: 'Message rejected',
            detail: `the message to '${h['destination']}' was not accepted`,
            internal: false,
          },
          receipt,
        );
      if (--this.pendingConfirms === 0) {
        const w = this.confirmWaiters;
        this.confirmWaiters = [];
        for (const f of w) f();
      }
    });
  }

  // ---- temp queues --------------------------------------------------------------------------

  /**
   * The connection's private queue for /temp-queue/<name>: server-named, exclusive,
   * auto-delete. Used as a reply-to, it is subscribed automatically (subscription id =
   * the temp-queue destination, auto ack), as RabbitMQ does.
   */
  private async ensureTempQueue(name: string, autoSubscribe: boolean): Promise<string> {
    let real = this.tempQueues.get(name);
    if (real === undefined) {
      if (this.tempQueues.size >= this.cfg.maxSubscriptions) {
        throw new StompProtocolError(
          'Too many temp queues',
          `at most ${this.cfg.maxSubscriptions} temp queues per connection`,
        );
      }
      const d = await this.session!.declareQueue({
        name: '',
        exclusive: true,
        autoDelete: false,
        durable: false,
      });
      real = d.queue;
      this.tempQueues.set(name, real);
    }
    const subId = '/temp-queue/' + name;
    if (autoSubscribe && !this.subs.has(subId) && ![...this.subs.values()].some((s) => s.queue === real)) {
      await this.startConsumer(subId, 'auto', real, subId, undefined, {});
    }
    return real;
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE --------------------------------------------------------------

  private async onSubscribe(frame: Frame): Promise<void> {
    const h = frame.headers;
    const dest = parseDestination(h['destination']);
    let id = h['id'];
    if (id === undefined) {
      if (this.version >= 11)
        throw new StompProtocolError('Missing header', 'SUBSCRIBE requires an id header');
      id = h['destination']!; // STOMP 1.0: the destination identifies the subscription
    }
    if (this.subs.has(id))
      throw new StompProtocolError('Duplicate subscription', `subscription id '${id}' is already in use`);
    if (this.subs.size >= this.cfg.maxSubscriptions) {
      throw new StompProtocolError(
        'Too many subscriptions',
        `at most ${this.cfg.maxSubscriptions} subscriptions per connection`,
      );
    }
    const ack = (h['ack'] ?? 'auto') as AckMode;
    if (ack !== 'auto' && ack !== 'client' && ack !== 'client-individual') {
      throw new StompProtocolError(
        'Invalid ack mode',
        `ack must be auto, client or client-individual, got '${String(ack).slice(0, 32)}'`,
      );
    }
    let prefetch: number | undefined;
    const pc = h['prefetch-count'];
    if (pc !== undefined) {
      if (!/^\d{1,9}$/.test(pc.trim()))
        throw new HeaderError(`prefetch-count must be a non-negative integer, got '${pc.slice(0, 32)}'`);
      prefetch = Number(pc.trim());
    }
    let filter: ((m: Message) => boolean) | undefined;
    const selector = h['selector'];
    if (selector !== undefined && selector.trim() !== '') {
      try {
        filter = compileSelector(selector);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new StompProtocolError(
          'Invalid selector',
          `invalid selector '${selector.slice(0, 200)}': ${why}`,
        );
      }
    }
    const durable = h['durable'] === 'true' || h['persistent'] === 'true';
    const session = this.session!;
    let queue: string;
    let durableQueue: string | undefined;
    let fixedDest: string | undefined;
    switch (dest.kind) {
      case 'queue':
        await this.declareQueue(dest.name, queueArguments(h));
        queue = dest.name;
        break;
      case 'amq-queue':
        queue = dest.name;
        break;
      case 'temp-queue':
        queue = await this.ensureTempQueue(dest.name, false);
        fixedDest = '/temp-queue/' + dest.name;
        break;
      case 'reply-queue':
        throw new DestinationError('cannot SUBSCRIBE to a /reply-queue/ destination');
      case 'topic':
      case 'exchange': {
        const exchange = dest.kind === 'topic' ? 'amq.topic' : dest.exchange;
        if (durable) {
          if (h['id'] === undefined)
            throw new StompProtocolError('Missing header', 'a durable subscription requires an id header');
          // Deterministic name so the subscription (and its messages) survive a reconnect.
          queue =
            h['x-queue-name'] ??
            `stomp-subscription-${this.clientId !== undefined ? this.clientId + '-' : ''}${id}`;
          const args = queueArguments(h);
          await session.declareQueue({
            name: queue,
            durable: true,
            autoDelete: false,
            exclusive: false,
            ...(args ? { arguments: args } : {}),
          });
          durableQueue = queue;
        } else {
          const d = await session.declareQueue({
            name: '',
            durable: false,
            exclusive: true,
            autoDelete: true,
          });
          queue = d.queue;
        }
        await session.bindQueue(queue, exchange, dest.kind === 'topic' ? dest.key : dest.key);
        break;
      }
    }
    await this.startConsumer(id, ack, queue, fixedDest, durableQueue, {
      ...(prefetch !== undefined ? { prefetch } : {}),
      ...(filter ? { filter } : {}),
      ...(h['exclusive'] === 'true' ? { exclusive: true } : {}),
    });
    this.receipt(frame);
  }

  private async startConsumer(
    id: string,
    ack: AckMode,
    queue: string,
    destination: string | undefined,
    durableQueue: string | undefined,
    opts: { prefetch?: number; filter?: (m: Message) => boolean; exclusive?: boolean },
  ): Promise<void> {
    // Checked here too: reply-to temp queues subscribe implicitly.
    if (this.subs.size >= this.cfg.maxSubscriptions) {
      throw new StompProtocolError(
        'Too many subscriptions',
        `at most ${this.cfg.maxSubscriptions} subscriptions per connection`,
      );
    }
    const sub: Subscription = {
      id,
      ack,
      consumerTag: '',
      queue,
      destination,
      durableQueue,
      unacked: new Set(),
      cancelled: false,
    };
    // Registered before consume() resolves: deliveries may start before it does.
    this.subs.set(id, sub);
    try {
      sub.consumerTag = await this.session!.consume(
        queue,
        { noAck: ack === 'auto', ...opts },
        {
          deliver: (d) => this.deliver(sub, d),
          cancelled: (reason) => {
            sub.cancelled = true;
            this.subs.delete(sub.id);
            this.sendErrorAndClose({
              message: 'Subscription cancelled',
              detail: `subscription '${sub.id}' cancelled by the broker: ${reason.message}`,
              internal: false,
            });
          },
        },
      );
    } catch (err) {
      this.subs.delete(id);
      throw err;
    }
  }

  /** The hot path: one MESSAGE frame per delivery. false tells the core to pause until drain. */
  private deliver(sub: Subscription, d: Delivery): boolean {
    if (this.state !== 'open') return false;
    const tag = d.deliveryTag;
    const mid = String(tag);
    const h = [
      'subscription',
      sub.id,
      'message-id',
      mid,
      'destination',
      sub.destination ?? destinationOf(d.exchange, d.routingKey),
      'redelivered',
      d.redelivered ? 'true' : 'false',
    ];
    if (sub.ack !== 'auto') {
      if (this.version >= 12) h.push('ack', mid);
      sub.unacked.add(tag);
      this.unacked.set(tag, sub);
    }
    appendPropertyHeaders(h, d.message.properties);
    const body = d.message.body;
    if (body.length >= ZERO_COPY_BODY) {
      // Large bodies go out by reference: the message's Buffer is shared, never copied.
      this.wroteSinceTick = true;
      return this.transport.writeParts(
        Buffer.from(encodeHead('MESSAGE', h, body.length, this.version), 'utf8'),
        body,
      );
    }
    return this.write(encodeFrame('MESSAGE', h, body, this.version));
  }

  private async onUnsubscribe(frame: Frame): Promise<void> {
    const h = frame.headers;
    const id = h['id'] ?? (this.version === 10 ? h['destination'] : undefined);
    if (id === undefined) throw new StompProtocolError('Missing header', 'UNSUBSCRIBE requires an id header');
    const sub = this.subs.get(id);
    if (!sub) throw new StompProtocolError('Unknown subscription', `no subscription with id '${id}'`);
    this.subs.delete(id);
    sub.cancelled = true;
    await this.session!.cancel(sub.consumerTag);
    if (sub.durableQueue !== undefined && (h['durable'] === 'true' || h['persistent'] === 'true')) {
      // Removing a durable subscription for good (RabbitMQ: UNSUBSCRIBE with durable:true).
      await this.session!.deleteQueue(sub.durableQueue);
    }
    this.receipt(frame);
  }

  // ---- ACK / NACK ---------------------------------------------------------------------------

  private onSettle(frame: Frame, outcome: SettleOutcome): void {
    const h = frame.headers;
    // 1.2: `id` (our `ack` header); 1.0/1.1: `message-id`.
    const raw = (this.version >= 12 ? (h['id'] ?? h['message-id']) : (h['message-id'] ?? h['id']))?.trim();
    if (raw === undefined)
      throw new StompProtocolError(
        'Missing header',
        `${frame.command} requires an ${this.version >= 12 ? 'id' : 'message-id'} header`,
      );
    const tag = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
    const sub = this.unacked.get(tag);
    if (sub === undefined)
      throw new StompProtocolError(
        'Unknown message',
        `${frame.command}: no unacknowledged message with id '${raw.slice(0, 64)}'`,
      );
    const txId = h['transaction'];
    const tx = txId === undefined ? undefined : this.txs.get(txId);
    if (txId !== undefined && !tx)
      throw new StompProtocolError('Invalid transaction', `transaction '${txId}' is not active`);

    // client mode is cumulative per subscription (STOMP spec): every earlier unacked message
    // of this subscription goes too; client-individual settles just this one.
    const tags: number[] = [];
    if (sub.ack === 'client') {
      for (const t of sub.unacked) {
        if (t > tag) break;
        tags.push(t);
      }
    } else tags.push(tag);
    for (const t of tags) {
      sub.unacked.delete(t);
      this.unacked.delete(t);
    }
    if (tx) {
      for (const t of tags) {
        tx.tx.settle(t, outcome, false);
        tx.settled.push([t, sub]);
      }
    } else if (tags.length > 1 && this.unacked.size === sub.unacked.size && this.txs.size === 0) {
      // Session-wide `multiple` is only right when no other subscription has unacked messages
      // and no open transaction holds settlements of its own.
      this.session!.settle(tag, outcome, true);
    } else {
      for (const t of tags) this.session!.settle(t, outcome, false);
    }
    this.receipt(frame);
  }

  // ---- transactions -------------------------------------------------------------------------

  private txHeader(frame: Frame): string {
    const id = frame.headers['transaction'];
    if (id === undefined)
      throw new StompProtocolError('Missing header', `${frame.command} requires a transaction header`);
    return id;
  }

  private onBegin(frame: Frame): void {
    const id = this.txHeader(frame);
    if (this.txs.has(id))
      throw new StompProtocolError('Invalid transaction', `transaction '${id}' is already active`);
    if (this.txs.size >= this.cfg.maxSubscriptions)
      throw new StompProtocolError('Too many transactions', 'too many open transactions');
    this.txs.set(id, { tx: this.session!.beginTransaction(), settled: [] });
    this.receipt(frame);
  }

  private async onCommit(frame: Frame): Promise<void> {
    const id = this.txHeader(frame);
    const t = this.txs.get(id);
    if (!t) throw new StompProtocolError('Invalid transaction', `transaction '${id}' is not active`);
    this.txs.delete(id);
    const outcomes = await t.tx.commit();
    if (outcomes.some((o) => !o.ok)) {
      throw new StompProtocolError('Transaction failed', `transaction '${id}': a message was not accepted`);
    }
    this.receipt(frame);
  }

  private onAbort(frame: Frame): void {
    const id = this.txHeader(frame);
    const t = this.txs.get(id);
    if (!t) throw new StompProtocolError('Invalid transaction', `transaction '${id}' is not active`);
    this.txs.delete(id);
    t.tx.rollback();
    // The acks never happened: those messages are unacked again and may be acked later.
    for (const [tag, sub] of t.settled.sort((a, b) => a[0] - b[0])) {
      sub.unacked.add(tag);
      this.unacked.set(tag, sub);
    }
    this.receipt(frame);
  }

  // ---- DISCONNECT / close -------------------------------------------------------------------

  private async onDisconnect(frame: Frame): Promise<void> {
    // Receipts of earlier SENDs come first: the DISCONNECT receipt promises all is done.
    if (this.pendingConfirms > 0) await new Promise<void>((r) => this.confirmWaiters.push(r));
    this.receipt(frame);
    this.state = 'closing';
    this.transport.end();
    await this.cleanup();
  }

  /** Releases everything: unacked messages go back to their queues, exclusive queues go. */
  cleanup(): Promise<void> {
    this.closedPromise ??= (async () => {
      if (this.state !== 'closing') this.state = 'closing';
      for (const t of this.timers) clearTimeout(t);
      this.timers = [];
      this.backlog.length = 0;
      for (const t of this.txs.values()) t.tx.rollback();
      this.txs.clear();
      const core = this.core;
      this.core = undefined;
      this.session = undefined;
      try {
        await core?.close('STOMP connection closed');
      } catch (err) {
        this.log.error({ err, conn: this.id }, 'releasing STOMP connection failed');
      }
      this.state = 'closed';
      this.onClosed(this);
    })();
    return this.closedPromise;
  }
}
