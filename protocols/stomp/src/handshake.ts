/**
 * The CONNECT handshake's decisions: the version, the heart-beat intervals, who the client
 * logs in as (anonymous login only when configured, never as an administrator) and which
 * vhost it gets.
 */
import {
  BrokerError,
  type BrokerApi,
  type CertificateLogin,
  type Connection,
  type ConnectionControl,
  type ConnectionInfo,
  type Credentials,
  type Principal,
} from '@junction/core';
import type { StompConfig } from './config.js';
import { StompProtocolError } from './errors.js';

const VERSIONS = [
  ['1.2', 12],
  ['1.1', 11],
  ['1.0', 10],
] as const;

export function versionName(version: number): string {
  return version === 12 ? '1.2' : version === 11 ? '1.1' : version === 10 ? '1.0' : '';
}

/** The highest version both sides speak (no accept-version: STOMP 1.0), or undefined. */
export function negotiateVersion(acceptVersion: string | undefined): number | undefined {
  const accepted = (acceptVersion ?? '1.0').split(',').map((v) => v.trim());
  return VERSIONS.find(([v]) => accepted.includes(v))?.[1];
}

/**
 * Heart-beats (STOMP 1.1 §Heart-beating): each side uses the larger of what one can do and
 * the other wants; 0 on either side disables that direction. Returns the intervals in ms
 * and the CONNECTED header value.
 */
export function negotiateHeartbeats(
  h: Record<string, string>,
  version: number,
  [sx, sy]: readonly [number, number],
): { out: number; inc: number; header: string } {
  let cx = 0;
  let cy = 0;
  const hb = h['heart-beat'];
  if (hb !== undefined && version >= 11) {
    const m = /^\s*(\d{1,9})\s*,\s*(\d{1,9})\s*$/.exec(hb);
    if (!m)
      throw new StompProtocolError(
        'Invalid heart-beat header',
        `heart-beat must be "cx,cy", got '${hb.slice(0, 64)}'`,
      );
    cx = Number(m[1]);
    cy = Number(m[2]);
  }
  const out = sx === 0 || cy === 0 ? 0 : Math.max(sx, cy);
  const inc = cx === 0 || sy === 0 ? 0 : Math.max(cx, sy);
  return { out, inc, header: `${out ? sx : 0},${inc ? sy : 0}` };
}

/** The CONNECT headers minus the passcode, bounded, for management. */
export function clientProperties(h: Record<string, string>): Record<string, string> {
  const props = Object.create(null) as Record<string, string>;
  let count = 0;
  for (const name in h) {
    if (name === 'passcode' || ++count > 32) continue;
    props[name] = h[name]!.slice(0, 256);
  }
  return props;
}

/**
 * Authenticates the CONNECT. Without `login` and `passcode` over a verified client
 * certificate (and certificate login on), the client is the user the certificate names
 * (RabbitMQ's stomp.ssl_cert_login). Otherwise, without a `login` the client is anonymous:
 * refused unless anonymous login is configured, and then it is the configured user, which may
 * not be an administrator (an anonymous peer must never hold the broker's keys).
 */
export async function login(
  broker: BrokerApi,
  h: Record<string, string>,
  cfg: StompConfig,
  info: ConnectionInfo,
  certificate: CertificateLogin | undefined,
): Promise<Principal> {
  if (cfg.certLogin && certificate && h['login'] === undefined && h['passcode'] === undefined)
    return certificateLogin(broker, certificate, info);
  const anonymous = h['login'] === undefined;
  let creds: Credentials;
  if (!anonymous) creds = { username: h['login']!, password: h['passcode'] ?? '' };
  else if (cfg.anonymousUser)
    creds = { username: cfg.anonymousUser.login, password: cfg.anonymousUser.passcode };
  else throw new StompProtocolError('Access refused', 'a login is required (anonymous login is disabled)');
  let principal: Principal;
  try {
    principal = await broker.authenticate(creds, info);
  } catch (err) {
    throw accessRefused(creds.username, err);
  }
  if (anonymous && principal.tags.includes('administrator'))
    throw new StompProtocolError(
      'Access refused',
      `anonymous login maps to '${principal.username}', an administrator: refused`,
    );
  return principal;
}

/**
 * The user a verified certificate names, whole (a DN or a URI may hold colons). That user may
 * be an administrator: the operator's CA vouched for the peer, unlike an anonymous one.
 */
async function certificateLogin(
  broker: BrokerApi,
  certificate: CertificateLogin,
  info: ConnectionInfo,
): Promise<Principal> {
  if ('problem' in certificate)
    throw new StompProtocolError('Access refused', `Access refused: ${certificate.problem}`);
  try {
    return await broker.authenticateExternal(certificate.user, info);
  } catch (err) {
    throw accessRefused(certificate.user, err);
  }
}

function accessRefused(username: string, err: unknown): StompProtocolError {
  const why = err instanceof BrokerError ? err.message : 'authentication failed';
  return new StompProtocolError('Access refused', `Access refused for user '${username}': ${why}`);
}

/**
 * RabbitMQ semantics for `host`: it names the vhost when such a vhost exists; a missing
 * host, or one that is not a vhost name (clients often send the DNS host name), means
 * the default vhost. Access refused on an existing vhost is an error.
 */
export function openVhost(
  broker: BrokerApi,
  principal: Principal,
  host: string | undefined,
  defaultVhost: string,
  info: ConnectionInfo,
  control: ConnectionControl,
): Connection {
  if (host !== undefined && host !== '' && host !== defaultVhost) {
    try {
      return broker.connect(principal, host, info, control);
    } catch (err) {
      if (!(err instanceof BrokerError && err.subject === 'unknown-vhost')) throw err;
    }
  }
  return broker.connect(principal, defaultVhost, info, control);
}
