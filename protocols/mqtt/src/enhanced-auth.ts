/**
 * MQTT 5 enhanced authentication (4.12) with SCRAM-SHA-256, as EMQX offers it: CONNECT names
 * the method and carries client-first, the server answers AUTH 0x18 with server-first, the
 * client AUTH 0x18 with client-final, and CONNACK 0x00 carries server-final. Re-authentication
 * (4.12.1) is the same exchange started by the client's AUTH 0x19 and ended by the server's
 * AUTH 0x00. One exchange at a time; the SCRAM work per message is a few HMACs (the keys are
 * stored, no PBKDF2 at login), and the messages are bounded in the core.
 */
import {
  SCRAM_SHA_256,
  ScramRefused,
  type BrokerApi,
  type ConnectionInfo,
  type Principal,
} from '@junction/core';
import { MalformedPacket, Reason } from './reason-codes.js';
import type { Properties } from './properties.js';

const EMPTY = Buffer.alloc(0);

/** The methods a CONNECT may name; any other gets CONNACK 0x8C (MQTT-4.12.0-1). */
export const isSupportedMethod = (method: string): boolean => method === SCRAM_SHA_256;

/** A client AUTH packet, decoded. */
export interface AuthPacket {
  reasonCode: number;
  properties: Properties;
}

/** One connection's enhanced authentication: its method, and the exchange in flight if any. */
export class EnhancedAuth<Pending> {
  private login: ReturnType<BrokerApi['scram']> | undefined;

  constructor(
    readonly method: string,
    private readonly broker: BrokerApi,
    private readonly info: ConnectionInfo,
    /** The CONNECT waiting for the exchange to end (dropped once it has). */
    public pendingConnect: Pending | undefined,
  ) {}

  /** CONNECT's Authentication Data (client-first): the AUTH 0x18 properties to answer with. */
  begin(data: Buffer | undefined): Properties {
    this.login = this.broker.scram(this.info);
    return this.continueWith(refusing(() => this.login!.start(data ?? EMPTY)));
  }

  /** The client's AUTH during CONNECT: the principal, and CONNACK's properties. */
  finishConnect(p: AuthPacket): { principal: Principal; properties: Properties } {
    if (p.reasonCode !== Reason.ContinueAuthentication)
      throw new MalformedPacket(`AUTH reason 0x${hex(p.reasonCode)} before CONNACK`, Reason.ProtocolError);
    return this.finish(p);
  }

  /**
   * An AUTH after CONNACK (re-authentication, 4.12.1): the AUTH to answer with. The user must
   * stay the same one: a connection's permissions were checked for it.
   */
  reauthenticate(p: AuthPacket, user: string): { reasonCode: number; properties: Properties } {
    if (p.reasonCode === Reason.ReAuthenticate) {
      if (this.login)
        throw new MalformedPacket('a re-authentication is already in flight', Reason.ProtocolError);
      this.checkMethod(p);
      return {
        reasonCode: Reason.ContinueAuthentication,
        properties: this.begin(p.properties.authenticationData),
      };
    }
    if (p.reasonCode !== Reason.ContinueAuthentication || !this.login)
      throw new MalformedPacket(
        `AUTH reason 0x${hex(p.reasonCode)} outside a re-authentication`,
        Reason.ProtocolError,
      );
    const { principal, properties } = this.finish(p);
    if (principal.username !== user)
      throw new MalformedPacket(
        `re-authenticated as '${principal.username}', not as the connection's user '${user}'`,
        Reason.NotAuthorized,
      );
    return { reasonCode: Reason.Success, properties };
  }

  private finish(p: AuthPacket): { principal: Principal; properties: Properties } {
    this.checkMethod(p);
    const login = this.login;
    this.login = undefined;
    if (!login) throw new MalformedPacket('AUTH without an exchange in flight', Reason.ProtocolError);
    const { principal, serverFinal } = refusing(() => login.finish(p.properties.authenticationData ?? EMPTY));
    return { principal, properties: { authenticationMethod: this.method, authenticationData: serverFinal } };
  }

  /** MQTT-4.12.0-5 / 4.12.1-1: every AUTH names the CONNECT's method. */
  private checkMethod(p: AuthPacket): void {
    const named = p.properties.authenticationMethod;
    if (named !== this.method)
      throw new MalformedPacket(
        `AUTH names method '${named ?? ''}', not the connection's '${this.method}'`,
        Reason.BadAuthenticationMethod,
      );
  }

  private continueWith(data: Buffer): Properties {
    return { authenticationMethod: this.method, authenticationData: data };
  }
}

/**
 * A SCRAM refusal as the reason code MQTT 5 gives it: 0x8C when the user has no SCRAM keys
 * (the method cannot work for it), 0x87 otherwise (a wrong proof, an unknown user, a
 * malformed or oversized message, a replayed nonce).
 */
function refusing<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (!(err instanceof ScramRefused)) throw err;
    throw new MalformedPacket(
      err.message,
      err.noCredentials ? Reason.BadAuthenticationMethod : Reason.NotAuthorized,
    );
  }
}

const hex = (n: number): string => n.toString(16).padStart(2, '0');
