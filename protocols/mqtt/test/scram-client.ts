/**
 * The client side of SCRAM-SHA-256 (RFC 5802 / 7677), written from the RFC for the tests (no
 * MQTT client library ships one): client-first, client-final from server-first, and the check
 * of the server's signature in server-final.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();

export class ScramClient {
  private bare: string;
  private serverSignature: string | undefined;

  constructor(
    readonly user: string,
    private readonly password: string,
    readonly nonce = randomBytes(18).toString('base64'),
  ) {
    this.bare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${nonce}`;
  }

  clientFirst(): Buffer {
    return Buffer.from(`n,,${this.bare}`);
  }

  /** client-final for the server's first message; `proof` replaces the real proof (bad input). */
  clientFinal(serverFirst: Buffer, proof?: Buffer): Buffer {
    const text = serverFirst.toString();
    const attrs = new Map(text.split(',').map((kv) => [kv[0], kv.slice(2)] as const));
    const nonce = attrs.get('r')!;
    if (!nonce.startsWith(this.nonce)) throw new Error('server nonce does not extend ours');
    const salted = pbkdf2Sync(
      this.password,
      Buffer.from(attrs.get('s')!, 'base64'),
      Number(attrs.get('i')),
      32,
      'sha256',
    );
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.bare},${text},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const real = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
    return Buffer.from(`${withoutProof},p=${(proof ?? real).toString('base64')}`);
  }

  /** The server proved it holds the user's keys. */
  verifies(serverFinal: Buffer | undefined): boolean {
    return serverFinal !== undefined && serverFinal.toString() === `v=${this.serverSignature}`;
  }
}
