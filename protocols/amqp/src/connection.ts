/**
 * One AMQP 0-9-1 connection: the reader (socket -> frame parser), the connection-class
 * state machine (start/tune/open/close, AMQP 0-9-1 §2.2.4), heartbeats, and the channel
 * table. Channel-level frames go to AmqpChannel, which owns the core Session.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
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
import { FrameWriter } from './writer.js';

export interface AmqpConfig {
  frameMax: number;
  channelMax: number;
  /** Seconds; 0 disables. */
  heartbeat: number;
  maxMessageSize: number;
}

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
/** Time a peer gets to complete the handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

let connectionCounter = 0;

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

export class AmqpConnection {
  readonly id = `amqp-${++connectionCounter}`;
  readonly writer: FrameWriter;
  readonly connectedAt = Date.now();
  state: State = 'awaiting-header';
  frameMax = FRAME_MIN_SIZE;
  channelMax: number;
  heartbeat = 0;
  bytesIn = 0;
  clientProperties: FieldTable = {};
  principal: Principal | undefined;
  core: Connection | undefined;
  readonly channels = new Map<number, AmqpChannel>();
  /** Channels we closed, awaiting the peer's channel.close-ok; their other frames are dropped (§2.3.7). */
  readonly closingChannels = new Set<number>();
  private readonly parser: FrameParser;
  private lastReadAt = Date.now();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  /** A resource alarm is set: stop reading once this connection publishes. */
  private alarm = false;
  private readonly pausedBy = new Set<'alarm' | 'flow'>();
  private framingBroken = false;

  constructor(
    readonly socket: Socket,
    private readonly broker: BrokerApi,
    readonly config: AmqpConfig,
    readonly log: Logger,
    private readonly version: string,
    private readonly onClosed: (c: AmqpConnection) => void,
  ) {
    this.channelMax = config.channelMax;
    this.writer = new FrameWriter(socket, () => {
      for (const ch of this.channels.values()) ch.resume();
    });
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
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err, conn: this.id }, 'socket error'));
    socket.on('close', () => void this.cleanup());
    this.closeTimer = setTimeout(() => {
      if (this.state !== 'open') {
        this.log.info({ conn: this.id, state: this.state }, 'handshake timeout');
        socket.destroy();
      }
    }, HANDSHAKE_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  get info(): ConnectionInfo {
    return {
      id: this.id,
      protocol: 'amqp',
      protocolVersion: 'AMQP 0-9-1',
      remoteAddress: this.socket.remoteAddress ?? '',
      remotePort: this.socket.remotePort ?? 0,
      localPort: this.socket.localPort ?? 0,
      clientProperties: this.clientProperties,
    };
  }

  capability(name: string): boolean {
    const caps = this.clientProperties['capabilities'];
    return typeof caps === 'object' && caps !== null && (caps as FieldTable)[name] === true;
  }

  // ---- reading ------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.lastReadAt = Date.now();
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
      this.socket.end(PROTOCOL_HEADER);
      this.state = 'closed';
      return;
    }
    this.state = 'awaiting-start-ok';
    this.sendMethod(0, 'connection.start', {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: serverProperties(this.version),
      mechanisms: Buffer.from('PLAIN AMQPLAIN'),
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
    if (
      type === FrameType.METHOD &&
      this.alarm &&
      !this.pausedBy.has('alarm') &&
      this.channels.has(channel)
    ) {
      this.maybePauseForAlarm();
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
        this.writer.flush();
        this.state = 'closed';
        this.socket.end();
        return;
      case 'connection.close-ok':
        if (this.state === 'closing') {
          this.state = 'closed';
          this.socket.end();
        }
        return;
      case 'connection.blocked':
      case 'connection.unblocked':
      case 'connection.update-secret':
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
    let creds: { username: string; password: string };
    try {
      creds = parseCredentials(args.mechanism, response);
      this.principal = await this.broker.authenticate(creds, this.info);
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
        this.socket.destroy();
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
    this.core = this.broker.connect(this.principal!, vhost, this.info, {
      close: (reason) => this.closeByBroker(reason),
      setBlocked: (blocked, reason) => this.setBlocked(blocked, reason),
      throttle: (on) => this.pauseReading('flow', on),
    });
    this.state = 'open';
    clearTimeout(this.closeTimer);
    this.sendMethod(0, 'connection.open-ok', { knownHosts: '' });
  }

  // ---- heartbeats ---------------------------------------------------------------------------

  private startHeartbeats(): void {
    if (this.heartbeat <= 0) return;
    const intervalMs = (this.heartbeat * 1000) / 2;
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      // §4.2.7: a peer that sends nothing for two heartbeat intervals is gone.
      if (now - this.lastReadAt > this.heartbeat * 2000) {
        this.log.info({ conn: this.id }, 'missed heartbeats; closing');
        this.socket.destroy();
        return;
      }
      if (now - this.writer.lastWriteAt >= intervalMs) this.writer.send(encodeHeartbeat());
    }, intervalMs);
    this.heartbeatTimer.unref();
  }

  // ---- resource alarm (connection.blocked) ------------------------------------------------------

  private setBlocked(blocked: boolean, reason: string): void {
    this.alarm = blocked;
    if (this.capability('connection.blocked')) {
      if (blocked) this.sendMethod(0, 'connection.blocked', { reason });
      else this.sendMethod(0, 'connection.unblocked', {});
    }
    if (!blocked) this.pauseReading('alarm', false);
  }

  /** RabbitMQ blocks a connection's reading only once it publishes during an alarm. */
  private maybePauseForAlarm(): void {
    this.pauseReading('alarm', true);
  }

  /** Reading stops while any reason holds: a resource alarm, or publisher flow control. */
  private pauseReading(reason: 'alarm' | 'flow', on: boolean): void {
    const before = this.pausedBy.size;
    if (on) this.pausedBy.add(reason);
    else this.pausedBy.delete(reason);
    if (before === 0 && this.pausedBy.size > 0) this.socket.pause();
    else if (before > 0 && this.pausedBy.size === 0 && this.state !== 'closed') this.socket.resume();
  }

  /** In "flow": held back by publisher flow control (shown by management as RabbitMQ does). */
  get inFlow(): boolean {
    return this.pausedBy.has('flow');
  }

  // ---- writing ------------------------------------------------------------------------------

  sendMethod(channel: number, name: string, args: Record<string, unknown>): void {
    if (this.state === 'closed') return;
    this.writer.send(encodeMethodFrame(channel, name, args));
  }

  // ---- closing ------------------------------------------------------------------------------

  /** A hard error: connection.close with the error's code; the peer's close-ok (or a timeout) ends the socket. */
  hardError(err: BrokerError, classId = 0, methodId = 0): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.log.info({ conn: this.id, code: err.replyCode, reason: err.message }, 'closing connection on error');
    if (this.state === 'awaiting-header') {
      this.socket.destroy();
      return;
    }
    this.sendMethod(0, 'connection.close', { ...closeArgs(err, classId, methodId) });
    this.state = 'closing';
    void this.releaseCore();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  /** The broker (management, shutdown) closes us: 320 CONNECTION_FORCED. */
  closeByBroker(reason: string): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.state === 'closed') return resolve();
      this.socket.once('close', () => resolve());
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
    this.onClosed(this);
  }
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
