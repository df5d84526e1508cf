/** HTTP Basic authentication of /api requests against the broker's users. */
import type { IncomingMessage } from 'node:http';
import { BrokerError, type Principal } from '@junction/core';
import { forbidden, unauthorized } from './http.js';
import type { Scope } from './scope.js';

const MANAGEMENT_TAGS = ['administrator', 'monitoring', 'policymaker', 'management'];

/** Authenticates the request and records its principal in the scope; 401/403 otherwise. */
export async function authenticate(scope: Scope, req: IncomingMessage): Promise<Principal> {
  const header = req.headers.authorization;
  if (!header?.startsWith('Basic ')) throw unauthorized('Not authorised: credentials required');
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw unauthorized();
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  let p: Principal;
  try {
    p = await scope.broker.authenticate(
      { username, password },
      {
        id: 'http-auth',
        protocol: 'http',
        remoteAddress: req.socket.remoteAddress ?? '',
        remotePort: req.socket.remotePort ?? 0,
        localPort: req.socket.localPort ?? 0,
      },
    );
  } catch (err) {
    if (err instanceof BrokerError)
      throw unauthorized(
        /localhost/.test(err.message) ? err.message.replace(/^ACCESS_REFUSED - /, '') : 'Login failed',
      );
    throw err;
  }
  if (!p.tags.some((t) => MANAGEMENT_TAGS.includes(t))) throw forbidden('Not management user');
  scope.principals.set(req, p);
  return p;
}
