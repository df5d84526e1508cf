/** Which user a verified client certificate names (RabbitMQ's ssl_cert_login_from), and the login without a password. */
import { describe, expect, it } from 'vitest';
import { Broker, certificateLogin, distinguishedName, type CertificateIdentity } from '../src/index.js';

const cert: CertificateIdentity = {
  subject: [
    ['CN', 'device-1'],
    ['O', 'Example, Inc.'],
  ],
  altNames: [
    ['DNS', 'one.example'],
    ['email', 'first@example.com'],
    ['email', 'second@example.com'],
    ['URI', 'spiffe://example/device-1'],
  ],
};

describe('certificateLogin', () => {
  it('takes the CN, the RFC 4514 DN, or the first subjectAltName of a type', () => {
    expect(certificateLogin(cert, 'cn')).toEqual({ user: 'device-1' });
    expect(certificateLogin(cert, 'dn')).toEqual({ user: 'O=Example\\, Inc.,CN=device-1' });
    expect(certificateLogin(cert, 'san-email')).toEqual({ user: 'first@example.com' });
    expect(certificateLogin(cert, 'san-dns')).toEqual({ user: 'one.example' });
    expect(certificateLogin(cert, 'san-uri')).toEqual({ user: 'spiffe://example/device-1' });
  });

  it('says why a certificate names no user', () => {
    const bare: CertificateIdentity = { subject: [['O', 'x']], altNames: [] };
    expect(certificateLogin(bare, 'cn')).toEqual({ problem: 'the client certificate has no subject CN' });
    expect(certificateLogin(bare, 'san-uri')).toEqual({
      problem: 'the client certificate has no subjectAltName of type URI',
    });
  });

  it('escapes DN values as RFC 4514 does', () => {
    expect(distinguishedName([['CN', ' #a+b;c<d>"e\\']])).toBe('CN=\\ #a\\+b\\;c\\<d\\>\\"e\\\\');
  });
});

describe('authenticateExternal', () => {
  const from = (remoteAddress: string) => ({
    id: 'c',
    protocol: 'internal' as const,
    remoteAddress,
    remotePort: 1,
    localPort: 2,
  });

  it('logs an existing user in without a password, refuses unknown users, keeps loopback-only users local', async () => {
    const broker = await Broker.start();
    await broker.putUser('device-1', { tags: ['monitoring'] });
    await expect(broker.authenticateExternal('device-1', from('10.0.0.1'))).resolves.toEqual({
      username: 'device-1',
      tags: ['monitoring'],
    });
    await expect(broker.authenticateExternal('device-2', from('10.0.0.1'))).rejects.toMatchObject({
      replyCode: 403,
    });
    await expect(broker.authenticateExternal('guest', from('10.0.0.1'))).rejects.toMatchObject({
      replyCode: 403,
    });
    await expect(broker.authenticateExternal('guest', from('127.0.0.1'))).resolves.toMatchObject({
      username: 'guest',
    });
    await broker.close();
  });
});
