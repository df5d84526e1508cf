/**
 * What every management request passes before a route sees it: browser security headers
 * on every answer, a bounded request (headers: the server's maxHeaderSize answers 431;
 * body: 413), and CSRF safety for state changes. A page on another origin can make a
 * browser send a form POST (with credentials the browser cached for this host) but only
 * as a form or text content type and with its own Origin; so a state-changing request
 * must carry a JSON content type and, when the browser says where it comes from, come
 * from this host. Reads (GET/HEAD) change nothing and stay open to scripts and curl.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './http.js';

export const DEFAULT_LIMITS = {
  /** Largest request body (a definitions import of a large RabbitMQ fits). */
  maxBodyBytes: 16 * 1024 * 1024,
  /** Largest request head, all header lines together (Node's own default). */
  maxHeaderBytes: 16 * 1024,
};
export type Limits = typeof DEFAULT_LIMITS;

/**
 * The UI loads only its own scripts, styles and API (uPlot is served from /ui/vendor/),
 * sets styles through the CSSOM only (no inline attributes), and is never framed.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function setSecurityHeaders(res: ServerResponse): void {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Refuses a state-changing request that a page on another origin could have made. */
export function checkStateChange(req: IncomingMessage): void {
  const method = req.method ?? 'GET';
  if (SAFE_METHODS.has(method)) return;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      throw new HttpError(403, 'not_authorised', `cross-origin request refused (Origin ${origin})`);
    }
    if (host !== req.headers.host)
      throw new HttpError(403, 'not_authorised', `cross-origin request refused (Origin ${origin})`);
  } else if (origin === 'null') {
    throw new HttpError(403, 'not_authorised', 'cross-origin request refused (Origin null)');
  }
  if (req.headers['sec-fetch-site'] === 'cross-site')
    throw new HttpError(403, 'not_authorised', 'cross-site request refused');
  const type = req.headers['content-type'];
  const hasBody =
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (type === undefined ? hasBody : !isJson(type))
    throw new HttpError(
      415,
      'unsupported_media_type',
      'a request that changes state needs Content-Type: application/json',
    );
}

function isJson(type: string): boolean {
  const essence = type.split(';', 1)[0]!.trim().toLowerCase();
  return essence === 'application/json' || (essence.startsWith('application/') && essence.endsWith('+json'));
}

/** 413 at once when the declared length is over the limit (the body is not read). */
export function checkDeclaredLength(req: IncomingMessage, limits: Limits): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.maxBodyBytes) throw tooLarge(limits);
}

const tooLarge = (limits: Limits): HttpError =>
  new HttpError(413, 'payload_too_large', `request body larger than ${limits.maxBodyBytes} bytes`, {
    connection: 'close',
  });
