/**
 * TLS settings to node:tls options, and what management shows of a TLS connection.
 */
import type { PeerCertificate, TLSSocket, TlsOptions } from 'node:tls';
import type { ClientCertMode, TlsSettings, TlsSnapshot } from '@junction/core';

/** The certificate part of the settings: what setSecureContext() swaps without a restart. */
export function secureContextOptions(tls: TlsSettings): TlsOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca !== undefined ? { ca: tls.ca as TlsOptions['ca'] } : {}),
    ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    minVersion: tls.minVersion ?? 'TLSv1.2',
    ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
  };
}

/** Options for tls.createServer / https.createServer. */
export function serverOptions(tls: TlsSettings): TlsOptions {
  const mode = clientCertMode(tls);
  return {
    ...secureContextOptions(tls),
    requestCert: mode !== 'none',
    // 'optional' lets a client without a certificate in; one with a bad certificate is
    // refused in acceptsPeer() (Node would let it in unverified).
    rejectUnauthorized: mode === 'required',
  };
}

export function clientCertMode(tls: TlsSettings): ClientCertMode {
  return tls.clientCert ?? 'none';
}

/** Under 'optional', a client that sends a certificate must send a valid one. */
export function acceptsPeer(socket: TLSSocket, mode: ClientCertMode): boolean {
  if (mode !== 'optional' || socket.authorized) return true;
  return Object.keys(socket.getPeerCertificate()).length === 0;
}

export function tlsSnapshot(socket: TLSSocket): TlsSnapshot {
  const peer = socket.getPeerCertificate();
  return {
    protocol: socket.getProtocol() ?? '',
    cipher: socket.getCipher()?.name ?? '',
    ...(peer && Object.keys(peer).length > 0 ? { peerCertificate: certificateSnapshot(peer) } : {}),
  };
}

function certificateSnapshot(c: PeerCertificate): NonNullable<TlsSnapshot['peerCertificate']> {
  return {
    subject: distinguishedName(c.subject),
    issuer: distinguishedName(c.issuer),
    ...(c.subjectaltname ? { subjectAltName: c.subjectaltname } : {}),
    validFrom: c.valid_from,
    validTo: c.valid_to,
    fingerprint256: c.fingerprint256,
  };
}

/** {CN: 'a', O: 'b'} -> "CN=a,O=b" (multi-valued attributes repeat). */
function distinguishedName(name: object | undefined): string {
  if (!name) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(name)) {
    for (const value of Array.isArray(v) ? v : [v]) parts.push(`${k}=${String(value)}`);
  }
  return parts.join(',');
}
