/**
 * One STOMP connection: the CONNECT handshake, frame ordering, and the dispatch of every
 * client frame onto one core Session (a STOMP connection is one session: one ordering
 * domain, one delivery-tag space). Frames are handled strictly in arrival order: when a
 * frame needs async core work (declare, consume, commit) later frames wait behind it.
 * What each frame does lives in its own module: subscriptions.ts, acks.ts,
 * transactions.ts, send.ts; the handshake's decisions in handshake.ts. The socket, its
 * write batching, read pauses, the memory alarm and the handshake deadline are the shared
 * connection layer's (@junction/net's Link).
 */
import type { Logger } from 'pino';
import type { BrokerApi, Connection, ConnectionInfo, Principal, Session } from '@junction/core';
import type { ConnectionDescription, Link, ServedConnection } from '@junction/net';
import { Acks } from './acks.js';
import type { StompConfig } from './config.js';
import type { StompContext } from './context.js';
import { encodeFrame, NUL_BYTE } from './encode.js';
import { describeError, StompProtocolError, type ErrorReport } from './errors.js';
import {
  clientProperties,
  login,
  negotiateHeartbeats,
  negotiateVersion,
  openVhost,
  versionName,
} from './handshake.js';
import { Heartbeats } from './heartbeats.js';
import { FrameParser, type Frame, type FrameError } from './parser.js';
import { ConnectionQueues } from './queues.js';
import { SendRouter } from './send.js';
import { Subscriptions } from './subscriptions.js';
import { Transactions } from './transactions.js';

const SERVER = 'Junction/0.1.0';

type State = 'connecting' | 'authenticating' | 'open' | 'closing' | 'closed';

/** The parts of a connection that exist once CONNECT succeeded. */
interface OpenParts {
  readonly session: Session;
  readonly subs: Subscriptions;
  readonly acks: Acks;
  readonly txs: Transactions;
  readonly sends: SendRouter;
}

export class StompConnection implements ServedConnection {
  readonly id: string;
  state: State = 'connecting';
  version = 0;
  principal: Principal | undefined;
  core: Connection | undefined;
  clientId: string | undefined;
  /** The CONNECT headers minus the passcode, for management. */
  clientProperties: Record<string, string> | undefined;
  private parts: OpenParts | undefined;
  private readonly parser: FrameParser;
  private readonly heartbeats: Heartbeats;
  private readonly backlog: Frame[] = [];
  private busy = false;
  /** A SEND met the memory alarm: it and every frame after it wait until the alarm clears. */
  private heldByAlarm = false;
  private closedPromise: Promise<void> | undefined;

  constructor(
    readonly link: Link,
    private readonly broker: BrokerApi,
    private readonly cfg: StompConfig,
    private readonly log: Logger,
  ) {
    this.id = link.id;
    this.parser = new FrameParser(
      { maxFrameSize: cfg.maxFrameSize, maxHeaders: cfg.maxHeaders, maxHeaderLength: cfg.maxHeaderLength },
      (f) => this.onFrame(f),
      (e) => this.onFrameError(e),
    );
    this.heartbeats = new Heartbeats(link, () => {
      this.log.info({ conn: this.id }, 'STOMP client heart-beats stopped; closing');
      this.link.destroy();
      void this.cleanup();
    });
    link.onData((chunk) => {
      if (this.state === 'closing' || this.state === 'closed') return;
      this.parser.push(chunk);
    });
    link.onDrain(() => this.parts?.session.resume());
    link.onClose(() => void this.cleanup());
  }

  describe(): ConnectionDescription {
    return {
      phase:
        this.state === 'open'
          ? 'open'
          : this.state === 'closing' || this.state === 'closed'
            ? 'closing'
            : 'starting',
      protocolVersion: this.info.protocolVersion ?? 'STOMP',
      user: this.principal?.username,
      vhost: this.core?.vhost,
      clientId: this.clientId,
      channels: 1,
      ...(this.clientProperties !== undefined ? { clientProperties: this.clientProperties } : {}),
    };
  }

  get info(): ConnectionInfo {
    return {
      id: this.id,
      protocol: 'stomp',
      protocolVersion: this.version ? `STOMP ${versionName(this.version)}` : 'STOMP',
      ...this.link.peer,
      ...(this.clientId !== undefined ? { clientId: this.clientId } : {}),
      ...(this.clientProperties !== undefined ? { clientProperties: this.clientProperties } : {}),
    };
  }

  // ---- output -------------------------------------------------------------------------------

  private send(command: string, headers: string[], body?: Buffer): void {
    if (this.state === 'closed') return;
    this.link.send(encodeFrame(command, headers, body, this.version));
  }

  private receipt(frame: Frame): void {
    const r = frame.headers['receipt'];
    if (r !== undefined) this.send('RECEIPT', ['receipt-id', r]);
  }

  private sendErrorAndClose(report: ErrorReport, receiptId?: string, extraHeaders: string[] = []): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const headers = [...extraHeaders, 'message', report.message, 'content-type', 'text/plain'];
    if (receiptId !== undefined) headers.push('receipt-id', receiptId);
    this.state = 'closing';
    this.link.end(encodeFrame('ERROR', headers, Buffer.from(report.detail, 'utf8'), this.version));
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
    if (this.busy || this.heldByAlarm || this.backlog.length > 0) {
      this.backlog.push(frame);
      if (this.backlog.length >= this.cfg.maxPendingFrames) this.link.pause('backlog', true);
      return;
    }
    this.dispatch(frame);
  }

  private dispatch(frame: Frame): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (frame.command === 'SEND' && this.link.alarmReason !== null) {
      // The memory alarm holds publishers only (as RabbitMQ): this SEND and what follows it
      // wait, and reading stops; a subscriber's ACKs and heart-beats are never held.
      this.heldByAlarm = true;
      this.backlog.unshift(frame);
      this.link.publishing();
      return;
    }
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
    while (
      !this.busy &&
      !this.heldByAlarm &&
      this.backlog.length > 0 &&
      this.state !== 'closing' &&
      this.state !== 'closed'
    ) {
      this.dispatch(this.backlog.shift()!);
    }
    if (this.backlog.length < this.cfg.maxPendingFrames / 2) this.link.pause('backlog', false);
  }

  private onAlarm(blocked: boolean): void {
    if (blocked || !this.heldByAlarm) return;
    this.heldByAlarm = false;
    this.drainBacklog();
  }

  private handle(frame: Frame): void | Promise<void> {
    const p = this.parts;
    if (p === undefined) {
      if (frame.command === 'CONNECT' || frame.command === 'STOMP') return this.onConnect(frame);
      throw new StompProtocolError(
        'Not connected',
        `expected CONNECT or STOMP, got ${frame.command.slice(0, 32)}`,
      );
    }
    switch (frame.command) {
      case 'SEND':
        return p.sends.send(frame);
      case 'SUBSCRIBE':
        return p.subs.subscribe(frame);
      case 'UNSUBSCRIBE':
        return p.subs.unsubscribe(frame);
      case 'ACK':
        return p.acks.settle(frame, 'ack');
      case 'NACK':
        return p.acks.settle(frame, Acks.nackOutcome(frame));
      case 'BEGIN':
        p.txs.begin(frame);
        return this.receipt(frame);
      case 'COMMIT':
        return p.txs.commit(frame).then(() => this.receipt(frame));
      case 'ABORT':
        // The acks never happened: those messages are unacked again and may be acked later.
        p.acks.restore(p.txs.abort(frame));
        return this.receipt(frame);
      case 'DISCONNECT':
        return this.onDisconnect(frame, p);
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
    if (this.state !== 'connecting') return; // a second CONNECT behind a pending one
    const h = frame.headers;
    const version = negotiateVersion(h['accept-version']);
    if (version === undefined) {
      this.sendErrorAndClose(
        {
          message: 'Supported protocol versions are 1.0,1.1,1.2',
          detail: `unsupported accept-version '${h['accept-version'] ?? ''}'`,
          internal: false,
        },
        undefined,
        ['version', '1.0,1.1,1.2'],
      );
      await this.cleanup();
      return;
    }
    this.version = version;
    this.parser.version = version === 10 ? 0 : version;
    const hb = negotiateHeartbeats(h, version, this.cfg.heartbeat);
    if (h['client-id'] !== undefined) this.clientId = h['client-id'];
    this.clientProperties = clientProperties(h);

    this.state = 'authenticating';
    let principal: Principal;
    try {
      principal = await login(this.broker, h, this.cfg, this.info, this.link.certificateLogin);
    } catch (err) {
      // The reason names the user a client certificate maps to, when that is how it logged in.
      this.log.info(
        { conn: this.id, user: h['login'], reason: describeError(err).detail },
        'STOMP authentication failed',
      );
      throw err;
    }
    if ((this.state as State) !== 'authenticating') return; // closed meanwhile
    this.principal = principal;
    this.core = openVhost(
      this.broker,
      principal,
      h['host'],
      this.cfg.defaultVhost,
      this.info,
      this.link.control(
        (reason) => this.closeByBroker(reason),
        (blocked) => this.onAlarm(blocked),
      ),
    );
    this.parts = this.openParts(this.core.openSession());
    this.state = 'open';

    const headers = ['version', versionName(version), 'session', this.parts.session.id, 'server', SERVER];
    // 1.0 has no heart-beating; some 1.0 clients still expect the header, saying "none".
    headers.push('heart-beat', version >= 11 ? hb.header : '0,0');
    // CONNECTED is never escaped (1.2 spec).
    this.link.send(encodeFrame('CONNECTED', headers, undefined, version, true));
    this.link.handshakeDone();
    this.heartbeats.start(hb.out, hb.inc);
    this.log.debug(
      { conn: this.id, user: principal.username, vhost: this.core.vhost, version: versionName(version) },
      'STOMP connected',
    );
  }

  private openParts(session: Session): OpenParts {
    const ctx: StompContext = {
      session,
      cfg: this.cfg,
      version: this.version,
      clientId: this.clientId,
      isOpen: () => this.state === 'open',
      send: (c, h, b) => this.send(c, h, b),
      receipt: (f) => this.receipt(f),
      errorAndClose: (r, id) => this.sendErrorAndClose(r, id),
      write: (f) => this.link.send(f),
      writeParts: (head, body) => this.link.send([head, body, NUL_BYTE]),
    };
    const txs = new Transactions(session, this.cfg.maxSubscriptions);
    const acks = new Acks(ctx, txs);
    const queues = new ConnectionQueues(ctx);
    const subs = new Subscriptions(ctx, queues, acks);
    return { session, subs, acks, txs, sends: new SendRouter(ctx, queues, subs, txs) };
  }

  // ---- DISCONNECT / close -------------------------------------------------------------------

  private async onDisconnect(frame: Frame, p: OpenParts): Promise<void> {
    // Receipts of earlier SENDs come first: the DISCONNECT receipt promises all is done.
    await p.sends.settled();
    this.receipt(frame);
    this.state = 'closing';
    this.link.end();
    await this.cleanup();
  }

  /** Releases everything: unacked messages go back to their queues, exclusive queues go. */
  cleanup(): Promise<void> {
    this.closedPromise ??= (async () => {
      if (this.state !== 'closing') this.state = 'closing';
      this.heartbeats.stop();
      this.backlog.length = 0;
      this.parts?.txs.rollbackAll();
      this.parts = undefined;
      const core = this.core;
      this.core = undefined;
      try {
        await core?.close('STOMP connection closed');
      } catch (err) {
        this.log.error({ err, conn: this.id }, 'releasing STOMP connection failed');
      }
      this.state = 'closed';
    })();
    return this.closedPromise;
  }
}
