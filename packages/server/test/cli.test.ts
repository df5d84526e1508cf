/** The `junction` command as an operator runs it: a separate process, real signals. */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { makeTestPki, until } from '@junction/testkit';
import { startCli } from './cli-process.js';

describe('junction CLI', () => {
  it('starts, serves, and on SIGTERM closes clients with 320 and exits 0', async () => {
    const cli = startCli([
      'start',
      '--amqp-port',
      '0',
      '--amqp-host',
      '127.0.0.1',
      '--mqtt-port',
      'off',
      '--stomp-port',
      'off',
      '--http-port',
      'off',
      '--storage',
      'memory',
    ]);
    const { child, lines, exited } = cli;
    const started = await cli.line('Junction started');
    const port = (started['ports'] as { amqp: number }).amqp;
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    conn.on('error', () => {});
    const closed = new Promise<Error>((r) => conn.on('close', r));
    const ch = await conn.createChannel();
    await ch.assertQueue('q');
    child.kill('SIGTERM');
    expect((await closed).message).toMatch(/320|CONNECTION_FORCED/);
    expect(await exited).toBe(0);
    expect(lines.some((l) => l['msg'] === 'stopped')).toBe(true);
  });

  it('exits 1 with usage on a bad flag', async () => {
    const { exited } = startCli(['start', '--amqp-port', 'x']);
    expect(await exited).toBe(1);
  });

  it('refuses to start a TLS port without a certificate, or with one it cannot read', async () => {
    const noCert = startCli(['start', '--amqps-port', '0', '--storage', 'memory']);
    expect(await noCert.exited).toBe(1);
    expect(noCert.stderr()).toMatch(/--amqps-port is set but there is no TLS certificate and key/);
    const missing = startCli([
      ...['start', '--amqp-port', 'off', '--amqps-port', '0', '--amqp-host', '127.0.0.1'],
      ...['--mqtt-port', 'off', '--stomp-port', 'off', '--http-port', 'off', '--storage', 'memory'],
      ...['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'],
    ]);
    expect(await missing.exited).toBe(1);
    expect(missing.stderr()).toMatch(
      /cannot read the TLS (certificate|key) file \/nonexistent\/(cert|key)\.pem/,
    );
  });
});

describe('junction CLI over TLS', () => {
  it('on SIGHUP swaps the certificate on disk for new connections, keeps open ones, and keeps the old one on a bad file', async () => {
    const pki = makeTestPki();
    const second = pki.reissueServer('second');
    const dir = mkdtempSync(join(tmpdir(), 'junction-tls-reload-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    copyFileSync(pki.server.certPath, cert);
    copyFileSync(pki.server.keyPath, key);
    try {
      const cli = startCli([
        ...['start', '--amqp-port', 'off', '--amqps-port', '0', '--amqp-host', '127.0.0.1'],
        ...['--mqtt-port', 'off', '--stomp-port', 'off', '--http-port', 'off', '--https-port', '0'],
        ...['--http-host', '127.0.0.1', '--storage', 'memory', '--tls-cert', cert, '--tls-key', key],
      ]);
      const { child, lines, exited } = cli;
      const started = await cli.line('Junction started');
      const ports = started['ports'] as { amqps: number; https: number };
      const serialOf = (pem: Buffer) => new X509Certificate(pem).serialNumber;
      /** The serial of the certificate a new TLS connection to `port` is shown. */
      const served = (port: number): Promise<string> =>
        new Promise((resolve, reject) => {
          const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca }, () => {
            resolve(s.getPeerCertificate().serialNumber);
            s.destroy();
          });
          s.on('error', reject);
        });
      const old = await amqp.connect(`amqps://guest:guest@127.0.0.1:${ports.amqps}`, { ca: [pki.ca] });
      old.on('error', () => {});
      const ch = await old.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      const oldSerial = () =>
        (old.connection as unknown as { stream: TLSSocket }).stream.getPeerCertificate().serialNumber;
      expect(oldSerial()).toBe(serialOf(pki.server.cert));
      const logged = (msg: string) => lines.filter((l) => l['msg'] === msg).length;

      // A broken certificate file: logged, and every listener keeps serving the current one.
      writeFileSync(cert, 'not a certificate\n');
      child.kill('SIGHUP');
      await until(
        () => logged('TLS reload failed; the current certificates stay in use') === 1,
        'the failure',
      );
      expect(await served(ports.amqps)).toBe(serialOf(pki.server.cert));
      expect(await served(ports.https)).toBe(serialOf(pki.server.cert));

      // A renewed certificate: new connections see it, the open one keeps its session and works.
      copyFileSync(second.certPath, cert);
      copyFileSync(second.keyPath, key);
      child.kill('SIGHUP');
      await until(() => logged('TLS certificates reloaded') === 1, 'the reload');
      expect(await served(ports.amqps)).toBe(serialOf(second.cert));
      expect(await served(ports.https)).toBe(serialOf(second.cert));
      expect(oldSerial()).toBe(serialOf(pki.server.cert));
      ch.sendToQueue(queue, Buffer.from('after the swap'));
      await until(async () => (await ch.checkQueue(queue)).messageCount === 1, 'publish after the swap');
      await old.close();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      pki.remove();
    }
  });
});
