/**
 * TLS settings from the config's file paths: read at start and again on reload (SIGHUP), and
 * checked by building a secure context, so a bad or mismatched file is refused before any
 * listener swaps to it.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { TlsSettings } from '@junction/core';
import type { TlsConfig } from './config.js';

export async function readTlsFiles(config: TlsConfig): Promise<TlsSettings> {
  if (!config.cert || !config.key)
    throw new Error('TLS needs a certificate and a key (--tls-cert, --tls-key)');
  const [cert, key, ca] = await Promise.all([
    read(config.cert, 'certificate'),
    read(config.key, 'key'),
    config.ca ? read(config.ca, 'CA') : undefined,
  ]);
  const settings: TlsSettings = {
    cert,
    key,
    ...(ca ? { ca } : {}),
    ...(config.passphrase ? { passphrase: config.passphrase } : {}),
    clientCert: config.clientCert,
    certLoginFrom: config.certLoginFrom,
    minVersion: config.minVersion,
    ...(config.ciphers ? { ciphers: config.ciphers } : {}),
  };
  try {
    // OpenSSL skips what is not a certificate in a CA bundle; a CA file without one is a mistake.
    if (ca) new X509Certificate(ca);
    createSecureContext({
      cert,
      key,
      ...(ca ? { ca } : {}),
      ...(settings.passphrase ? { passphrase: settings.passphrase } : {}),
      minVersion: settings.minVersion,
      ...(settings.ciphers ? { ciphers: settings.ciphers } : {}),
    });
  } catch (err) {
    throw new Error(
      `TLS certificate ${config.cert} with key ${config.key}${config.ca ? ` and CA ${config.ca}` : ''} ` +
        `is not usable: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return settings;
}

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`cannot read the TLS ${what} file ${path}: ${(err as Error).message}`, { cause: err });
  }
}
