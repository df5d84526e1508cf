// Queues: declare, delete, purge, and per queue: bindings, publish, get messages.

import { api, enc } from './api.js';
import {
  attempt,
  badge,
  button,
  dangerButton,
  dataTable,
  el,
  fmtRate,
  form,
  rateOf,
  section,
  setOptions,
  vhostLabel,
} from './dom.js';
import { jsonField, messageCard, publish, publishedMessage, vhostOptions } from './shared.js';

const features = (q) =>
  [q.durable ? 'D' : null, q.auto_delete ? 'AD' : null, q.exclusive ? 'Excl' : null]
    .filter(Boolean)
    .map((f) => badge(f, 'feature'));

export const queuesPage = {
  id: 'queues',
  title: 'Queues',
  mount(root) {
    let selected = null; // {vhost, name}
    let rows = [];
    let search = '';

    const declare = form({
      id: 'declare-queue',
      fields: [
        { name: 'vhost', label: 'Virtual host', type: 'select', options: [['/', '/ (default)']] },
        { name: 'name', label: 'Name', required: true, placeholder: 'orders' },
        { name: 'durable', label: 'Durable', type: 'checkbox', value: true },
        { name: 'auto_delete', label: 'Auto-delete', type: 'checkbox' },
        { name: 'arguments', label: 'Arguments (JSON)', placeholder: '{"x-max-length": 1000}', wide: true },
      ],
      submit: 'Declare queue',
      onSubmit: (v, f) =>
        attempt(async () => {
          await api('PUT', `/api/queues/${enc(v.vhost)}/${enc(v.name)}`, {
            durable: v.durable,
            auto_delete: v.auto_delete,
            arguments: jsonField(v.arguments, 'Arguments'),
          });
          f.elements.name.value = '';
          await refresh();
        }, `Queue ${v.name} declared.`),
    });
    void vhostOptions().then(
      (o) => setOptions(declare.controls.vhost, o),
      () => {},
    );

    const searchBox = el('input', { type: 'search', placeholder: 'Filter queues', class: 'search' });
    searchBox.addEventListener('input', () => {
      search = searchBox.value.trim().toLowerCase();
      draw();
    });

    const table = dataTable(
      [
        { label: 'Vhost', get: (q) => vhostLabel(q.vhost) },
        {
          label: 'Name',
          get: (q) =>
            el(
              'a',
              { href: '#queues', class: 'mono', onclick: (e) => (e.preventDefault(), select(q)) },
              q.name,
            ),
        },
        { label: 'Features', get: (q) => el('span', {}, ...features(q)) },
        { label: 'Ready', get: (q) => q.messages_ready, num: true },
        { label: 'Unacked', get: (q) => q.messages_unacknowledged, num: true },
        { label: 'Total', get: (q) => q.messages, num: true },
        { label: 'Consumers', get: (q) => q.consumers, num: true },
        { label: 'In', get: (q) => fmtRate(rateOf(q.message_stats, 'publish')), num: true },
        { label: 'Out', get: (q) => fmtRate(rateOf(q.message_stats, 'deliver_get')), num: true },
        {
          label: '',
          get: (q) => {
            const path = `/api/queues/${enc(q.vhost)}/${enc(q.name)}`;
            return el(
              'span',
              { class: 'row-actions' },
              button('Messages…', () => select(q)),
              dangerButton('Purge', () =>
                attempt(async () => {
                  await api('DELETE', `${path}/contents`);
                  await refresh();
                }, `Queue ${q.name} purged.`),
              ),
              dangerButton('Delete', () =>
                attempt(async () => {
                  await api('DELETE', path);
                  if (selected?.name === q.name && selected.vhost === q.vhost) select(null);
                  await refresh();
                }, `Queue ${q.name} deleted.`),
              ),
            );
          },
        },
      ],
      { empty: 'No queues.', key: (q) => `${q.vhost}/${q.name}` },
    );

    const detail = el('div', { id: 'queue-detail' });
    root.append(
      el('h2', {}, 'Queues'),
      section('Declare a queue', declare.node),
      el('div', { class: 'toolbar' }, searchBox),
      table.node,
      detail,
    );

    function draw() {
      table.update(rows.filter((q) => !search || q.name.toLowerCase().includes(search)));
    }

    function select(q) {
      selected = q ? { vhost: q.vhost, name: q.name } : null;
      detail.replaceChildren(...(q ? queueDetail(q.vhost, q.name) : []));
      if (q) detail.scrollIntoView({ behavior: 'smooth', block: 'start' });
    }

    async function refresh() {
      rows = await api('GET', '/api/queues');
      draw();
    }
    return { refresh };
  },
};

/** The panels of one queue: get messages, publish to it, its bindings. */
function queueDetail(vhost, name) {
  const path = `/api/queues/${enc(vhost)}/${enc(name)}`;
  const results = el('div', { class: 'messages', id: 'get-results' });
  const get = form({
    id: 'get-messages',
    fields: [
      { name: 'count', label: 'Messages', type: 'number', value: '1', min: '1' },
      {
        name: 'ackmode',
        label: 'Ack mode',
        type: 'select',
        options: [
          ['ack_requeue_true', 'Nack, requeue (peek)'],
          ['ack_requeue_false', 'Ack (remove from queue)'],
          ['reject_requeue_false', 'Reject, no requeue'],
        ],
      },
      { name: 'truncate', label: 'Truncate at (bytes)', type: 'number', value: '50000', min: '0' },
    ],
    submit: 'Get messages',
    onSubmit: (v) =>
      attempt(async () => {
        const msgs = await api('POST', `${path}/get`, {
          count: Number(v.count) || 1,
          ackmode: v.ackmode,
          encoding: 'auto',
          truncate: v.truncate === '' ? null : Number(v.truncate),
        });
        results.replaceChildren(
          ...(msgs.length ? msgs.map(messageCard) : [el('p', { class: 'muted' }, 'Queue is empty.')]),
        );
      }),
  });
  const pub = form({
    id: 'publish-to-queue',
    fields: [
      { name: 'payload', label: 'Payload', type: 'textarea', wide: true },
      { name: 'persistent', label: 'Persistent', type: 'checkbox' },
    ],
    submit: 'Publish message',
    onSubmit: (v) =>
      attempt(
        () => publish(vhost, '', { routingKey: name, payload: v.payload, persistent: v.persistent }),
        publishedMessage,
      ),
  });
  const bindings = dataTable(
    [
      { label: 'From exchange', get: (b) => (b.source === '' ? '(AMQP default)' : b.source) },
      { label: 'Routing key', get: (b) => b.routing_key },
      { label: 'Arguments', get: (b) => (Object.keys(b.arguments ?? {}).length ? b.arguments : '') },
    ],
    { empty: 'No bindings.' },
  );
  void api('GET', `${path}/bindings`).then(bindings.update, () => {});
  return [
    el(
      'h3',
      { class: 'detail-title' },
      'Queue ',
      el('span', { class: 'mono' }, name),
      ` in vhost ${vhostLabel(vhost)}`,
    ),
    el(
      'div',
      { class: 'split' },
      section('Get messages', get.node, results),
      el(
        'div',
        {},
        section('Publish message (via the default exchange)', pub.node),
        section('Bindings', bindings.node),
      ),
    ),
  ];
}
