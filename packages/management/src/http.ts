/**
 * HTTP plumbing for the management API: a tiny path router, JSON bodies and responses,
 * and errors shaped like RabbitMQ's ({error, reason}).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BrokerError } from '@junction/core';
import { parseJson } from './safe-json.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(reason);
    this.name = 'HttpError';
  }
}

export const badRequest = (reason: string): HttpError => new HttpError(400, 'bad_request', reason);
export const notFound = (reason = 'Not Found'): HttpError => new HttpError(404, 'Object Not Found', reason);
export const forbidden = (reason = 'Not management user'): HttpError =>
  new HttpError(403, 'not_authorised', reason);
export const unauthorized = (reason = 'Login failed'): HttpError =>
  new HttpError(401, 'not_authorised', reason, { 'www-authenticate': 'Basic realm="Junction Management"' });

/** Maps any thrown value to an HTTP error: broker errors by their AMQP reply code, like RabbitMQ. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof BrokerError) {
    switch (err.replyCode) {
      case 404:
        return new HttpError(404, 'Object Not Found', err.message);
      case 403:
      case 530:
        return new HttpError(403, 'access_refused', err.message);
      case 405:
      case 406:
      case 501:
      case 502:
      case 503:
      case 504:
      case 505:
      case 540:
        return new HttpError(400, 'bad_request', err.message);
      case 320:
        return new HttpError(503, 'unavailable', err.message);
      default:
        return new HttpError(500, 'internal_error', err.message);
    }
  }
  return new HttpError(500, 'internal_error', err instanceof Error ? err.message : String(err));
}

export type Params = Record<string, string>;

export interface Ctx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Params;
  readonly query: URLSearchParams;
}

export type Handler = (ctx: Ctx) => Promise<unknown> | unknown;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

/** Routes on decoded path segments; a pattern segment ":name" captures one segment. */
export class Router {
  private readonly routes: Route[] = [];

  on(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, segments: pattern.split('/').filter((s) => s !== ''), handler });
    return this;
  }

  /** The handler for a request, or 404/405. Segments are already percent-decoded. */
  match(method: string, segments: readonly string[]): { handler: Handler; params: Params } {
    let pathMatched = false;
    for (const r of this.routes) {
      if (r.segments.length !== segments.length) continue;
      const params: Params = {};
      let ok = true;
      for (let i = 0; i < r.segments.length; i++) {
        const p = r.segments[i]!;
        const s = segments[i]!;
        if (p.startsWith(':')) params[p.slice(1)] = s;
        else if (p !== s) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      pathMatched = true;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET'))
        return { handler: r.handler, params };
    }
    if (pathMatched) throw new HttpError(405, 'method_not_allowed', `method ${method} not allowed`);
    throw notFound();
  }
}

/** Splits a raw request path into percent-decoded segments ('%2F' stays inside its segment). */
export function splitPath(rawPath: string): string[] {
  const parts = rawPath.split('/');
  // Keep empty segments except the leading one and a trailing slash: '' is a valid name (default exchange).
  if (parts[0] === '') parts.shift();
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      throw badRequest(`malformed URL segment '${p}'`);
    }
  });
}

/** The body limit of each request, set by the server before dispatch (guard.ts). */
const bodyLimits = new WeakMap<IncomingMessage, number>();
const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

export function setBodyLimit(req: IncomingMessage, bytes: number): void {
  bodyLimits.set(req, bytes);
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const max = bodyLimits.get(req) ?? DEFAULT_MAX_BODY;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const c = chunk as Buffer;
    size += c.length;
    if (size > max)
      throw new HttpError(413, 'payload_too_large', `request body larger than ${max} bytes`, {
        connection: 'close',
      });
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** The JSON object body (null-prototype objects, nesting bounded); an empty body is {}. Anything but a JSON object is a 400. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req);
  if (raw.length === 0) return Object.create(null) as Record<string, unknown>;
  const v = parseJson(raw.toString('utf8'));
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw badRequest('request body must be a JSON object');
  return v as Record<string, unknown>;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const data = Buffer.from(JSON.stringify(body, jsonReplacer));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(data.length),
    'cache-control': 'no-cache',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : data);
}

export function sendStatus(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, headers);
  res.end();
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, { error: err.error, reason: err.reason }, err.headers);
}

/** JSON for AMQP field values: bigint as number, Buffer as base64, Date as epoch seconds, typed values unwrapped. */
export function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown> | undefined)?.[key];
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(raw)) return raw.toString('base64');
  if (raw instanceof Date) return Math.floor(raw.getTime() / 1000);
  if (
    value !== null &&
    typeof value === 'object' &&
    '!' in value &&
    'value' in value &&
    Object.keys(value).length === 2
  ) {
    return (value as { value: unknown }).value;
  }
  return value;
}

// ---- body field readers ---------------------------------------------------------------------

export function optBool(body: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = body[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw badRequest(`'${key}' must be a boolean`);
}

export function optString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`'${key}' must be a string`);
  return v;
}

export function optObject(body: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`'${key}' must be an object`);
  return v as Record<string, unknown>;
}

export function optInt(body: Record<string, unknown>, key: string, dflt: number, min = 0): number {
  const v = body[key];
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min)
    throw badRequest(`'${key}' must be an integer >= ${min}`);
  return n;
}
