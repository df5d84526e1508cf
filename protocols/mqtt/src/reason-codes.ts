/**
 * MQTT 5 reason codes (spec 2.4) and the one place that maps failures to them: the core's
 * typed errors (BrokerError code and subject) and our own packet errors become a v5 reason
 * code, and a v5 reason code becomes the MQTT 3.1.1 CONNACK return code or SUBACK failure
 * when the client speaks 3.1.1.
 */
import { BrokerError } from '@junction/core';

export const enum Reason {
  Success = 0x00,
  GrantedQos1 = 0x01,
  GrantedQos2 = 0x02,
  DisconnectWithWill = 0x04,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerShuttingDown = 0x8b,
  BadAuthenticationMethod = 0x8c,
  KeepAliveTimeout = 0x8d,
  SessionTakenOver = 0x8e,
  TopicFilterInvalid = 0x8f,
  TopicNameInvalid = 0x90,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  UseAnotherServer = 0x9c,
  ServerMoved = 0x9d,
  SharedSubscriptionsNotSupported = 0x9e,
  SubscriptionIdentifiersNotSupported = 0xa1,
}

/**
 * A packet the server will not take: the connection ends. MQTT 3.1.1 just closes; MQTT 5
 * sends CONNACK (before the session is up) or DISCONNECT with `reasonCode` first.
 */
export class MalformedPacket extends Error {
  constructor(
    message: string,
    readonly reasonCode: number = Reason.MalformedPacket,
  ) {
    super(message);
  }
}

/**
 * The v5 reason code of a failure. `login`: the error came from checking credentials, where
 * ACCESS_REFUSED means a bad user name or password rather than a missing permission.
 */
export function reasonFor(err: unknown, login = false): number {
  if (err instanceof MalformedPacket) return err.reasonCode;
  if (!(err instanceof BrokerError)) return Reason.UnspecifiedError;
  if (err.subject === 'limit-reached') return Reason.QuotaExceeded; // vhost/user limits, max-subscriptions
  switch (err.code) {
    case 'ACCESS_REFUSED':
      return login ? Reason.BadUserNameOrPassword : Reason.NotAuthorized;
    case 'NOT_ALLOWED':
      return Reason.NotAuthorized; // an unknown vhost or one the user may not use
    case 'CONNECTION_FORCED':
      return Reason.AdministrativeAction;
    case 'PRECONDITION_FAILED':
    case 'RESOURCE_LOCKED':
    case 'NOT_FOUND':
      return Reason.ImplementationSpecificError;
    default:
      return Reason.UnspecifiedError;
  }
}

/** MQTT 3.1.1 CONNACK return code (table 3.1) for a v5 refusal code. */
export function connectReturnCode(reason: number): number {
  switch (reason) {
    case Reason.UnsupportedProtocolVersion:
      return 1;
    case Reason.ClientIdentifierNotValid:
      return 2;
    case Reason.ServerUnavailable:
    case Reason.QuotaExceeded:
    case Reason.UseAnotherServer:
    case Reason.ServerMoved:
      return 3;
    case Reason.BadUserNameOrPassword:
    case Reason.BadAuthenticationMethod:
      return 4;
    default:
      return 5;
  }
}

/** MQTT 3.1.1 has one SUBACK failure code. */
export const subackCode = (reason: number, v5: boolean): number => (v5 || reason < 0x80 ? reason : 0x80);
