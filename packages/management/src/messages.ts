/** Message bodies and properties between the core's model and RabbitMQ's management JSON. */
import type { FieldTable, GetResult, MessageProperties } from '@junction/core';
import { badRequest } from './http.js';

const PROPS: [keyof MessageProperties, string, 'string' | 'number' | 'table'][] = [
  ['contentType', 'content_type', 'string'],
  ['contentEncoding', 'content_encoding', 'string'],
  ['headers', 'headers', 'table'],
  ['deliveryMode', 'delivery_mode', 'number'],
  ['priority', 'priority', 'number'],
  ['correlationId', 'correlation_id', 'string'],
  ['replyTo', 'reply_to', 'string'],
  ['expiration', 'expiration', 'string'],
  ['messageId', 'message_id', 'string'],
  ['timestamp', 'timestamp', 'number'],
  ['type', 'type', 'string'],
  ['userId', 'user_id', 'string'],
  ['appId', 'app_id', 'string'],
  ['clusterId', 'cluster_id', 'string'],
];

export function propertiesFromJson(json: Record<string, unknown>): MessageProperties {
  const out: Record<string, unknown> = {};
  for (const [ours, theirs, kind] of PROPS) {
    const v = json[theirs];
    if (v === undefined || v === null) continue;
    if (kind === 'table') {
      if (typeof v !== 'object' || Array.isArray(v))
        throw badRequest(`properties.${theirs} must be an object`);
      out[ours] = v as FieldTable;
    } else if (kind === 'number') {
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
        throw badRequest(`properties.${theirs} must be a non-negative integer`);
      out[ours] = n;
    } else {
      if (typeof v !== 'string' && typeof v !== 'number')
        throw badRequest(`properties.${theirs} must be a string`);
      out[ours] = String(v);
    }
  }
  if (out['expiration'] !== undefined && !/^\d+$/.test(out['expiration'] as string))
    throw badRequest('properties.expiration must be a decimal number of milliseconds');
  return out as MessageProperties;
}

export function propertiesToJson(p: MessageProperties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [ours, theirs] of PROPS) {
    const v = p[ours];
    if (v !== undefined) out[theirs] = v;
  }
  return out;
}

export function payloadFromJson(payload: unknown, encoding: unknown): Buffer {
  if (typeof payload !== 'string') throw badRequest("'payload' must be a string");
  if (encoding === undefined || encoding === null || encoding === 'string')
    return Buffer.from(payload, 'utf8');
  if (encoding === 'base64') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload.replace(/\s/g, '')))
      throw badRequest("'payload' is not valid base64");
    return Buffer.from(payload, 'base64');
  }
  throw badRequest("'payload_encoding' must be 'string' or 'base64'");
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

/** One element of POST /api/queues/{vhost}/{name}/get's answer. */
export function getResultJson(
  r: GetResult,
  encoding: 'auto' | 'base64',
  truncate: number | undefined,
): Record<string, unknown> {
  const body = r.message.body;
  const shown = truncate !== undefined && body.length > truncate ? body.subarray(0, truncate) : body;
  const asString = encoding === 'auto' && isUtf8(shown);
  return {
    payload_bytes: body.length,
    redelivered: r.redelivered,
    exchange: r.exchange,
    routing_key: r.routingKey,
    message_count: r.messageCount,
    properties: propertiesToJson(r.message.properties),
    payload: asString ? shown.toString('utf8') : shown.toString('base64'),
    payload_encoding: asString ? 'string' : 'base64',
  };
}
