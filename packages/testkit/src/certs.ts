/**
 * A throwaway PKI made with Debian's openssl for TLS tests: a CA, a server certificate for
 * localhost/127.0.0.1, client certificates signed by the CA (valid or expired), and one signed by
 * a second CA the broker does not trust. EC P-256 keys: quick to make, accepted by every client.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Endpoint, TlsSettings } from '@junction/core';

export interface CertFiles {
  /** Paths, for clients that take file names (mosquitto_pub, pika, stomp.py). */
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
}

export interface TestPki {
  dir: string;
  caPath: string;
  ca: Buffer;
  /** CN=localhost, SAN DNS:localhost and IP:127.0.0.1. */
  server: CertFiles;
  /** A client certificate signed by the CA; `san` adds subjectAltName entries (e.g. "email:a@b"). */
  client(cn: string, opts?: { expired?: boolean; san?: string }): CertFiles;
  /** A client certificate signed by a CA the broker does not know. */
  untrustedClient(cn: string): CertFiles;
  /**
   * What a certificate-login test presents for user `cn`: its valid certificate, one for the
   * unknown user CN=nobody, an expired one and one from an untrusted CA (both for `cn`).
   */
  loginCerts(cn: string): {
    valid: CertFiles;
    unknownUser: CertFiles;
    expired: CertFiles;
    untrusted: CertFiles;
  };
  /**
   * A TLS TCP endpoint on 127.0.0.1 (ephemeral port) with the server certificate, trusting
   * the CA for client certificates; `tls` adds settings (clientCert, certLoginFrom).
   */
  endpoint(tls?: Partial<TlsSettings>): Endpoint;
  /** A fresh server certificate from the same CA (for reload tests), under another file name. */
  reissueServer(name: string): CertFiles;
  remove(): void;
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'junction-pki-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const selfSignedCa = (name: string, cn: string) =>
    ssl(
      'req',
      '-x509',
      ...ecKey,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '3',
      '-subj',
      `/CN=${cn}`,
    );
  let serial = 1;
  const issue = (name: string, cn: string, ca: string, days: number, san?: string): CertFiles => {
    ssl(
      'req',
      ...ecKey,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}/O=Junction tests`,
      ...(san ? ['-addext', `subjectAltName=${san}`] : []),
    );
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-set_serial',
      String(serial++),
      '-copy_extensions',
      'copy',
      '-out',
      `${name}.pem`,
      // A negative day count makes a certificate that expired yesterday.
      '-days',
      String(days),
    );
    const certPath = join(dir, `${name}.pem`);
    const keyPath = join(dir, `${name}.key`);
    return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
  };

  selfSignedCa('ca', 'Junction Test CA');
  let untrustedCa = false;
  const fileName = (cn: string) => cn.replace(/[^A-Za-z0-9_-]/g, '_');
  const ca = readFileSync(join(dir, 'ca.pem'));
  const server = issue('server', 'localhost', 'ca', 3, 'DNS:localhost,IP:127.0.0.1');
  const pki: TestPki = {
    dir,
    caPath: join(dir, 'ca.pem'),
    ca,
    server,
    endpoint: (tls = {}) => ({
      port: 0,
      host: '127.0.0.1',
      transport: 'tcp',
      tls: { cert: server.cert, key: server.key, ca, ...tls },
    }),
    client: (cn, opts = {}) =>
      issue(
        `client-${fileName(cn)}${opts.expired ? '-expired' : ''}`,
        cn,
        'ca',
        opts.expired ? -1 : 3,
        opts.san,
      ),
    untrustedClient: (cn) => {
      if (!untrustedCa) selfSignedCa('other-ca', 'Someone Else CA');
      untrustedCa = true;
      return issue(`untrusted-${fileName(cn)}`, cn, 'other-ca', 3);
    },
    reissueServer: (name) => issue(fileName(name), 'localhost', 'ca', 3, 'DNS:localhost,IP:127.0.0.1'),
    loginCerts: (cn) => ({
      valid: pki.client(cn),
      unknownUser: pki.client('nobody'),
      expired: pki.client(cn, { expired: true }),
      untrusted: pki.untrustedClient(cn),
    }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  return pki;
}
