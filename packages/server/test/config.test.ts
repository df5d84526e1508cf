import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaults, effectiveTls, envName, loadConfig, settings, tlsListeners } from '../src/config.js';

describe('configuration', () => {
  it('layers defaults, file, environment and flags, later ones winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'junction-config-'));
    const file = join(dir, 'junction.json');
    writeFileSync(file, JSON.stringify({ amqp: { port: 6000, heartbeat: 10 }, logLevel: 'warn' }));
    const c = loadConfig({
      env: { JUNCTION_CONFIG: file, JUNCTION_AMQP_PORT: '6001', JUNCTION_DEFAULT_USER: 'admin:s3cret' },
      flags: { 'amqp-port': '6002' },
    });
    expect(c.amqp).toMatchObject({ port: 6002, heartbeat: 10, frameMax: defaults.amqp!.frameMax });
    expect(c.logLevel).toBe('warn');
    expect(c.defaultUser).toEqual({ username: 'admin', password: 's3cret' });
  });

  it('--redis-hold-ms / JUNCTION_REDIS_HOLD_MS: the Redis store holds refused writes, 10 s by default', () => {
    expect(loadConfig().redisHoldMs).toBe(10_000);
    expect(loadConfig({ env: { JUNCTION_REDIS_HOLD_MS: '2500' } }).redisHoldMs).toBe(2500);
    expect(loadConfig({ flags: { 'redis-hold-ms': '0' } }).redisHoldMs).toBe(0);
    expect(() => loadConfig({ flags: { 'redis-hold-ms': '-1' } })).toThrow(/--redis-hold-ms/);
  });

  it('says which setting is wrong', () => {
    expect(() => loadConfig({ flags: { 'amqp-port': 'abc' } })).toThrow(
      /--amqp-port: expected a non-negative integer/,
    );
    expect(() => loadConfig({ env: { JUNCTION_HEARTBEAT: '-1' } })).toThrow(/JUNCTION_HEARTBEAT/);
    expect(() => loadConfig({ flags: { nope: '1' } })).toThrow(/unknown option --nope/);
    const dir = mkdtempSync(join(tmpdir(), 'junction-config-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ amqpp: {} }));
    expect(() => loadConfig({ file: join(dir, 'bad.json') })).toThrow(/unknown key 'amqpp'/);
  });

  it('takes the MQTT 5 Receive Maximum and Topic Alias Maximum within their ranges', () => {
    const c = loadConfig({ flags: { 'mqtt-receive-maximum': '10', 'mqtt-topic-alias-maximum': '0' } });
    expect([c.mqtt?.receiveMaximum, c.mqtt?.topicAliasMaximum]).toEqual([10, 0]);
    expect(() => loadConfig({ flags: { 'mqtt-receive-maximum': '0' } })).toThrow(/expected 1-65535/);
    expect(() => loadConfig({ flags: { 'mqtt-topic-alias-maximum': '65536' } })).toThrow(/expected 0-65535/);
  });

  it('takes an MQTT 5 Server Reference, and a redirect only with one to send clients to', () => {
    const ref = { 'mqtt-server-reference': 'standby:1883' };
    const c = loadConfig({ flags: { ...ref, 'mqtt-redirect': 'permanent' } });
    expect([c.mqtt?.serverReference, c.mqtt?.redirect]).toEqual(['standby:1883', 'permanent']);
    expect(loadConfig({ flags: ref }).mqtt?.redirect).toBe('off');
    expect(() => loadConfig({ flags: { ...ref, 'mqtt-redirect': 'sometimes' } })).toThrow(
      /off, temporary or permanent/,
    );
    expect(() => loadConfig({ flags: { 'mqtt-redirect': 'temporary' } })).toThrow(
      /no --mqtt-server-reference/,
    );
  });

  it('disables a listener with "off"', () => {
    expect(loadConfig({ flags: { 'amqp-port': 'off' } }).amqp?.port).toBeNull();
    // MQTT's and STOMP's "off" covers their unencrypted WebSocket too, but not TLS.
    const c = loadConfig({
      flags: { 'mqtt-port': 'off', 'mqtts-port': '8883', 'tls-cert': 'c', 'tls-key': 'k' },
    });
    expect(c.mqtt).toMatchObject({ port: null, wsPort: null, tlsPort: 8883 });
  });
});

describe('TLS configuration', () => {
  const file = (content: unknown): string => {
    const dir = mkdtempSync(join(tmpdir(), 'junction-config-'));
    writeFileSync(join(dir, 'junction.json'), JSON.stringify(content));
    return join(dir, 'junction.json');
  };

  it('keeps every TLS listener off and TLS 1.2 the oldest version by default', () => {
    const c = loadConfig();
    expect([c.amqp?.tlsPort, c.mqtt?.tlsPort, c.mqtt?.wssPort, c.stomp?.tlsPort, c.stomp?.wssPort]).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
    expect(c.http?.tlsPort).toBeNull();
    expect(c.tls).toMatchObject({ minVersion: 'TLSv1.2', clientCert: 'none', cert: null });
    expect(tlsListeners(c)).toEqual([]);
  });

  it('refuses a TLS port without a certificate and key, naming the settings to give', () => {
    expect(() => loadConfig({ flags: { 'amqps-port': '5671' } })).toThrow(
      /--amqps-port is set but there is no TLS certificate and key: set --tls-cert and --tls-key/,
    );
    expect(() => loadConfig({ env: { JUNCTION_HTTPS_PORT: '15671', JUNCTION_TLS_CERT: 'c.pem' } })).toThrow(
      /--https-port/,
    );
    expect(() =>
      loadConfig({ flags: { 'mqtt-wss-port': '0', 'tls-cert': 'c.pem', 'tls-key': 'k.pem' } }),
    ).not.toThrow();
  });

  it('refuses TLS versions below 1.2 and unknown client certificate modes', () => {
    expect(() => loadConfig({ flags: { 'tls-min-version': 'TLSv1.1' } })).toThrow(
      /--tls-min-version: TLSv1.1 is not offered: TLS 1.2 is the oldest/,
    );
    expect(loadConfig({ flags: { 'tls-min-version': 'TLSv1.3' } }).tls.minVersion).toBe('TLSv1.3');
    expect(() => loadConfig({ flags: { 'tls-client-cert': 'maybe' } })).toThrow(
      /--tls-client-cert: expected none, optional or required/,
    );
    expect(() => loadConfig({ file: file({ amqp: { tls: { minVersion: 'TLSv1' } } }) })).toThrow(
      /config file: amqp.tls: TLSv1 is not offered/,
    );
  });

  it('lets a protocol section override the top-level TLS settings', () => {
    const c = loadConfig({
      file: file({
        tls: { cert: '/etc/junction/cert.pem', key: '/etc/junction/key.pem', clientCert: 'optional' },
        amqp: { tlsPort: 5671, tls: { clientCert: 'required', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } },
      }),
      flags: { 'mqtts-port': '8883', 'tls-ca': '/etc/junction/ca.pem' },
    });
    expect(effectiveTls(c, 'amqp')).toMatchObject({
      cert: '/etc/junction/cert.pem',
      ca: '/etc/junction/ca.pem',
      clientCert: 'required',
      ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    });
    expect(effectiveTls(c, 'mqtt')).toMatchObject({ clientCert: 'optional', ciphers: null });
    expect(tlsListeners(c).map((l) => l.flag)).toEqual(['amqps-port', 'mqtts-port']);
  });

  it('takes certificate login settings from the file, environment and flags, and refuses unknown ones', () => {
    const d = loadConfig();
    expect([d.tls.certLoginFrom, d.mqtt?.certLogin, d.stomp?.certLogin]).toEqual(['cn', true, true]);
    expect(d.amqp?.authMechanisms).toEqual(['PLAIN', 'AMQPLAIN', 'EXTERNAL']);
    const c = loadConfig({
      file: file({ tls: { certLoginFrom: 'dn' }, stomp: { tls: { certLoginFrom: 'san-uri' } } }),
      env: { JUNCTION_MQTT_CERT_LOGIN: 'false', JUNCTION_TLS_CERT_LOGIN_FROM: 'san-dns' },
      flags: { 'stomp-cert-login': 'false', 'amqp-auth-mechanisms': 'EXTERNAL,PLAIN' },
    });
    expect([effectiveTls(c, 'amqp').certLoginFrom, effectiveTls(c, 'stomp').certLoginFrom]).toEqual([
      'san-dns',
      'san-uri',
    ]);
    expect([c.mqtt?.certLogin, c.stomp?.certLogin]).toEqual([false, false]);
    expect(c.amqp?.authMechanisms).toEqual(['EXTERNAL', 'PLAIN']);
    expect(() => loadConfig({ flags: { 'tls-cert-login-from': 'cn-or-dn' } })).toThrow(
      /--tls-cert-login-from: expected one of cn, dn, san-email, san-dns, san-uri/,
    );
    expect(() => loadConfig({ file: file({ mqtt: { tls: { certLoginFrom: 'email' } } }) })).toThrow(
      /config file: mqtt.tls: expected one of/,
    );
    expect(() => loadConfig({ flags: { 'amqp-auth-mechanisms': 'PLAIN,KERBEROS' } })).toThrow(
      /--amqp-auth-mechanisms: .*got 'KERBEROS'/,
    );
    expect(() => loadConfig({ file: file({ amqp: { authMechanisms: [] } }) })).toThrow(
      /amqp.authMechanisms: expected a non-empty list/,
    );
  });
});

describe('the README configuration table', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  // Prettier pads the table's columns: a row is matched whatever the padding.
  it('documents every setting with its environment variable, and nothing that is not one', () => {
    const documented = [...readme.matchAll(/^\| `--([a-z-]+)` +\| `(JUNCTION_[A-Z_]+)` +\|/gm)].map((m) => [
      m[1],
      m[2],
    ]);
    const wired = Object.keys(settings);
    expect(documented.map(([flag]) => flag).sort()).toEqual(wired.sort());
    for (const [flag, env] of documented) expect(env).toBe(envName(flag!));
  });
  it('cluster mode: a node name, the Redis store and a secret (flag, env or file); refused clearly otherwise', () => {
    const redis = { storage: 'redis-sentinel://127.0.0.1:26379/junction', 'cluster-node-name': 'n1' };
    const c = loadConfig({ flags: redis, env: { JUNCTION_CLUSTER_SECRET: 'a-secret-of-16-chars' } });
    expect(c.cluster).toMatchObject({ nodeName: 'n1', secret: 'a-secret-of-16-chars', linkPort: 25672 });
    expect(() =>
      loadConfig({ flags: { 'cluster-node-name': 'n1', 'cluster-secret': 'x'.repeat(16) } }),
    ).toThrow(/cluster mode needs the Redis store.*not 'embedded'/);
    expect(() => loadConfig({ flags: redis })).toThrow(/cluster mode needs a secret/);
    expect(() => loadConfig({ flags: { ...redis, 'cluster-secret': 'short' } })).toThrow(/at least 16/);
    expect(() => loadConfig({ flags: { 'cluster-secret': 'x'.repeat(16) } })).toThrow(/cluster mode is off/);
    expect(() => loadConfig({ flags: { ...redis, 'cluster-node-name': 'a b' } })).toThrow(/is not 1-55/);
    expect(() => loadConfig({ flags: { ...redis, 'cluster-link-port': '70000' } })).toThrow(
      /--cluster-link-port: expected a port/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'junction-config-'));
    writeFileSync(join(dir, 'secret'), 'from-a-file-0123456789\n');
    const f = loadConfig({ flags: { ...redis, 'cluster-secret-file': join(dir, 'secret') } });
    expect(f.cluster.secret).toBe('from-a-file-0123456789');
    // Without cluster flags nothing changes.
    expect(loadConfig({}).cluster.nodeName).toBeNull();
  });
});
