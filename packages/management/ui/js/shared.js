// Small pieces several pages share: vhost choices, message publishing and message display.

import { api, enc, exName } from './api.js';
import { el, fmtNum, show } from './dom.js';

export async function vhostOptions() {
  const vhosts = await api('GET', '/api/vhosts');
  return vhosts.map((v) => [v.name, v.name === '/' ? '/ (default)' : v.name]);
}

/** Parses an optional JSON object typed into a form field. */
export function jsonField(text, what) {
  if (!text.trim()) return {};
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${what} must be a JSON object`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new Error(`${what} must be a JSON object`);
  return v;
}

/** POSTs a message through an exchange; resolves to {routed}. */
export function publish(vhost, exchange, { routingKey, payload, persistent, contentType, headers }) {
  const properties = {};
  if (persistent) properties.delivery_mode = 2;
  if (contentType) properties.content_type = contentType;
  const h = jsonField(headers ?? '', 'Headers');
  if (Object.keys(h).length > 0) properties.headers = h;
  return api('POST', `/api/exchanges/${enc(vhost)}/${exName(exchange)}/publish`, {
    routing_key: routingKey,
    payload,
    payload_encoding: 'string',
    properties,
  });
}

export const publishedMessage = (r) =>
  r.routed ? 'Message published and routed.' : 'Message published, but not routed to any queue.';

/** One message from /api/queues/.../get, as a card. */
export function messageCard(m, i) {
  const props = Object.entries(m.properties ?? {}).filter(
    ([, v]) => v !== undefined && v !== null && !(typeof v === 'object' && Object.keys(v).length === 0),
  );
  return el(
    'article',
    { class: 'message', dataset: { index: String(i) } },
    el(
      'header',
      {},
      el('b', {}, `Message ${i + 1}`),
      el('span', {}, `exchange: ${m.exchange === '' ? '(AMQP default)' : m.exchange}`),
      el('span', {}, `routing key: ${m.routing_key}`),
      el('span', {}, `${fmtNum(m.payload_bytes)} bytes, ${m.payload_encoding}`),
      m.redelivered ? el('span', { class: 'badge warn' }, 'redelivered') : null,
    ),
    props.length
      ? el('dl', {}, ...props.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, show(v))]))
      : null,
    el('pre', { class: 'payload' }, m.payload),
  );
}
