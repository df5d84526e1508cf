// Exchanges: declare and delete, their bindings (add/remove), and a publish form.

import { api, enc, exName } from './api.js';
import {
  attempt,
  badge,
  button,
  dangerButton,
  dataTable,
  el,
  form,
  section,
  setOptions,
  vhostLabel,
} from './dom.js';
import { jsonField, publish, publishedMessage, vhostOptions } from './shared.js';

const label = (name) => (name === '' ? '(AMQP default)' : name);
const isBuiltin = (x) => x.name === '' || x.name.startsWith('amq.');

export const exchangesPage = {
  id: 'exchanges',
  title: 'Exchanges',
  mount(root) {
    let exchanges = [];
    let bindings = [];
    let open = null; // key of the exchange whose bindings are shown

    const declare = form({
      id: 'declare-exchange',
      fields: [
        { name: 'vhost', label: 'Virtual host', type: 'select', options: [['/', '/ (default)']] },
        { name: 'name', label: 'Name', required: true, placeholder: 'events' },
        { name: 'type', label: 'Type', type: 'select', options: ['direct', 'fanout', 'topic', 'headers'] },
        { name: 'durable', label: 'Durable', type: 'checkbox', value: true },
        { name: 'auto_delete', label: 'Auto-delete', type: 'checkbox' },
        { name: 'internal', label: 'Internal', type: 'checkbox' },
      ],
      submit: 'Declare exchange',
      onSubmit: (v, f) =>
        attempt(async () => {
          await api('PUT', `/api/exchanges/${enc(v.vhost)}/${enc(v.name)}`, {
            type: v.type,
            durable: v.durable,
            auto_delete: v.auto_delete,
            internal: v.internal,
          });
          f.elements.name.value = '';
          await refresh();
        }, `Exchange ${v.name} declared.`),
    });

    const pub = form({
      id: 'publish-message',
      className: 'inline',
      fields: [
        { name: 'vhost', label: 'Virtual host', type: 'select', options: [['/', '/ (default)']] },
        { name: 'exchange', label: 'Exchange', type: 'select', options: [['', '(AMQP default)']] },
        { name: 'routing_key', label: 'Routing key', placeholder: 'queue name for the default exchange' },
        { name: 'content_type', label: 'Content type', placeholder: 'text/plain' },
        { name: 'persistent', label: 'Persistent', type: 'checkbox' },
        { name: 'headers', label: 'Headers (JSON)', placeholder: '{"x-source": "ui"}', wide: true },
        { name: 'payload', label: 'Payload', type: 'textarea', wide: true, rows: 4 },
      ],
      submit: 'Publish message',
      onSubmit: (v) =>
        attempt(
          () =>
            publish(v.vhost, v.exchange, {
              routingKey: v.routing_key,
              payload: v.payload,
              persistent: v.persistent,
              contentType: v.content_type,
              headers: v.headers,
            }),
          publishedMessage,
        ),
    });
    pub.controls.vhost.addEventListener('change', () => fillExchangeChoices());
    void vhostOptions().then(
      (o) => {
        setOptions(declare.controls.vhost, o);
        setOptions(pub.controls.vhost, o);
      },
      () => {},
    );
    void api('GET', '/api/overview').then(
      (o) =>
        setOptions(
          declare.controls.type,
          o.exchange_types.map((t) => t.name),
          'direct',
        ),
      () => {},
    );

    const table = dataTable(
      [
        { label: 'Vhost', get: (x) => vhostLabel(x.vhost) },
        { label: 'Name', get: (x) => el('span', { class: 'mono' }, label(x.name)) },
        { label: 'Type', get: (x) => badge(x.type) },
        {
          label: 'Features',
          get: (x) =>
            el(
              'span',
              {},
              x.durable ? badge('D', 'feature') : null,
              x.auto_delete ? badge('AD', 'feature') : null,
              x.internal ? badge('I', 'feature') : null,
            ),
        },
        { label: 'Bindings', get: (x) => sourceBindings(x).length, num: true },
        {
          label: '',
          get: (x) =>
            el(
              'span',
              { class: 'row-actions' },
              button(open === key(x) ? 'Hide bindings' : 'Bindings', () => {
                open = open === key(x) ? null : key(x);
                draw();
              }),
              isBuiltin(x)
                ? null
                : dangerButton('Delete', () =>
                    attempt(async () => {
                      await api('DELETE', `/api/exchanges/${enc(x.vhost)}/${exName(x.name)}`);
                      await refresh();
                    }, `Exchange ${x.name} deleted.`),
                  ),
            ),
        },
      ],
      { empty: 'No exchanges.', key: (x) => key(x) },
    );
    const detail = el('div', { id: 'exchange-bindings' });

    root.append(
      el('h2', {}, 'Exchanges'),
      table.node,
      detail,
      el(
        'div',
        { class: 'split' },
        section('Publish a message', pub.node),
        section('Declare an exchange', declare.node),
      ),
    );

    function key(x) {
      return `${x.vhost}/${x.name}`;
    }
    function sourceBindings(x) {
      return bindings.filter((b) => b.vhost === x.vhost && b.source === x.name);
    }
    function fillExchangeChoices() {
      const vhost = pub.controls.vhost.value;
      setOptions(
        pub.controls.exchange,
        exchanges.filter((x) => x.vhost === vhost && !x.internal).map((x) => [x.name, label(x.name)]),
        '',
      );
    }

    let drawnDetail = null;
    function draw() {
      table.update(exchanges);
      fillExchangeChoices();
      const x = exchanges.find((e) => key(e) === open);
      if (!x) {
        detail.replaceChildren();
        drawnDetail = null;
        return;
      }
      // Keep the add-binding form (and what is typed in it) across refreshes.
      if (drawnDetail?.key !== open) drawnDetail = { key: open, ...bindingPanel(x, refresh) };
      drawnDetail.update(sourceBindings(x));
      if (!detail.contains(drawnDetail.node)) detail.replaceChildren(drawnDetail.node);
    }

    async function refresh() {
      [exchanges, bindings] = await Promise.all([api('GET', '/api/exchanges'), api('GET', '/api/bindings')]);
      draw();
    }
    return { refresh };
  },
};

function bindingPanel(x, refresh) {
  const table = dataTable(
    [
      { label: 'To', get: (b) => `${b.destination_type} ${b.destination}` },
      { label: 'Routing key', get: (b) => b.routing_key },
      { label: 'Arguments', get: (b) => (Object.keys(b.arguments ?? {}).length ? b.arguments : '') },
      {
        label: '',
        get: (b) =>
          x.name === ''
            ? ''
            : dangerButton('Unbind', () =>
                attempt(async () => {
                  const kind = b.destination_type === 'queue' ? 'q' : 'e';
                  await api(
                    'DELETE',
                    `/api/bindings/${enc(x.vhost)}/e/${exName(x.name)}/${kind}/${enc(b.destination)}/${enc(b.properties_key)}`,
                  );
                  await refresh();
                }, 'Binding removed.'),
              ),
      },
    ],
    {
      empty:
        x.name === '' ? 'Every queue is bound implicitly by its name.' : 'No bindings from this exchange.',
    },
  );
  const add =
    x.name === ''
      ? null
      : form({
          id: 'add-binding',
          fields: [
            {
              name: 'kind',
              label: 'To',
              type: 'select',
              options: [
                ['q', 'Queue'],
                ['e', 'Exchange'],
              ],
            },
            { name: 'dest', label: 'Destination', required: true },
            { name: 'routing_key', label: 'Routing key' },
            { name: 'arguments', label: 'Arguments (JSON)', wide: true },
          ],
          submit: 'Bind',
          onSubmit: (v) =>
            attempt(async () => {
              await api(
                'POST',
                `/api/bindings/${enc(x.vhost)}/e/${exName(x.name)}/${v.kind}/${enc(v.dest)}`,
                {
                  routing_key: v.routing_key,
                  arguments: jsonField(v.arguments, 'Arguments'),
                },
              );
              await refresh();
            }, 'Binding added.'),
        });
  return {
    node: section(`Bindings from ${label(x.name)} in vhost ${vhostLabel(x.vhost)}`, table.node, add?.node),
    update: table.update,
  };
}
