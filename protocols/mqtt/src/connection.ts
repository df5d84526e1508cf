/**
 * One MQTT client connection: CONNECT and authentication, the packet loop, keepalive,
 * will messages, and the client's session (subscriptions.ts) in the core.
 *
 * Packets are handled strictly in order: while an asynchronous one (CONNECT, SUBSCRIBE,
 * UNSUBSCRIBE) is in progress, reading pauses and later packets wait, so a PUBLISH that
 * follows a SUBSCRIBE on the wire is routed after the subscription's queue is bound.
 */
import type { Logger } from 'pino';
import { isUtf8 } from 'node:buffer';
import type mqttPacket from 'mqtt-packet';
import { decodeWhole } from './connect-parser.js';
import type { ConnectionDescription, Link, LinkHandler, ServedConnection } from '@junction/net';
import {
  BrokerError,
  checkName,
  type BrokerApi,
  type Connection,
  type ConnectionInfo,
  type Message,
  type Principal,
  type Session,
  type StoredWill,
} from '@junction/core';
import { BROKER_SHUTDOWN } from '@junction/net';
import {
  MalformedPacket,
  PacketReader,
  PacketType,
  PINGRESP,
  ack5,
  ackPacket,
  auth5,
  connack,
  connack5,
  decodeAck5,
  decodeAuth5,
  decodeConnectProperties5,
  decodeDisconnect5,
  decodePacketId,
  decodePublish,
  decodeSubscribe,
  decodeUnsubscribe,
  disconnect5,
  publishHeader,
  requiredFlags,
  type PublishPacket,
  type RawPacket,
} from './codec.js';
import type { MqttConfig } from './config.js';
import {
  PROPERTIES_BY_QOS,
  fromCoreProperties,
  retainedProperties,
  toCoreProperties,
} from './message-properties.js';
import { NO_PROPERTIES, encodeProperties, type Properties } from './properties.js';
import { Reason, connectReturnCode, reasonFor } from './reason-codes.js';
import { MAX_RECEIVE_WINDOW, Subscriptions } from './subscriptions.js';
import { InboundAliases, OutboundAliases } from './topic-aliases.js';
import { EnhancedAuth, isSupportedMethod } from './enhanced-auth.js';
import { closingReason, connectRedirect, referenceFor } from './redirection.js';
import { topicNameProblem, topicToKey } from './topics.js';

const EMPTY = Buffer.alloc(0);
/** Session Expiry Interval meaning "never" (3.1.2.11.2). */
const NEVER_EXPIRES = 0xffffffff;
/** A Session Expiry Interval in ms; undefined: never. */
const expiryMs = (seconds: number): number | undefined =>
  seconds === NEVER_EXPIRES ? undefined : seconds * 1000;

/**
 * MQTT 5 Response Information (3.2.2.3.15) for a client that asks: a topic prefix of its own
 * (`reply/<client id>/`) to build Response Topics on. Only a convention: it grants nothing, the
 * client's permissions on `amq.topic` still decide what it may subscribe to.
 */
const responseInformation = (clientId: string): string => `reply/${clientId}/`;

/** Reason strings are for people reading logs; a long error message is cut, never the packet. */
const MAX_REASON_STRING = 256;
/** The largest MQTT packet: a 4-byte remaining length (268,435,455) and its header. */
const LARGEST_PACKET = 268_435_455 + 5;
/** MQTT 5 defaults when CONNECT leaves them out (3.1.2.11). */
const DEFAULT_RECEIVE_MAXIMUM = 65535;

/** What connections share: the broker, config, the client-id registry for takeover. */
export interface MqttContext {
  readonly broker: BrokerApi;
  readonly config: MqttConfig;
  readonly log: Logger;
  connectionCount(): number;
  /** Registers a client id; returns the connection it takes over from, if any. */
  claim(conn: MqttConnection): MqttConnection | undefined;
  release(conn: MqttConnection): void;
}

/** A CONNECT between its checks and its CONNACK: what the rest of connecting needs. */
interface PendingConnect {
  packet: mqttPacket.IConnectPacket;
  props: Properties;
  willProps: Properties | undefined;
  clean: boolean;
  assigned: boolean;
  info: ConnectionInfo;
}

interface Will {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** MQTT 5 will properties. */
  properties: Properties | undefined;
  /** MQTT 5 Will Delay Interval, ms. */
  delayMs: number;
}

export class MqttConnection implements ServedConnection, LinkHandler {
  readonly id: string;
  state: 'connecting' | 'open' | 'closing' = 'connecting';
  clientId = '';
  vhost: string | undefined;
  user: string | undefined;
  protocolVersion = 4;
  /** The client speaks MQTT 5: reason codes and properties on the wire. */
  v5 = false;
  keepaliveMs = 0;
  core: Connection | undefined;
  session: Session | undefined;
  subscriptions: Subscriptions | undefined;

  private readonly reader: PacketReader;
  /** Packets waiting for an asynchronous one; created by the first that has to wait. */
  private pending: RawPacket[] | undefined;
  private busy = false;
  private will: Will | undefined;
  /** Inbound QoS 2 packet ids published but not yet released (PUBREL): duplicates are not republished. */
  private awaitingRelease: Set<number> | undefined;
  /** Inbound QoS 1 publishes not yet acknowledged: with awaitingRelease, what Receive Maximum counts. */
  private inboundQos1 = 0;
  /**
   * What this connection published, while a subscription has No Local (identity, not
   * content); created by the first such publish.
   */
  private ownMessages: WeakSet<Message> | undefined;
  /** A newer connection with this client id took the session over (or ended it: Clean Start). */
  private takenOver: 'session ended' | 'session continues' | undefined;
  /**
   * MQTT 5: the largest packet the client accepts (its Maximum Packet Size); by default the
   * largest any packet can be (an integer field: Infinity is a 16-byte number box per connection).
   */
  private clientMaxPacket = LARGEST_PACKET;
  /** MQTT 5 topic aliases the client sets (up to ours) and ours (up to the client's maximum); made on first use. */
  private inAliases: InboundAliases | undefined;
  private outAliases: OutboundAliases | undefined;
  /** MQTT 5 Request Problem Information: 0 keeps reason strings off acknowledgements (3.1.2.11.7). */
  private problemInformation = true;
  /** MQTT 5 enhanced authentication, for a client that connected with an Authentication Method. */
  private auth: EnhancedAuth<PendingConnect> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly link: Link,
    private readonly ctx: MqttContext,
  ) {
    this.id = link.id;
    this.reader = new PacketReader(ctx.config.maxPacketSizeBeforeConnect);
    link.attach(this);
  }

  // LinkHandler
  linkData(chunk: Buffer): void {
    this.onData(chunk);
  }

  linkDrain(): void {
    this.session?.resume();
    this.subscriptions?.resumeDirect();
    this.subscriptions?.pumpRetained();
  }

  linkClosed(): void {
    void this.close('socket closed', { will: true });
  }

  describe(): ConnectionDescription {
    return {
      phase: this.state === 'connecting' ? 'starting' : this.state === 'open' ? 'open' : 'closing',
      protocolVersion: versionName(this.protocolVersion),
      user: this.user,
      vhost: this.vhost,
      clientId: this.clientId || undefined,
      subscriptions: this.subscriptions?.snapshot(),
    };
  }

  closeByBroker(reason: string): Promise<void> {
    const code = reason === BROKER_SHUTDOWN ? Reason.ServerShuttingDown : Reason.AdministrativeAction;
    return this.close(reason, { will: false, code });
  }

  get log(): Logger {
    return this.ctx.log;
  }

  /** A method, not a narrowed field read: it changes across awaits. */
  private get closed(): boolean {
    return this.state === 'closing';
  }

  // ---- reading -------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closing') return;
    try {
      this.reader.push(chunk, (p) => this.enqueue(p));
    } catch (err) {
      this.fail(err);
    }
  }

  private enqueue(p: RawPacket): void {
    if (this.busy || (this.pending?.length ?? 0) > 0) {
      (this.pending ??= []).push(p);
      this.pause('packet', true);
      return;
    }
    this.run(p);
  }

  private run(p: RawPacket): void {
    if (this.state === 'closing') return;
    try {
      const work = this.handle(p);
      if (work) {
        this.busy = true;
        this.pause('packet', true);
        work.then(
          () => {
            this.busy = false;
            this.drainPending();
          },
          (err: unknown) => this.fail(err),
        );
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private drainPending(): void {
    const pending = this.pending;
    while (!this.busy && pending && pending.length > 0 && this.state !== 'closing')
      this.run(pending.shift()!);
    if (!this.busy && (this.pending?.length ?? 0) === 0) this.pause('packet', false);
  }

  /**
   * Stops (on) or resumes reading for a reason. 'packet' (waiting for our own SUBSCRIBE or
   * CONNECT work, to keep packet order) is not flow control: management shows it as running.
   */
  pause(reason: string, on: boolean): void {
    this.link.pause(reason, on);
  }

  private handle(p: RawPacket): Promise<void> | void {
    if (p.type !== PacketType.PUBLISH && p.flags !== requiredFlags(p.type)) {
      throw new MalformedPacket(`reserved flags of packet type ${p.type} are wrong`);
    }
    if (this.state === 'connecting') {
      if (this.auth?.pendingConnect) return this.onConnectAuth(p, this.auth.pendingConnect);
      if (p.type !== PacketType.CONNECT) throw new MalformedPacket('the first packet must be CONNECT');
      return this.onConnect(p);
    }
    const v5 = this.v5;
    switch (p.type) {
      case PacketType.PUBLISH:
        // During a resource alarm this blocks the connection; subscribers' acks keep flowing.
        this.link.publishing();
        return this.onPublish(decodePublish(p, v5));
      case PacketType.PUBACK:
        // An MQTT 5 success without properties is the 3.1.1 form (3.4.2.1): no object to decode it.
        this.subscriptions!.acknowledged(
          v5 && p.body.length > 2 ? decodeAck5(p).packetId : decodePacketId(p),
        );
        return;
      case PacketType.PUBREC: {
        if (!v5) {
          const id = decodePacketId(p);
          this.subscriptions!.received(id);
          this.write(ackPacket(0x62, id));
          return;
        }
        const { packetId, reasonCode } = decodeAck5(p);
        // A PUBREC of 0x80 or above ends the QoS 2 flow there: no PUBREL (MQTT-4.3.3).
        if (reasonCode >= 0x80) this.subscriptions!.refused(packetId);
        else {
          const known = this.subscriptions!.received(packetId);
          this.write(ack5(0x62, packetId, known ? Reason.Success : Reason.PacketIdentifierNotFound));
        }
        return;
      }
      case PacketType.PUBCOMP:
        this.subscriptions!.completed(v5 ? decodeAck5(p).packetId : decodePacketId(p));
        return;
      case PacketType.PUBREL: {
        const id = v5 ? decodeAck5(p).packetId : decodePacketId(p);
        const known = this.awaitingRelease?.delete(id) ?? false;
        this.write(
          v5 ? ack5(0x70, id, known ? Reason.Success : Reason.PacketIdentifierNotFound) : ackPacket(0x70, id),
        );
        return;
      }
      case PacketType.SUBSCRIBE:
        return this.subscriptions!.subscribe(decodeSubscribe(p, v5));
      case PacketType.UNSUBSCRIBE:
        return this.subscriptions!.unsubscribe(decodeUnsubscribe(p, v5));
      case PacketType.PINGREQ:
        if (p.body.length !== 0) throw new MalformedPacket('PINGREQ with a body');
        this.write(PINGRESP);
        return;
      case PacketType.DISCONNECT: {
        // MQTT-3.14.4-3: a DISCONNECT discards the will; MQTT 5's reason 0x04 asks for it.
        const d = v5 ? decodeDisconnect5(p) : undefined;
        const withWill = d?.reasonCode === Reason.DisconnectWithWill;
        const expiry = d?.properties.sessionExpiryInterval;
        if (expiry !== undefined) {
          // 3.14.2.2.2: a session that was to end with the connection cannot be extended here.
          if (this.subscriptions!.expiryMs === 0 && expiry !== 0)
            throw new MalformedPacket(
              'Session Expiry Interval set in DISCONNECT after 0 in CONNECT',
              Reason.ProtocolError,
            );
          this.subscriptions!.expiryMs = expiryMs(this.cappedExpiry(expiry));
        }
        if (!withWill) this.will = undefined;
        void this.close('client disconnected', { will: withWill });
        return;
      }
      case PacketType.CONNECT:
        throw new MalformedPacket('a second CONNECT', Reason.ProtocolError); // MQTT-3.1.0-2
      case PacketType.AUTH:
        if (v5 && this.auth) {
          const answer = this.auth.reauthenticate(decodeAuth5(p), this.user!);
          this.write(auth5(answer.reasonCode, answer.properties));
          return;
        }
        // MQTT-4.12.0-7: AUTH only from a client that named an Authentication Method in CONNECT.
        if (v5) throw new MalformedPacket('AUTH without an authentication exchange', Reason.ProtocolError);
        throw new MalformedPacket('packet type 15 is not one a client sends');
      default:
        throw new MalformedPacket(`packet type ${p.type} is not one a client sends`);
    }
  }

  // ---- CONNECT -------------------------------------------------------------------------------

  private async onConnect(raw: RawPacket): Promise<void> {
    // From here on a malformed CONNECT of level 5 is answered with an MQTT 5 CONNACK.
    const v5 = protocolLevel(raw.whole) === 5;
    this.v5 = v5;
    let props: Properties = {};
    let willProps: Properties | undefined;
    if (v5) {
      // mqtt-packet keeps repeated or misplaced properties: ours refuse them (CONNACK 0x81/0x82).
      const decoded = decodeConnectProperties5(raw.whole);
      props = decoded.properties;
      willProps = decoded.will;
      if (willProps) this.checkMessageProperties(willProps);
      if (props.maximumPacketSize !== undefined) this.clientMaxPacket = props.maximumPacketSize;
      // Each outbound alias keeps its topic for the connection's life: no more of them than the
      // client may set (the client's 65535 would let one subscriber to '#' hold 65535 topics).
      const outAliases = Math.min(props.topicAliasMaximum ?? 0, this.ctx.config.topicAliasMaximum);
      if (outAliases > 0) this.outAliases = new OutboundAliases(outAliases);
      this.problemInformation = props.requestProblemInformation !== 0;
      // 3.1.2.11.10: Authentication Data belongs to a method.
      if (props.authenticationData !== undefined && props.authenticationMethod === undefined)
        return this.refuse(Reason.ProtocolError, 'Authentication Data without an Authentication Method');
      // MQTT-4.12.0-1: a method the server does not offer is refused.
      if (props.authenticationMethod !== undefined && !isSupportedMethod(props.authenticationMethod))
        return this.refuse(
          Reason.BadAuthenticationMethod,
          `authentication method ${props.authenticationMethod} is not supported`,
        );
    }
    const packet = parseConnect(raw.whole);
    if (packet === 'bad-version')
      return this.refuse(Reason.UnsupportedProtocolVersion, 'unsupported protocol version');
    if (!packet) throw new MalformedPacket('malformed CONNECT');
    const cfg = this.ctx.config;
    const redirect = connectRedirect(cfg);
    if (redirect !== undefined)
      return this.refuse(redirect, `this server sends clients to ${cfg.serverReference}`);
    this.protocolVersion = packet.protocolVersion ?? 4;
    const clean = packet.clean !== false;
    let clientId = packet.clientId;
    let assigned = false;
    if (!clientId) {
      // MQTT-3.1.3-8: in 3.1.1 an empty client id is only allowed with a clean session;
      // MQTT 5 assigns one whatever Clean Start says (MQTT-3.1.3-6) and says which in CONNACK.
      if (!clean && !v5)
        return this.refuse(Reason.ClientIdentifierNotValid, 'empty client id without a clean session');
      clientId = `junction-${this.id}-${Math.random().toString(36).slice(2, 10)}`;
      assigned = true;
    }
    // The client id keys the stored session and is part of its queue names: the core's one
    // name limit applies, refused here (MQTT-3.1.3-9) rather than when the session is saved.
    try {
      checkName('client id', clientId);
    } catch (err) {
      return this.refuse(Reason.ClientIdentifierNotValid, errorText(err));
    }
    if (cfg.maxConnections > 0 && this.ctx.connectionCount() > cfg.maxConnections) {
      return this.refuse(Reason.ServerUnavailable, 'connection limit reached');
    }
    const info = {
      id: this.id,
      protocol: 'mqtt' as const,
      protocolVersion: versionName(this.protocolVersion),
      ...this.link.peer,
      clientId,
    };
    const pending: PendingConnect = { packet, props, willProps, clean, assigned, info };
    this.clientId = clientId;
    if (props.authenticationMethod !== undefined) return this.beginEnhancedAuth(pending);
    // RabbitMQ's mqtt.ssl_cert_login: no username and no password on a connection whose client
    // certificate verified logs in as the user the certificate names.
    const cert =
      cfg.certLogin && packet.username === undefined && packet.password === undefined
        ? this.link.certificateLogin
        : undefined;
    if (cert && 'problem' in cert) return this.refuse(Reason.BadUserNameOrPassword, cert.problem);
    let vhost = cfg.defaultVhost;
    let username: string;
    /** Undefined: a certificate login. */
    let password: string | undefined;
    if (cert) {
      // Its name is used whole: a DN or a URI may hold colons.
      username = cert.user;
    } else {
      let login: string;
      if (packet.username === undefined) {
        if (!cfg.allowAnonymous) return this.refuse(Reason.NotAuthorized, 'anonymous access is disabled');
        ({ username: login, password } = cfg.anonymousUser);
      } else {
        login = packet.username;
        password = packet.password?.toString('utf8') ?? '';
      }
      ({ vhost, username } = splitLogin(login, cfg));
    }
    let principal;
    try {
      principal =
        password === undefined
          ? await this.ctx.broker.authenticateExternal(username, info)
          : await this.ctx.broker.authenticate({ username, password }, info);
    } catch (err) {
      return this.refuse(reasonFor(err, true), errorText(err));
    }
    return this.established(pending, principal, vhost, undefined);
  }

  /**
   * CONNECT named SCRAM-SHA-256: AUTH 0x18 with server-first, and the CONNECT waits for the
   * client's AUTH (within the handshake deadline). The user is the one SCRAM names.
   */
  private beginEnhancedAuth(pending: PendingConnect): Promise<void> | void {
    const method = pending.props.authenticationMethod!;
    // The password would be a second, unchecked credential beside the proof.
    if (pending.packet.password !== undefined)
      return this.refuse(Reason.NotAuthorized, `a Password together with Authentication Method ${method}`);
    this.auth = new EnhancedAuth(method, this.ctx.broker, pending.info, pending);
    let properties;
    try {
      properties = this.auth.begin(pending.props.authenticationData);
    } catch (err) {
      return this.refuse(reasonFor(err), errorText(err));
    }
    this.write(auth5(Reason.ContinueAuthentication, properties));
  }

  /** A packet while the CONNECT waits for the client's AUTH: only AUTH or DISCONNECT (MQTT-3.1.2-30). */
  private onConnectAuth(p: RawPacket, pending: PendingConnect): Promise<void> | void {
    if (p.type === PacketType.DISCONNECT) {
      void this.close('client disconnected during authentication', { will: false });
      return;
    }
    if (p.type !== PacketType.AUTH)
      return this.refuse(
        Reason.ProtocolError,
        `packet type ${p.type} before the authentication exchange ended`,
      );
    let done;
    try {
      done = this.auth!.finishConnect(decodeAuth5(p));
    } catch (err) {
      return this.refuse(reasonFor(err), errorText(err));
    }
    this.auth!.pendingConnect = undefined;
    // A User Name beside SCRAM may pick the vhost (`vhost:user`); its user must be SCRAM's.
    const { vhost, username } = splitLogin(
      pending.packet.username ?? done.principal.username,
      this.ctx.config,
    );
    if (username !== done.principal.username)
      return this.refuse(
        Reason.NotAuthorized,
        `User Name '${username}' is not the user '${done.principal.username}' SCRAM authenticated`,
      );
    return this.established(pending, done.principal, vhost, done.properties);
  }

  /** The client is who it says: its core connection, session, and CONNACK. */
  private async established(
    pending: PendingConnect,
    principal: Principal,
    vhost: string,
    /** Enhanced authentication's CONNACK properties (method and server-final). */
    authProps: Properties | undefined,
  ): Promise<void> {
    const { packet, props, willProps, clean, assigned, info } = pending;
    const cfg = this.ctx.config;
    const v5 = this.v5;
    const clientId = this.clientId;
    if (this.closed) return;
    try {
      this.core = this.ctx.broker.connect(principal, vhost, info, this.link.control(this));
    } catch (err) {
      return this.refuse(reasonFor(err), errorText(err));
    }
    this.vhost = vhost;
    // The login's user name as the user store holds it: one string for every connection of
    // the user instead of one decoded from each CONNECT.
    this.user = principal.username;
    const will = packet.will;
    if (will) {
      const problem = topicNameProblem(will.topic, cfg.maxTopicLevels);
      if (problem) throw new MalformedPacket(`will topic: ${problem}`, Reason.TopicNameInvalid);
      this.will = {
        topic: will.topic,
        payload: Buffer.from(will.payload),
        qos: (will.qos ?? 0) as 0 | 1 | 2,
        retain: will.retain === true,
        properties: willProps,
        delayMs: (willProps?.willDelayInterval ?? 0) * 1000,
      };
    }
    // Client-id takeover (MQTT-3.1.4-2): the older connection goes first, its unacked
    // messages back to the session's queues before this one resumes them.
    // A will still waiting out its delay is stored with the session: taking the session up
    // drops it, a Clean Start ends the session and the core publishes it (Subscriptions.open).
    const previous = this.ctx.claim(this);
    if (previous) {
      // The session is this connection's now: the older one must not end it as it closes.
      previous.takenOver = clean ? 'session ended' : 'session continues';
      await previous.close('client id taken over by a new connection', {
        will: true,
        code: Reason.SessionTakenOver,
      });
    }
    if (this.closed) return;
    try {
      this.session = this.core.openSession();
    } catch (err) {
      return this.refuse(reasonFor(err), errorText(err)); // the user's max-channels
    }
    // MQTT 5 Receive Maximum: the client takes at most that many QoS 1/2 messages unacknowledged.
    const window = Math.min(
      cfg.maxInflight,
      MAX_RECEIVE_WINDOW,
      props.receiveMaximum ?? DEFAULT_RECEIVE_MAXIMUM,
    );
    this.session.qos(window, true);
    // How long the session outlives the connection: 3.1.1's clean session is 0 or forever.
    const asked = v5 ? (props.sessionExpiryInterval ?? 0) : clean ? 0 : NEVER_EXPIRES;
    const expiry = this.cappedExpiry(asked);
    this.subscriptions = new Subscriptions(this, this.core, this.session, cfg, expiryMs(expiry), window);
    const sessionPresent = await this.subscriptions.open(clean);
    this.keepaliveMs = (packet.keepalive ?? 0) * 1000;
    this.reader.maxSize = cfg.maxPacketSize;
    this.state = 'open';
    this.write(
      v5
        ? connack5(sessionPresent, Reason.Success, {
            ...this.capabilities(assigned ? clientId : undefined),
            // 3.2.2.3.2: the server says so when it uses another interval than the client's.
            sessionExpiryInterval: expiry === asked ? undefined : expiry,
            // 3.2.2.3.15: asked for, the basis of reply topics for this client (README).
            responseInformation:
              props.requestResponseInformation === 1 ? responseInformation(clientId) : undefined,
            ...authProps,
          })
        : connack(sessionPresent && this.protocolVersion === 4, 0),
    );
    this.link.handshakeDone();
    if (sessionPresent) await this.subscriptions.resumeStored();
  }

  /** A Session Expiry Interval (seconds) within `--mqtt-max-session-expiry`. */
  private cappedExpiry(seconds: number): number {
    return Math.min(seconds, this.ctx.config.maxSessionExpiry);
  }

  /** What CONNACK tells an MQTT 5 client the server supports (3.2.2.3), truthfully. */
  private capabilities(assignedClientId: string | undefined): Properties {
    const cfg = this.ctx.config;
    return {
      // Maximum QoS is absent: QoS 2 is supported, and 2 is not a value the property may take.
      receiveMaximum: cfg.receiveMaximum,
      maximumPacketSize: cfg.maxPacketSize,
      retainAvailable: 1,
      topicAliasMaximum: cfg.topicAliasMaximum,
      wildcardSubscriptionAvailable: 1,
      subscriptionIdentifierAvailable: 1,
      sharedSubscriptionAvailable: 1,
      assignedClientIdentifier: assignedClientId,
    };
  }

  /** Refuses a CONNECT: CONNACK with the reason (the 3.1.1 return code for older clients), then close. */
  private async refuse(reason: number, why: string): Promise<void> {
    this.log.info(
      { conn: this.id, clientId: this.clientId || undefined, code: reason, why },
      'MQTT connection refused',
    );
    this.write(
      this.v5
        ? connack5(false, reason, {
            reasonString: reasonString(why),
            ...referenceFor(this.ctx.config, reason),
          })
        : connack(false, connectReturnCode(reason)),
    );
    await this.close(why, { will: false });
  }

  // ---- PUBLISH in ----------------------------------------------------------------------------

  private onPublish(p: PublishPacket): void {
    if (this.v5) {
      const alias = p.properties!.topicAlias;
      if (alias !== undefined)
        p.topic = (this.inAliases ??= new InboundAliases(this.ctx.config.topicAliasMaximum)).resolve(
          p.topic,
          alias,
        );
      else if (p.topic.length === 0)
        throw new MalformedPacket('empty topic name without a topic alias', Reason.ProtocolError); // 3.3.2.1
      this.checkMessageProperties(p.properties!);
    }
    const problem = topicNameProblem(p.topic, this.ctx.config.maxTopicLevels);
    if (problem) throw new MalformedPacket(problem, Reason.TopicNameInvalid);
    // 3.3.2.3.2: a payload said to be UTF-8 is checked; one that is not is refused (0x99).
    if (this.v5 && p.properties!.payloadFormatIndicator === 1 && !isUtf8(p.payload)) {
      if (p.qos === 0) throw new MalformedPacket('payload is not UTF-8', Reason.PayloadFormatInvalid);
      const why = this.ackProperties('the payload is marked UTF-8 but is not');
      this.write(ack5(p.qos === 1 ? 0x40 : 0x50, p.packetId, Reason.PayloadFormatInvalid, why));
      return;
    }
    if (p.qos === 2 && this.awaitingRelease?.has(p.packetId)) {
      // A retransmission of a QoS 2 message already published: exactly once means not again.
      this.write(ackPacket(0x50, p.packetId));
      return;
    }
    // MQTT-3.3.4-7: no more unacknowledged QoS 1/2 publishes than the Receive Maximum we announced.
    if (
      this.v5 &&
      p.qos > 0 &&
      this.inboundQos1 + (this.awaitingRelease?.size ?? 0) >= this.ctx.config.receiveMaximum
    )
      throw new MalformedPacket(
        'more unacknowledged publishes than Receive Maximum',
        Reason.ReceiveMaximumExceeded,
      );
    this.publish(p.topic, p.payload, p.qos, p.retain, p.packetId, p.properties);
  }

  /** Message properties a client may not send (PUBLISH and will). */
  private checkMessageProperties(p: Properties): void {
    if (p.subscriptionIdentifiers !== undefined)
      throw new MalformedPacket('a subscription identifier in a client PUBLISH', Reason.ProtocolError); // MQTT-3.3.4-6
    // MQTT-3.3.2-14: a Response Topic is a topic name, wildcards excluded.
    const problem =
      p.responseTopic === undefined
        ? null
        : topicNameProblem(p.responseTopic, this.ctx.config.maxTopicLevels);
    if (problem) throw new MalformedPacket(`response topic: ${problem}`, Reason.ProtocolError);
  }

  private publish(
    topic: string,
    payload: Buffer,
    qos: 0 | 1 | 2,
    retain: boolean,
    packetId: number,
    properties: Properties | undefined,
  ): void {
    const msg = mqttMessage(topic, payload, qos, retain, properties);
    const routingKey = msg.routingKey;
    if (this.subscriptions?.anyNoLocal) (this.ownMessages ??= new WeakSet()).add(msg);
    // A retained copy must not pin the socket chunk its payload was sliced from.
    const retainCopy = retain
      ? payload.length > 0
        ? { ...msg, properties: retainedProperties(msg), body: Buffer.from(payload) }
        : null
      : undefined;
    // The publish goes first: it checks write permission on amq.topic, which setting or
    // clearing (an empty payload) the retained message needs as well (a read-only user's
    // empty retained publish is refused, not a way to delete what others retained).
    if (qos === 0) {
      this.session!.publish(msg);
      if (retainCopy !== undefined)
        this.core!.retain(routingKey, retainCopy).catch((err: unknown) => this.fail(err));
      return;
    }
    if (packetId !== 0) {
      if (qos === 2) (this.awaitingRelease ??= new Set()).add(packetId);
      else this.inboundQos1++;
    }
    let retained: Promise<void> | undefined;
    let ackWhenRetained: (() => void) | undefined;
    this.session!.publish(msg, undefined, (outcome) => {
      if (packetId === 0) return; // the will: nobody to acknowledge
      if (qos === 1) this.inboundQos1--;
      if (!outcome.ok) {
        this.awaitingRelease?.delete(packetId);
        if (this.v5) {
          // MQTT 5 says why: the client drops the message instead of retrying it (4.3.2, 4.3.3).
          const code = outcome.storeFailed ? Reason.UnspecifiedError : Reason.QuotaExceeded;
          const why = outcome.storeFailed ? 'the message could not be stored' : 'a queue is full';
          this.write(ack5(qos === 1 ? 0x40 : 0x50, packetId, code, this.ackProperties(why)));
          return;
        }
        // MQTT 3.1.1 has no negative acknowledgement: without PUBACK/PUBREC the client keeps
        // the message and sends it again after reconnecting.
        this.log.warn({ conn: this.id, topic }, 'MQTT publish refused by a queue; not acknowledged');
        return;
      }
      const ack = ackPacket(qos === 1 ? 0x40 : 0x50, packetId);
      if (retainCopy === undefined) {
        this.write(ack);
        return;
      }
      // The acknowledgement waits until the retained message is durable too.
      const send = (): void => {
        if (retained)
          retained.then(
            () => this.write(ack),
            (err: unknown) => this.fail(err),
          );
        else this.write(ack);
      };
      if (retained === undefined) ackWhenRetained = send;
      else send();
    });
    if (retainCopy !== undefined) {
      retained = this.core!.retain(routingKey, retainCopy);
      // A failed store write ends the connection even when no acknowledgement waits on it.
      retained.catch((err: unknown) => this.fail(err));
      ackWhenRetained?.();
    }
  }

  // ---- writing -------------------------------------------------------------------------------

  /** Queues a packet (the Link batches a turn's packets into one write); false: the peer is slow. */
  write(buf: Buffer): boolean {
    return this.link.send(buf);
  }

  /**
   * The header of an outbound PUBLISH, or undefined when the packet would exceed the MQTT 5
   * client's Maximum Packet Size: such a message is dropped as if delivered (MQTT-3.1.2-25).
   */
  publishHeader(
    topic: Buffer,
    qos: number,
    packetId: number,
    dup: boolean,
    retain: boolean,
    message: Message,
    /** When the message expires in its queue, epoch ms; 0: never. */
    expiresAt: number,
    /** MQTT 5 Subscription Identifier of the subscription it is delivered through; 0: none. */
    subscriptionId: number,
  ): Buffer | undefined {
    const length = message.body.length;
    if (!this.v5) return publishHeader(topic, qos, packetId, dup, retain, length);
    let props = fromCoreProperties(message, expiresAt, Date.now());
    if (subscriptionId !== 0) (props ??= {}).subscriptionIdentifiers = [subscriptionId];
    const name = this.outAliases && topic.toString('latin1');
    const alias = name === undefined ? undefined : this.outAliases!.lookup(name);
    if (alias) (props ??= {}).topicAlias = alias.alias;
    const block = props ? encodeProperties(props) : NO_PROPERTIES;
    // A topic the client knows by its alias is sent as the alias and an empty topic.
    const header = publishHeader(alias?.known ? EMPTY : topic, qos, packetId, dup, retain, length, block);
    if (header.length + length > this.clientMaxPacket) return undefined;
    if (alias && !alias.known) this.outAliases!.confirm(name!, alias.alias);
    return header;
  }

  writePublish(header: Buffer, payload: Buffer): boolean {
    return payload.length > 0 ? this.link.send([header, payload]) : this.link.send(header);
  }

  publishedHere(msg: Message): boolean {
    return this.ownMessages?.has(msg) ?? false;
  }

  /** Properties of a failure acknowledgement: a reason string, unless the client asked for none. */
  ackProperties(why: string): Properties | undefined {
    return this.problemInformation ? { reasonString: reasonString(why) } : undefined;
  }

  // ---- closing -------------------------------------------------------------------------------

  /** How long a will waits: its delay, unless the session ends sooner (its expiry). */
  private willDelayMs(will: Will): number {
    const expiry = this.subscriptions?.expiryMs;
    return expiry === undefined ? will.delayMs : Math.min(will.delayMs, expiry);
  }

  /**
   * A protocol violation or an unexpected failure: MQTT 3.1.1 answers both by disconnecting,
   * MQTT 5 says why first (CONNACK before the session is up, DISCONNECT after).
   */
  fail(err: unknown): void {
    if (err instanceof MalformedPacket)
      this.log.debug({ conn: this.id, why: err.message }, 'MQTT protocol error; disconnecting');
    else if (err instanceof BrokerError)
      this.log.info({ conn: this.id, why: err.message }, 'MQTT client refused; disconnecting');
    else this.log.error({ err, conn: this.id }, 'MQTT connection failed');
    void this.close(errorText(err), { will: true, code: reasonFor(err) });
  }

  /**
   * Closes once; `will`: publish the will message (abnormal end, MQTT-3.1.2-8); `code`: the
   * reason an MQTT 5 client is told, in a DISCONNECT (or a CONNACK while connecting).
   */
  close(reason: string, opts: { will: boolean; code?: number }): Promise<void> {
    this.closing ??= this.doClose(reason, opts.will, opts.code);
    return this.closing;
  }

  private async doClose(reason: string, publishWill: boolean, code: number | undefined): Promise<void> {
    if (this.v5 && code !== undefined && this.state !== 'closing') {
      const connecting = this.state === 'connecting';
      const sent = closingReason(this.ctx.config, code, connecting);
      const properties = { reasonString: reasonString(reason), ...referenceFor(this.ctx.config, sent) };
      this.write(connecting ? connack5(false, sent, properties) : disconnect5(sent, properties));
    }
    this.state = 'closing';
    this.pending = undefined;
    const will = publishWill ? this.will : undefined;
    this.will = undefined;
    const delayMs = will ? this.willDelayMs(will) : 0;
    /** A delayed will, stored with the session: the core publishes it when it is due. */
    let delayed: StoredWill | undefined;
    if (will && this.session && delayMs > 0 && this.takenOver !== 'session ended') {
      // A takeover that continues the session is a new connection to it: no will (3.1.3.2.2).
      if (!this.takenOver)
        delayed = {
          message: mqttMessage(will.topic, will.payload, will.qos, will.retain, will.properties),
          retain: will.retain,
          publishAt: Date.now() + delayMs,
          user: this.user!,
        };
    } else if (will && this.session) {
      // No delay, or the session ends now (a Clean Start took it over): the will goes now.
      try {
        this.publish(will.topic, will.payload, will.qos, will.retain, 0, will.properties);
      } catch (err) {
        this.log.info({ conn: this.id, err }, 'MQTT will message refused');
      }
    }
    // Sends what is queued (a refusing CONNACK), then closes; a peer that never reads is cut off.
    this.link.end();
    try {
      if (!this.takenOver)
        await this.subscriptions?.connectionEnding(delayed).catch((err: unknown) => {
          this.log.error({ err, conn: this.id }, 'MQTT session could not be ended or kept');
        });
      // Callers do not wait for a close (`void this.close(...)` on socket events): a failure
      // to release the core session is logged here, never left as an unhandled rejection.
      await this.core?.close(reason).catch((err: unknown) => {
        this.log.error({ err, conn: this.id }, 'MQTT connection could not release its core session');
      });
    } finally {
      this.ctx.release(this);
    }
  }
}

/** The core message of an MQTT publish. */
function mqttMessage(
  topic: string,
  payload: Buffer,
  qos: 0 | 1 | 2,
  retain: boolean,
  properties: Properties | undefined,
): Message {
  return {
    exchange: 'amq.topic',
    routingKey: topicToKey(topic),
    properties: properties || retain ? toCoreProperties(qos, properties, retain) : PROPERTIES_BY_QOS[qos],
    body: payload,
  };
}

function parseConnect(whole: Buffer): mqttPacket.IConnectPacket | 'bad-version' | undefined {
  // MQTT-3.1.2-2: a known protocol name with a level we do not speak gets CONNACK 1, which
  // needs the level before mqtt-packet sees the rest.
  const level = protocolLevel(whole);
  if (level !== undefined && level !== 3 && level !== 4 && level !== 5) return 'bad-version';
  const { packet, error } = decodeWhole(whole);
  if (error) return /protocol version/i.test(error.message) ? 'bad-version' : undefined;
  return packet?.cmd === 'connect' ? packet : undefined;
}

function protocolLevel(whole: Buffer): number | undefined {
  let pos = 1;
  while (pos < whole.length && (whole[pos]! & 0x80) !== 0) pos++;
  pos++;
  if (pos + 2 > whole.length) return undefined;
  const nameLength = whole.readUInt16BE(pos);
  const name = whole.toString('latin1', pos + 2, pos + 2 + nameLength);
  if (name !== 'MQTT' && name !== 'MQIsdp') return undefined;
  return whole[pos + 2 + nameLength];
}

/** RabbitMQ's convention: a username of `vhost:user` picks the vhost. */
function splitLogin(login: string, cfg: MqttConfig): { vhost: string; username: string } {
  const colon = login.indexOf(':');
  return colon > 0
    ? { vhost: login.slice(0, colon), username: login.slice(colon + 1) }
    : { vhost: cfg.defaultVhost, username: login };
}

function versionName(level: number): string {
  return level === 3 ? 'MQTT 3.1' : level === 5 ? 'MQTT 5.0' : 'MQTT 3.1.1';
}

/** A reason string of bounded length. */
function reasonString(why: string): string {
  return why.length <= MAX_REASON_STRING ? why : `${why.slice(0, MAX_REASON_STRING - 3)}...`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
