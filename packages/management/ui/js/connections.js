// Connections (filterable by protocol, closable) and channels.

import { api, enc, isAdmin, session } from './api.js';
import { attempt, badge, dangerButton, dataTable, el, fmtAgo, fmtBytes, fmtNum, vhostLabel } from './dom.js';

const PROTOCOLS = [
  ['all', 'All'],
  ['AMQP', 'AMQP'],
  ['MQTT', 'MQTT'],
  ['STOMP', 'STOMP'],
];

const protocolKind = (p) =>
  String(p ?? '')
    .split(' ')[0]
    .toUpperCase();

function client(c) {
  if (c.client_id) return c.client_id;
  const props = c.client_properties ?? {};
  return [props.product, props.version].filter(Boolean).join(' ') || props.connection_name || '';
}

/** TLS version and client certificate subject; cipher, issuer, validity and SANs on hover. */
function tls(c) {
  if (!c.ssl) return el('span', { class: 'muted' }, 'none');
  const details = [
    `Cipher: ${c.ssl_cipher}`,
    c.peer_cert_subject && `Client certificate: ${c.peer_cert_subject}`,
    c.peer_cert_issuer && `Issuer: ${c.peer_cert_issuer}`,
    c.peer_cert_validity && `Valid: ${c.peer_cert_validity}`,
    c.peer_cert_subject_alt_name && `Alt names: ${c.peer_cert_subject_alt_name}`,
  ].filter(Boolean);
  return el(
    'span',
    { class: 'tls', title: details.join('\n') },
    badge(c.ssl_protocol, 'ok'),
    c.peer_cert_subject ? el('span', { class: 'mono peer-cert' }, c.peer_cert_subject) : null,
  );
}

export const connectionsPage = {
  id: 'connections',
  title: 'Connections',
  mount(root) {
    let filter = 'all';
    let search = '';
    let rows = [];
    const counts = {};
    const buttons = PROTOCOLS.map(([value, label]) => {
      const b = el('button', { type: 'button', class: 'seg', dataset: { protocol: value } }, label);
      b.addEventListener('click', () => {
        filter = value;
        draw();
      });
      return b;
    });
    const searchBox = el('input', {
      type: 'search',
      placeholder: 'Filter by name, user or client',
      class: 'search',
    });
    searchBox.addEventListener('input', () => {
      search = searchBox.value.trim().toLowerCase();
      draw();
    });
    const summary = el('span', { class: 'muted' });
    const table = dataTable(
      [
        { label: 'Name', get: (c) => el('span', { class: 'mono' }, c.name) },
        { label: 'Protocol', get: (c) => badge(c.protocol, protocolKind(c.protocol).toLowerCase()) },
        { label: 'Client', get: client },
        { label: 'User', get: (c) => c.user },
        { label: 'Vhost', get: (c) => vhostLabel(c.vhost) },
        { label: 'Channels', get: (c) => c.channels, num: true },
        { label: 'State', get: (c) => badge(c.state, c.state === 'running' ? 'ok' : 'warn') },
        { label: 'TLS', get: tls },
        { label: 'Connected', get: (c) => fmtAgo(c.connected_at) },
        { label: 'In / out', get: (c) => `${fmtBytes(c.recv_oct)} / ${fmtBytes(c.send_oct)}`, num: true },
        {
          label: '',
          get: (c) =>
            isAdmin() || c.user === session.user?.name
              ? dangerButton('Close', () =>
                  attempt(async () => {
                    await api('DELETE', `/api/connections/${enc(c.name)}`);
                    await refresh();
                  }, `Closed ${c.name}`),
                )
              : '',
        },
      ],
      { empty: 'No connections.', key: (c) => c.name },
    );
    root.append(
      el('h2', {}, 'Connections'),
      el(
        'div',
        { class: 'toolbar' },
        el('div', { class: 'segmented', role: 'group', 'aria-label': 'Protocol' }, ...buttons),
        searchBox,
        summary,
      ),
      table.node,
    );

    function draw() {
      for (const [value] of PROTOCOLS) counts[value] = 0;
      for (const c of rows) {
        counts.all++;
        const k = protocolKind(c.protocol);
        if (k in counts) counts[k]++;
      }
      buttons.forEach((b, i) => {
        const [value, label] = PROTOCOLS[i];
        b.classList.toggle('active', value === filter);
        b.setAttribute('aria-pressed', String(value === filter));
        b.textContent = `${label} (${counts[value]})`;
      });
      const shown = rows.filter(
        (c) =>
          (filter === 'all' || protocolKind(c.protocol) === filter) &&
          (!search || [c.name, c.user, client(c)].some((s) => String(s).toLowerCase().includes(search))),
      );
      summary.textContent = `${fmtNum(shown.length)} of ${fmtNum(rows.length)} shown`;
      table.update(shown);
    }

    async function refresh() {
      rows = await api('GET', '/api/connections');
      draw();
    }
    return { refresh };
  },
};

export const channelsPage = {
  id: 'channels',
  title: 'Channels',
  mount(root) {
    const table = dataTable(
      [
        { label: 'Channel', get: (c) => el('span', { class: 'mono' }, c.name) },
        { label: 'User', get: (c) => c.user },
        { label: 'Vhost', get: (c) => vhostLabel(c.vhost) },
        { label: 'Consumers', get: (c) => c.consumer_count, num: true },
        { label: 'Prefetch', get: (c) => c.prefetch_count, num: true },
        { label: 'Unacked', get: (c) => c.messages_unacknowledged, num: true },
        { label: 'Confirm', get: (c) => (c.confirm ? 'yes' : '') },
      ],
      { empty: 'No channels.', key: (c) => c.name },
    );
    root.append(el('h2', {}, 'Channels'), table.node);
    return { refresh: async () => table.update(await api('GET', '/api/channels')) };
  },
};
