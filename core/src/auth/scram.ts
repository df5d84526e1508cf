/**
 * SCRAM-SHA-256 (RFC 7677, the SHA-256 variant of RFC 5802), server side: the credentials
 * stored when a password is set, and one login exchange. The server keeps StoredKey and
 * ServerKey, never the password: a stolen definitions file does not log anyone in, and the
 * client proves it knows the password without sending it.
 *
 * Without channel binding ("n" or "y" GS2 flag only) and without SASLprep: a password is
 * taken as its UTF-8 bytes, which is the same for every ASCII password.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { BrokerError } from '../errors.js';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** RFC 7677's minimum, and what EMQX uses: the server chooses it, never the client. */
export const SCRAM_ITERATIONS = 4096;
/** A client-first or client-final message longer than this is refused, unparsed. */
export const SCRAM_MAX_MESSAGE = 1024;
/** The longest client nonce taken (RFC 5802 sets none; clients send 18 to 32 bytes). */
export const SCRAM_MAX_NONCE = 128;

/** What a user's record keeps for SCRAM, base64 where binary. */
export interface ScramCredentials {
  readonly salt: string;
  readonly iterations: number;
  readonly storedKey: string;
  readonly serverKey: string;
}

const hmac = (key: Buffer, text: string | Buffer): Buffer => createHmac('sha256', key).update(text).digest();
const pbkdf2Async = promisify(pbkdf2);
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

/**
 * Derives the stored credentials from a password: one PBKDF2 of 4096 rounds (0.7 ms here), on
 * libuv's thread pool, so a definitions import with many passwords does not stall the event loop.
 */
export async function scramCredentials(
  password: string,
  salt: Buffer = randomBytes(16),
  iterations = SCRAM_ITERATIONS,
): Promise<ScramCredentials> {
  const salted = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  return {
    salt: salt.toString('base64'),
    iterations,
    storedKey: sha256(hmac(salted, 'Client Key')).toString('base64'),
    serverKey: hmac(salted, 'Server Key').toString('base64'),
  };
}

/**
 * A user's SCRAM keys: the credentials, 'no-credentials' for a user whose password was only
 * ever set as a hash (imported definitions), undefined for no such user.
 */
export type ScramLookup = (username: string) => ScramCredentials | 'no-credentials' | undefined;

/** A refused exchange; `noCredentials`: the user exists but cannot use SCRAM. */
export class ScramRefused extends BrokerError {
  constructor(
    why: string,
    readonly noCredentials = false,
  ) {
    super('ACCESS_REFUSED', `ACCESS_REFUSED - ${SCRAM_SHA_256}: ${why}`, { scope: 'connection' });
  }
}

interface Started {
  readonly username: string;
  readonly gs2Header: string;
  readonly nonce: string;
  readonly authMessagePrefix: string;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/**
 * One SCRAM exchange: client-first in, server-first out; client-final in, the user and
 * server-final out. Each step runs once, in order; anything else is refused.
 */
export class ScramExchange {
  private started: Started | undefined;
  private done = false;

  constructor(
    private readonly lookup: ScramLookup,
    /** Keys the made-up salt of unknown users, so asking twice gives the same answer. */
    private readonly unknownUserKey: Buffer,
    /** The server's part of the nonce (fixed only to check the RFC's example exchange). */
    private readonly serverNonce: () => string = () => randomBytes(18).toString('base64'),
  ) {}

  /** client-first-message -> server-first-message. */
  start(clientFirst: Buffer): Buffer {
    if (this.started || this.done) throw new ScramRefused('the exchange has already started');
    const text = message(clientFirst, 'client-first-message');
    // gs2-header: cbind flag, authzid, then the bare message.
    const first = text.indexOf(',');
    const second = first < 0 ? -1 : text.indexOf(',', first + 1);
    if (second < 0) throw new ScramRefused('client-first-message without a GS2 header');
    const flag = text.slice(0, first);
    if (flag !== 'n' && flag !== 'y')
      throw new ScramRefused('channel binding is not supported (GS2 flag must be n or y)');
    const authzid = text.slice(first + 1, second);
    const bare = text.slice(second + 1);
    const attrs = attributes(bare, 'client-first-message');
    if (attrs[0]?.[0] === 'm') throw new ScramRefused('mandatory extensions are not supported');
    const [n, r] = [attrs[0], attrs[1]];
    if (n?.[0] !== 'n' || r?.[0] !== 'r') throw new ScramRefused('client-first-message must be n=...,r=...');
    const username = saslName(n[1]);
    if (authzid !== '' && authzid !== `a=${n[1]}`)
      throw new ScramRefused('an authorization identity other than the user is not supported');
    const clientNonce = r[1];
    if (clientNonce.length > SCRAM_MAX_NONCE || !/^[\x21-\x2b\x2d-\x7e]+$/.test(clientNonce))
      throw new ScramRefused(`the client nonce must be 1 to ${SCRAM_MAX_NONCE} printable characters`);
    const creds = this.lookup(username);
    if (creds === 'no-credentials')
      throw new ScramRefused(
        `user '${username}' has no SCRAM credentials: its password was set as a hash (imported definitions); set the password again to use SCRAM`,
        true,
      );
    // An unknown user gets a salt and a refusal at the proof, as a known one with a wrong
    // password does: the exchange does not tell which user names exist (RFC 5802 section 9).
    const salt = creds ? creds.salt : hmac(this.unknownUserKey, username).subarray(0, 16).toString('base64');
    const iterations = creds ? creds.iterations : SCRAM_ITERATIONS;
    const nonce = clientNonce + this.serverNonce();
    const serverFirst = `r=${nonce},s=${salt},i=${iterations}`;
    this.started = {
      username: creds ? username : '',
      gs2Header: text.slice(0, second + 1),
      nonce,
      authMessagePrefix: `${bare},${serverFirst}`,
      storedKey: creds ? Buffer.from(creds.storedKey, 'base64') : randomBytes(32),
      serverKey: creds ? Buffer.from(creds.serverKey, 'base64') : randomBytes(32),
    };
    return Buffer.from(serverFirst, 'utf8');
  }

  /** client-final-message -> the user it proved to be and the server-final-message. */
  finish(clientFinal: Buffer): { username: string; serverFinal: Buffer } {
    const s = this.started;
    if (!s || this.done) throw new ScramRefused('client-final-message out of order');
    this.done = true;
    const text = message(clientFinal, 'client-final-message');
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) throw new ScramRefused('client-final-message without a proof');
    const withoutProof = text.slice(0, proofAt);
    const attrs = attributes(withoutProof, 'client-final-message');
    const [c, r] = [attrs[0], attrs[1]];
    if (c?.[0] !== 'c' || r?.[0] !== 'r')
      throw new ScramRefused('client-final-message must be c=...,r=...,p=...');
    if (c[1] !== Buffer.from(s.gs2Header, 'utf8').toString('base64'))
      throw new ScramRefused('the channel binding does not repeat the GS2 header');
    // A client-final of another exchange (a replay) carries that exchange's server nonce.
    if (r[1] !== s.nonce) throw new ScramRefused('the nonce is not the one of this exchange');
    // Strict base64 (Node's decoder skips stray characters): the proof of SHA-256 is 32 bytes.
    const proofText = text.slice(proofAt + 3);
    if (!/^[A-Za-z0-9+/]{43}=$/.test(proofText))
      throw new ScramRefused('invalid proof (not 32 bytes of base64)');
    const proof = Buffer.from(proofText, 'base64');
    const authMessage = `${s.authMessagePrefix},${withoutProof}`;
    const signature = hmac(s.storedKey, authMessage);
    if (proof.length !== signature.length) throw new ScramRefused('invalid proof');
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ signature[i]!;
    if (!s.username || !timingSafeEqual(sha256(clientKey), s.storedKey))
      throw new ScramRefused('invalid proof (unknown user or wrong password)');
    const serverSignature = hmac(s.serverKey, authMessage).toString('base64');
    return { username: s.username, serverFinal: Buffer.from(`v=${serverSignature}`, 'utf8') };
  }
}

function message(b: Buffer, what: string): string {
  if (b.length > SCRAM_MAX_MESSAGE) throw new ScramRefused(`${what} longer than ${SCRAM_MAX_MESSAGE} bytes`);
  const text = b.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(b)) throw new ScramRefused(`${what} is not UTF-8`);
  return text;
}

/** `k=v,k=v` as pairs; every value printable, keys one letter (RFC 5802 section 7). */
function attributes(text: string, what: string): [string, string][] {
  return text.split(',').map((part) => {
    if (part.length < 2 || part[1] !== '=' || !/^[a-zA-Z]$/.test(part[0]!))
      throw new ScramRefused(`${what} is malformed`);
    return [part[0]!, part.slice(2)];
  });
}

/** A saslname: `=2C` is a comma and `=3D` an equals sign; any other `=` is malformed. */
function saslName(s: string): string {
  if (/=(?!2C|3D)/.test(s)) throw new ScramRefused('malformed user name');
  const name = s.replace(/=2C/g, ',').replace(/=3D/g, '=');
  if (name.length === 0) throw new ScramRefused('empty user name');
  return name;
}
