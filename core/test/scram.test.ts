/**
 * SCRAM-SHA-256 on the server side against RFC 7677's example exchange (section 3), byte for
 * byte: an implementation checked only against its own test client could share its mistakes.
 */
import { describe, expect, it } from 'vitest';
import { ScramExchange } from '../src/auth/scram.js';
import { scramCredentials } from '../src/index.js';

const SERVER_NONCE = '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
const CLIENT_FIRST = 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO';
const SERVER_FIRST = `r=rOprNGfwEbeRWgbNEkqO${SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`;
const CLIENT_FINAL = `c=biws,r=rOprNGfwEbeRWgbNEkqO${SERVER_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=`;
const SERVER_FINAL = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

async function rfcExchange(): Promise<ScramExchange> {
  const creds = await scramCredentials('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
  return new ScramExchange(
    (name) => (name === 'user' ? creds : undefined),
    Buffer.alloc(32),
    () => SERVER_NONCE,
  );
}

describe('SCRAM-SHA-256 (RFC 7677)', () => {
  it("answers the RFC's example exchange with its server-first and server-final messages", async () => {
    const x = await rfcExchange();
    expect(x.start(Buffer.from(CLIENT_FIRST)).toString()).toBe(SERVER_FIRST);
    expect(x.finish(Buffer.from(CLIENT_FINAL))).toEqual({
      username: 'user',
      serverFinal: Buffer.from(SERVER_FINAL),
    });
  });

  it('refuses the example with one proof byte changed, and a second finish', async () => {
    const x = await rfcExchange();
    x.start(Buffer.from(CLIENT_FIRST));
    expect(() => x.finish(Buffer.from(CLIENT_FINAL.replace('p=dH', 'p=eH')))).toThrow(/invalid proof/);
    expect(() => x.finish(Buffer.from(CLIENT_FINAL))).toThrow(/out of order/);
  });
});
