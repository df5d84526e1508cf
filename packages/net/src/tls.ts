/**
 * TLS settings to node:tls options, and what management shows of a TLS connection.
 */
import type { PeerCertificate, TLSSocket, TlsOptions } from 'node:tls';
import {
  certificateLogin,
  type CertificateIdentity,
  type CertificateLogin,
  type ClientCertMode,
  type TlsSettings,
  type TlsSnapshot,
} from '@junction/core';

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

/**
 * For a client certificate that verified against the listener's CA: the user it logs in as
 * (per the listener's certLoginFrom) or why it names none. Undefined without a verified one.
 */
export function certificateLoginOf(socket: TLSSocket, tls: TlsSettings): CertificateLogin | undefined {
  if (!socket.authorized) return undefined;
  const x509 = socket.getPeerX509Certificate();
  if (!x509) return undefined;
  return certificateLogin(
    certificateIdentity(socket.getPeerCertificate(), x509.subjectAltName),
    tls.certLoginFrom ?? 'cn',
  );
}

function certificateIdentity(peer: PeerCertificate, subjectAltName: string | undefined): CertificateIdentity {
  return { subject: subjectAttributes(peer), altNames: parseSubjectAltName(subjectAltName ?? '') };
}

/**
 * Node's legacy subject object keeps certificate order per attribute type (repeated types
 * become arrays, unescaped): enough for a CN and for the usual DNs of one value per type.
 */
function subjectAttributes(peer: PeerCertificate): [string, string][] {
  const out: [string, string][] = [];
  for (const [type, v] of Object.entries(peer.subject ?? {})) {
    for (const value of Array.isArray(v) ? v : [v]) out.push([type, String(value)]);
  }
  return out;
}

/**
 * "DNS:a.example, URI:\"x:y\u002cz\", email:a@b" -> [['DNS', 'a.example'], ['URI', 'x:y,z'],
 * ['email', 'a@b']]: Node writes a value with special characters as a JSON string.
 */
export function parseSubjectAltName(text: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      end += 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        return out;
      }
    } else {
      end = text.indexOf(', ', colon + 1);
      if (end < 0) end = text.length;
      value = text.slice(colon + 1, end);
    }
    out.push([type, value]);
    i = end + (text.startsWith(', ', end) ? 2 : 0);
    if (i === end && i < text.length) break;
  }
  return out;
}
