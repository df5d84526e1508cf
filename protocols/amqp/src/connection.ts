/**
 * One AMQP 0-9-1 connection: the reader (link -> frame parser), the connection-class
 * state machine (start/tune/open/close, AMQP 0-9-1 §2.2.4), heartbeats, and the channel
 * table. Channel-level frames go to AmqpChannel, which owns the core Session. The transport
 * (ids, write batching, read pauses, alarms, handshake deadline) is @junction/net's Link.
 */
import type { Logger } from 'pino';
import type { ConnectionDescription, Link, ServedConnection } from '@junction/net';
import {
  BrokerError,
  type BrokerApi,
  type Connection,
  type ConnectionInfo,
  type FieldTable,
  type Principal,
} from '@junction/core';
import { AmqpChannel } from './channel.js';
import { asBrokerError, closeArgs } from './close-codes.js';
import {
  FrameType,
  PROTOCOL_HEADER,
  createFrameParser,
  decodeFieldTableBody,
  decodeMethod,
  encodeHeartbeat,
  encodeMethodFrame,
  isCodecError,
  type AmqpMethod,
  type FrameParser,
} from './wire/index.js';

export interface AmqpConfig {
  frameMax: number;
  channelMax: number;
  /** Seconds; 0 disables. */
  heartbeat: number;
  maxMessageSize: number;
  /**
   * Most consumers per channel (RabbitMQ's consumer_max_per_channel); one more closes the
   * connection with 530 as RabbitMQ does. 0 = no limit.
   */
  consumerMaxPerChannel: number;
  /** Accept to connection.open-ok, absolute (RabbitMQ's handshake_timeout); 0 disables. */
  handshakeTimeoutMs: number;
  /**
   * SASL mechanisms offered, in this order (RabbitMQ's auth_mechanisms). EXTERNAL (log in as
   * the user the client certificate names) is offered only on a TLS connection whose client
   * certificate verified; leave it out to turn certificate login off.
   */
  authMechanisms: readonly AuthMechanism[];
}

export type AuthMechanism = 'PLAIN' | 'AMQPLAIN' | 'EXTERNAL';
export const AUTH_MECHANISMS: readonly AuthMechanism[] = ['PLAIN', 'AMQPLAIN', 'EXTERNAL'];

type State =
  | 'awaiting-header'
  | 'awaiting-start-ok'
  | 'authenticating'
  | 'awaiting-tune-ok'
  | 'awaiting-open'
  | 'open'
  | 'closing'
  | 'closed';

/** AMQP 0-9-1 §4.2.3: frame-max may not be below this. */
const FRAME_MIN_SIZE = 4096;
/** Time a peer gets to answer our connection.close with close-ok. */
const CLOSE_TIMEOUT_MS = 1000;
/** class 60 (basic), method 40 (publish), as the first four bytes of a method frame's payload. */
const BASIC_PUBLISH = (60 << 16) | 40;

export const serverProperties = (version: string): FieldTable => ({
  product: 'Junction',
  version,
  platform: `Node.js ${process.version}`,
  copyright: 'Junction contributors',
  information: 'Licensed under the Apache License 2.0',
  cluster_name: 'junction',
  capabilities: {
    publisher_confirms: true,
    exchange_exchange_bindings: true,
    'basic.nack': true,
    consumer_cancel_notify: true,
    'connection.blocked': true,
    consumer_priorities: true,
    authentication_failure_close: true,
    per_consumer_qos: true,
    direct_reply_to: false,
  },
});

export class AmqpConnection implements ServedConnection {
  readonly id: string;
  state: State = 'awaiting-header';
  frameMax = FRAME_MIN_SIZE;
  channelMax: number;
  heartbeat = 0;
  clientProperties: FieldTable = {};
  principal: Principal | undefined;
  core: Connection | undefined;
  readonly channels = new Map<number, AmqpChannel>();
  /** Channels we closed, awaiting the peer's channel.close-ok; their other frames are dropped (§2.3.7). */
  readonly closingChannels = new Set<number>();
  private readonly parser: FrameParser;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  /** connection.blocked was sent and connection.unblocked is owed. */
  private toldBlocked = false;
  private framingBroken = false;

  constructor(
    readonly link: Link,
    private readonly broker: BrokerApi,
    readonly config: AmqpConfig,
    readonly log: Logger,
    private readonly version: string,
  ) {
    this.id = link.id;
    this.channelMax = config.channelMax;
    this.parser = createFrameParser({
      maxFrameSize: FRAME_MIN_SIZE,
      onHeader: (ok) => this.onProtocolHeader(ok),
      onFrame: (type, channel, payload) => {
        // Errors in handling a well-framed frame must not unwind into the parser: the
        // framing is intact, so the peer's close-ok can still be read.
        try {
          this.onFrame(type, channel, payload);
        } catch (err) {
          this.hardError(toBrokerError(err));
        }
      },
    });
    link.onData((chunk) => this.onData(chunk));
    link.onDrain(() => {
      for (const ch of this.channels.values()) ch.resume();
    });
    link.onClose(() => void this.cleanup());
  }

  get info(): ConnectionInfo {
    return {
      id: this.id,
      protocol: 'amqp',
      protocolVersion: 'AMQP 0-9-1',
      ...this.link.peer,
      clientProperties: this.clientProperties,
    };
  }

  describe(): ConnectionDescription {
    return {
      phase:
        this.state === 'open'
          ? 'open'
          : this.state === 'closing' || this.state === 'closed'
            ? 'closing'
            : 'starting',
      protocolVersion: 'AMQP 0-9-1',
      user: this.principal?.username,
      vhost: this.core?.vhost,
      channels: this.channels.size,
      clientProperties: this.clientProperties as Record<string, unknown>,
    };
  }

  capability(name: string): boolean {
    const caps = this.clientProperties['capabilities'];
    return typeof caps === 'object' && caps !== null && (caps as FieldTable)[name] === true;
  }

  // ---- reading ------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    if (this.framingBroken) return;
    try {
      this.parser.push(chunk);
    } catch (err) {
      // The byte stream lost its framing: nothing after this can be trusted, not even a close-ok.
      this.framingBroken = true;
      this.hardError(toBrokerError(err));
    }
  }

  private onProtocolHeader(ok: boolean): void {
    if (!ok) {
      // AMQP 0-9-1 §4.2.2: answer a bad protocol header with the one we speak, then close.
      this.link.end(PROTOCOL_HEADER);
      this.state = 'closed';
      return;
    }
    this.state = 'awaiting-start-ok';
    this.sendMethod(0, 'connection.start', {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: serverProperties(this.version),
      mechanisms: Buffer.from(this.mechanisms().join(' ')),
      locales: Buffer.from('en_US'),
    });
  }

  private onFrame(type: number, channel: number, payload: Buffer): void {
    if (this.state === 'closed') return;
    if (type === FrameType.HEARTBEAT) {
      // §4.2.7: heartbeat frames must use channel 0.
      if (channel !== 0)
        throw new BrokerError('FRAME_ERROR', 'FRAME_ERROR - heartbeat frame on a channel other than 0');
      return;
    }
    if (channel === 0) {
      if (type !== FrameType.METHOD) {
        throw new BrokerError('UNEXPECTED_FRAME', `UNEXPECTED_FRAME - frame type ${type} on channel 0`);
      }
      this.onConnectionMethod(decodeMethod(payload));
      return;
    }
    if (this.state === 'closing') return;
    if (this.state !== 'open') {
      throw new BrokerError(
        'CHANNEL_ERROR',
        `CHANNEL_ERROR - frame on channel ${channel} before connection.open`,
      );
    }
    // A resource alarm blocks publishers only: acks, qos and flow keep being read.
    if (
      this.link.alarmReason !== null &&
      type === FrameType.METHOD &&
      payload.length >= 4 &&
      payload.readUInt32BE(0) === BASIC_PUBLISH
    ) {
      this.link.publishing();
    }
    const ch = this.channels.get(channel);
    if (ch) {
      ch.onFrame(type, payload);
      return;
    }
    if (type !== FrameType.METHOD) {
      if (this.closingChannels.has(channel)) return;
      throw new BrokerError(
        'UNEXPECTED_FRAME',
        `UNEXPECTED_FRAME - content frame on unopened channel ${channel}`,
      );
    }
    const m = decodeMethod(payload);
    if (this.closingChannels.has(channel)) {
      if (m.name === 'channel.close-ok') this.closingChannels.delete(channel);
      else if (m.name === 'channel.close') this.sendMethod(channel, 'channel.close-ok', {});
      return;
    }
    if (m.name !== 'channel.open') {
      throw new BrokerError(
        'CHANNEL_ERROR',
        `CHANNEL_ERROR - expected 'channel.open' on channel ${channel}, got '${m.name}'`,
      );
    }
    if (channel > this.channelMax) {
      throw new BrokerError(
        'NOT_ALLOWED',
        `NOT_ALLOWED - channel ${channel} exceeds channel_max ${this.channelMax}`,
      );
    }
    this.channels.set(channel, new AmqpChannel(this, channel, this.core!.openSession()));
    this.sendMethod(channel, 'channel.open-ok', { channelId: Buffer.alloc(0) });
  }

  private onConnectionMethod(m: AmqpMethod): void {
    switch (m.name) {
      case 'connection.start-ok':
        return this.expect('awaiting-start-ok', m, () => void this.onStartOk(m.args));
      case 'connection.tune-ok':
        return this.expect('awaiting-tune-ok', m, () => this.onTuneOk(m.args));
      case 'connection.open':
        return this.expect('awaiting-open', m, () => this.onOpen(m.args));
      case 'connection.close':
        // §2.2.4: the peer closes; confirm and release everything.
        this.sendMethod(0, 'connection.close-ok', {});
        this.state = 'closed';
        this.link.end();
        return;
      case 'connection.close-ok':
        if (this.state === 'closing') {
          this.state = 'closed';
          this.link.end();
        }
        return;
      case 'connection.update-secret':
        return this.expect('open', m, () => void this.onUpdateSecret(m.args));
      case 'connection.blocked':
      case 'connection.unblocked':
      case 'connection.secure-ok':
        if (this.state === 'closing') return;
        throw new BrokerError(
          'NOT_IMPLEMENTED',
          `NOT_IMPLEMENTED - ${m.name} is not supported from a client`,
        );
      default:
        if (this.state === 'closing') return;
        throw new BrokerError('COMMAND_INVALID', `COMMAND_INVALID - ${m.name} on channel 0`);
    }
  }

  private expect(state: State, m: AmqpMethod, then: () => void): void {
    if (this.state === 'closing') return;
    if (this.state !== state)
      throw new BrokerError('COMMAND_INVALID', `COMMAND_INVALID - unexpected ${m.name}`);
    then();
  }

  private async onStartOk(args: {
    clientProperties: FieldTable;
    mechanism: string;
    response: Buffer | string;
  }): Promise<void> {
    this.clientProperties = args.clientProperties ?? {};
    // §2.2.4: the client waits for tune; anything it sends meanwhile is a protocol violation.
    this.state = 'authenticating';
    const response = Buffer.isBuffer(args.response) ? args.response : Buffer.from(args.response, 'latin1');
    try {
      this.principal = await this.login(args.mechanism, response);
    } catch (err) {
      const e = asBrokerError(err);
      this.log.info({ conn: this.id, reason: e.message }, 'authentication failed');
      // RabbitMQ's authentication_failure_close: say why; older clients just see the socket close (§4.2.2).
      if (this.capability('authentication_failure_close') || e.code !== 'ACCESS_REFUSED') {
        this.hardError(
          new BrokerError(e.code === 'ACCESS_REFUSED' ? 'ACCESS_REFUSED' : e.code, e.message, {
            scope: 'connection',
          }),
        );
      } else {
        this.state = 'closed';
        this.link.destroy();
      }
      return;
    }
    if (this.state !== 'authenticating') return;
    this.state = 'awaiting-tune-ok';
    this.sendMethod(0, 'connection.tune', {
      channelMax: this.config.channelMax,
      frameMax: this.config.frameMax,
      heartbeat: this.config.heartbeat,
    });
  }

  /** The mechanisms connection.start offers this connection. */
  private mechanisms(): AuthMechanism[] {
    return this.config.authMechanisms.filter((m) => m !== 'EXTERNAL' || this.link.certificateLogin);
  }

  private async login(mechanism: string, response: Buffer): Promise<Principal> {
    if (!(this.mechanisms() as string[]).includes(mechanism)) {
      throw new BrokerError(
        'COMMAND_INVALID',
        `COMMAND_INVALID - unknown authentication mechanism '${mechanism}'`,
        { scope: 'connection' },
      );
    }
    if (mechanism !== 'EXTERNAL')
      return this.broker.authenticate(parseCredentials(mechanism, response), this.info);
    // The response (an authorization identity some clients send) is ignored, as RabbitMQ does:
    // the certificate alone names the user.
    const cert = this.link.certificateLogin!;
    if ('problem' in cert) {
      throw new BrokerError(
        'ACCESS_REFUSED',
        `ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL: ${cert.problem}`,
        { scope: 'connection' },
      );
    }
    return this.broker.authenticateExternal(cert.user, this.info);
  }

  private onTuneOk(args: { channelMax: number; frameMax: number; heartbeat: number }): void {
    const frameMax = args.frameMax === 0 ? this.config.frameMax : args.frameMax;
    if (frameMax < FRAME_MIN_SIZE || frameMax > this.config.frameMax) {
      throw new BrokerError(
        'NOT_ALLOWED',
        `NOT_ALLOWED - frame_max=${args.frameMax} outside [${FRAME_MIN_SIZE}, ${this.config.frameMax}]`,
      );
    }
    if (args.channelMax > this.config.channelMax) {
      throw new BrokerError(
        'NOT_ALLOWED',
        `NOT_ALLOWED - channel_max=${args.channelMax} above ${this.config.channelMax}`,
      );
    }
    this.frameMax = frameMax;
    this.channelMax = args.channelMax === 0 ? this.config.channelMax : args.channelMax;
    this.parser.setMaxFrameSize(frameMax);
    this.heartbeat = args.heartbeat;
    this.state = 'awaiting-open';
    this.startHeartbeats();
  }

  private onOpen(args: { virtualHost: string }): void {
    const vhost = args.virtualHost || '/';
    this.core = this.broker.connect(
      this.principal!,
      vhost,
      this.info,
      this.link.control(
        (reason) => this.closeByBroker(reason),
        (blocked, reason) => this.tellBlocked(blocked, reason),
      ),
    );
    this.state = 'open';
    this.sendMethod(0, 'connection.open-ok', { knownHosts: '' });
    this.link.handshakeDone();
    // An alarm already set when we connected: amqplib refuses connection.blocked before open-ok.
    const alarm = this.link.alarmReason;
    if (alarm !== null) this.tellBlocked(true, alarm);
  }

  /**
   * connection.update-secret (RabbitMQ's extension, used to rotate OAuth tokens): the new
   * secret must authenticate the connection's own user, or the connection closes with 530.
   */
  private async onUpdateSecret(args: { newSecret: Buffer | string; reason: string }): Promise<void> {
    const secret = Buffer.isBuffer(args.newSecret) ? args.newSecret.toString('utf8') : args.newSecret;
    const username = this.principal!.username;
    try {
      const principal = await this.broker.authenticate({ username, password: secret }, this.info);
      if (principal.username !== username) throw new Error(`the secret is for user '${principal.username}'`);
      this.principal = principal;
    } catch (err) {
      this.log.info({ conn: this.id, user: username, reason: errorText(err) }, 'update-secret refused');
      this.hardError(
        new BrokerError('NOT_ALLOWED', `NOT_ALLOWED - new secret refused for user '${username}'`, {
          scope: 'connection',
        }),
        10,
        70,
      );
      return;
    }
    if (this.state !== 'open') return;
    this.log.info({ conn: this.id, user: username, reason: args.reason }, 'secret updated');
    this.sendMethod(0, 'connection.update-secret-ok', {});
  }

  // ---- heartbeats ---------------------------------------------------------------------------

  private startHeartbeats(): void {
    if (this.heartbeat <= 0) return;
    const intervalMs = (this.heartbeat * 1000) / 2;
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      // §4.2.7: a peer that sends nothing for two heartbeat intervals is gone (unless we
      // stopped reading it: its heartbeats are then waiting unread).
      if (this.link.isSilentFor(this.heartbeat * 2000, now)) {
        this.log.info({ conn: this.id }, 'missed heartbeats; closing');
        this.link.destroy();
        return;
      }
      if (now - this.link.lastWriteAt >= intervalMs) this.link.send(encodeHeartbeat());
    }, intervalMs);
    this.heartbeatTimer.unref();
  }

  // ---- resource alarm (connection.blocked) ------------------------------------------------------

  /**
   * RabbitMQ's connection.blocked extension, to clients that announced it, after open-ok
   * only. Reading itself is paused by the Link once this connection publishes.
   */
  private tellBlocked(blocked: boolean, reason: string): void {
    if (!this.capability('connection.blocked')) return;
    if (blocked && !this.toldBlocked && this.state === 'open') {
      this.toldBlocked = true;
      this.sendMethod(0, 'connection.blocked', { reason });
    } else if (!blocked && this.toldBlocked) {
      this.toldBlocked = false;
      this.sendMethod(0, 'connection.unblocked', {});
    }
  }

  // ---- writing ------------------------------------------------------------------------------

  sendMethod(channel: number, name: string, args: Record<string, unknown>): void {
    if (this.state === 'closed') return;
    this.link.send(encodeMethodFrame(channel, name, args));
  }

  // ---- closing ------------------------------------------------------------------------------

  /** A hard error: connection.close with the error's code; the peer's close-ok (or a timeout) ends the socket. */
  hardError(err: BrokerError, classId = 0, methodId = 0): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.log.info({ conn: this.id, code: err.replyCode, reason: err.message }, 'closing connection on error');
    if (this.state === 'awaiting-header') {
      this.link.destroy();
      return;
    }
    this.sendMethod(0, 'connection.close', { ...closeArgs(err, classId, methodId) });
    this.state = 'closing';
    this.releaseCore().catch((err: unknown) => {
      this.log.error({ err, conn: this.id }, 'releasing connection failed');
    });
    this.closeTimer = setTimeout(() => this.link.destroy(), CLOSE_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  /** The broker (management, shutdown) closes us: 320 CONNECTION_FORCED. */
  closeByBroker(reason: string): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.state === 'closed' || this.link.closed) return resolve();
      this.link.onClose(() => resolve());
      this.hardError(new BrokerError('CONNECTION_FORCED', `CONNECTION_FORCED - ${reason}`));
      if ((this.state as State) === 'closed') resolve();
    });
  }

  private async releaseCore(): Promise<void> {
    for (const ch of this.channels.values()) ch.release();
    this.channels.clear();
    const core = this.core;
    this.core = undefined;
    await core?.close();
  }

  private async cleanup(): Promise<void> {
    this.state = 'closed';
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.closeTimer);
    try {
      await this.releaseCore();
    } catch (err) {
      this.log.error({ err, conn: this.id }, 'releasing connection failed');
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function toBrokerError(err: unknown): BrokerError {
  return isCodecError(err) ? new BrokerError(err.code, err.message) : asBrokerError(err);
}

/** PLAIN: "\0user\0password" (RFC 4616); AMQPLAIN: a field table (without its length) with LOGIN and PASSWORD. */
export function parseCredentials(
  mechanism: string,
  response: Buffer,
): { username: string; password: string } {
  if (mechanism === 'PLAIN') {
    const parts = response.toString('utf8').split('\u0000');
    if (parts.length !== 3)
      throw new BrokerError('ACCESS_REFUSED', 'ACCESS_REFUSED - malformed PLAIN response', {
        scope: 'connection',
      });
    return { username: parts[1]!, password: parts[2]! };
  }
  if (mechanism === 'AMQPLAIN') {
    let table: FieldTable;
    try {
      table = decodeFieldTableBody(response);
    } catch {
      throw new BrokerError('ACCESS_REFUSED', 'ACCESS_REFUSED - malformed AMQPLAIN response', {
        scope: 'connection',
      });
    }
    const login = table['LOGIN'];
    const password = table['PASSWORD'];
    const str = (v: unknown) =>
      Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'string' ? v : undefined;
    const u = str(login);
    const p = str(password);
    if (u === undefined || p === undefined)
      throw new BrokerError('ACCESS_REFUSED', 'ACCESS_REFUSED - AMQPLAIN needs LOGIN and PASSWORD', {
        scope: 'connection',
      });
    return { username: u, password: p };
  }
  throw new BrokerError(
    'COMMAND_INVALID',
    `COMMAND_INVALID - unknown authentication mechanism '${mechanism}'`,
    { scope: 'connection' },
  );
}
