/* global document, window, fetch, sessionStorage, btoa, Blob */
// Junction management UI: a small single-page client of the /api endpoints (no build step).

const state = {
  auth: sessionStorage.getItem('junction-auth'),
  tab: window.location.hash.slice(1) || 'overview',
  timer: 0,
};

const tabs = {
  overview: renderOverview,
  connections: () =>
    renderList(
      '/api/connections',
      ['name', 'protocol', 'user', 'vhost', 'peer_host', 'channels', 'state'],
      closeConnectionButton,
    ),
  channels: () =>
    renderList('/api/channels', ['name', 'user', 'vhost', 'consumer_count', 'messages_unacknowledged']),
  exchanges: renderExchanges,
  queues: renderQueues,
  vhosts: () =>
    renderList('/api/vhosts', [
      'name',
      'description',
      'messages',
      'messages_ready',
      'messages_unacknowledged',
    ]),
  users: () => renderList('/api/users', ['name', 'tags']),
  policies: () =>
    renderList('/api/policies', ['vhost', 'name', 'pattern', 'apply-to', 'priority', 'definition']),
  definitions: renderDefinitions,
};

const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
};
const { Node } = window;

async function api(method, path, body) {
  const headers = { authorization: `Basic ${state.auth}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401) {
    showLogin('Please log in.');
    throw new Error('not logged in');
  }
  const text = await r.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!r.ok) throw new Error(json?.reason ?? `HTTP ${r.status}`);
  return json;
}

const enc = encodeURIComponent;
const rate = (s, k) => s?.[`${k}_details`]?.rate ?? 0;
const show = (v) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : v);

function table(rows, columns, extra) {
  const head = el('tr', {}, ...columns.map((c) => el('th', {}, c)), ...(extra ? [el('th')] : []));
  const body = rows.map((r) =>
    el(
      'tr',
      {},
      ...columns.map((c) => el('td', typeof r[c] === 'number' ? { class: 'num' } : {}, show(r[c]))),
      ...(extra ? [el('td', {}, extra(r))] : []),
    ),
  );
  return el('table', {}, el('thead', {}, head), el('tbody', {}, ...body));
}

async function renderOverview(main) {
  const o = await api('GET', '/api/overview');
  const cards = [
    ['Connections', o.object_totals.connections],
    ['Channels', o.object_totals.channels],
    ['Queues', o.object_totals.queues],
    ['Consumers', o.object_totals.consumers],
    ['Messages', o.queue_totals.messages],
    ['Ready', o.queue_totals.messages_ready],
    ['Unacked', o.queue_totals.messages_unacknowledged],
    ['Publish /s', rate(o.message_stats, 'publish')],
    ['Deliver /s', rate(o.message_stats, 'deliver')],
    ['Ack /s', rate(o.message_stats, 'ack')],
  ];
  main.append(
    el('h2', {}, `${o.product_name} ${o.product_version} on ${o.node}`),
    el('div', { class: 'cards' }, ...cards.map(([k, v]) => el('div', { class: 'card' }, el('b', {}, v), k))),
  );
}

async function renderList(path, columns, extra) {
  const rows = await api('GET', path);
  return table(rows, columns, extra);
}

function closeConnectionButton(c) {
  return el(
    'button',
    { onclick: () => act(() => api('DELETE', `/api/connections/${enc(c.name)}`)) },
    'Close',
  );
}

async function act(fn) {
  try {
    await fn();
  } catch (err) {
    window.alert(err.message);
  }
  await render();
}

function formOf(fields, submit, label) {
  const inputs = fields.map(([name, placeholder]) => el('input', { name, placeholder }));
  return el(
    'form',
    {
      class: 'inline',
      onsubmit: (e) => {
        e.preventDefault();
        const v = Object.fromEntries(inputs.map((i) => [i.name, i.value]));
        void act(() => submit(v));
      },
    },
    ...inputs.map((i) => el('label', {}, i.placeholder, i)),
    el('button', { type: 'submit' }, label),
  );
}

async function renderExchanges(main) {
  main.append(
    formOf(
      [
        ['vhost', 'vhost'],
        ['name', 'name'],
        ['type', 'type (direct, fanout, topic, headers)'],
      ],
      (v) =>
        api('PUT', `/api/exchanges/${enc(v.vhost || '/')}/${enc(v.name)}`, {
          type: v.type || 'direct',
          durable: true,
        }),
      'Add exchange',
    ),
    formOf(
      [
        ['vhost', 'vhost'],
        ['exchange', 'exchange'],
        ['routing_key', 'routing key'],
        ['payload', 'payload'],
      ],
      async (v) => {
        const r = await api(
          'POST',
          `/api/exchanges/${enc(v.vhost || '/')}/${enc(v.exchange || 'amq.default')}/publish`,
          { routing_key: v.routing_key, payload: v.payload, payload_encoding: 'string', properties: {} },
        );
        window.alert(r.routed ? 'Message routed.' : 'Message published, but not routed.');
      },
      'Publish',
    ),
  );
  return renderList(
    '/api/exchanges',
    ['vhost', 'name', 'type', 'durable', 'auto_delete', 'internal', 'arguments'],
    (x) =>
      x.name === '' || x.name.startsWith('amq.')
        ? ''
        : el(
            'button',
            { onclick: () => act(() => api('DELETE', `/api/exchanges/${enc(x.vhost)}/${enc(x.name)}`)) },
            'Delete',
          ),
  );
}

async function renderQueues(main) {
  main.append(
    formOf(
      [
        ['vhost', 'vhost'],
        ['name', 'name'],
      ],
      (v) => api('PUT', `/api/queues/${enc(v.vhost || '/')}/${enc(v.name)}`, { durable: true }),
      'Add queue',
    ),
  );
  const rows = (await api('GET', '/api/queues')).map((q) => ({
    ...q,
    publish_rate: rate(q.message_stats, 'publish'),
    deliver_rate: rate(q.message_stats, 'deliver'),
    ack_rate: rate(q.message_stats, 'ack'),
  }));
  const out = el('pre');
  const t = table(
    rows,
    [
      'vhost',
      'name',
      'durable',
      'state',
      'messages_ready',
      'messages_unacknowledged',
      'consumers',
      'publish_rate',
      'deliver_rate',
      'ack_rate',
    ],
    (q) => {
      const path = `/api/queues/${enc(q.vhost)}/${enc(q.name)}`;
      return el(
        'span',
        {},
        el(
          'button',
          {
            onclick: () =>
              api('POST', `${path}/get`, {
                count: 5,
                ackmode: 'ack_requeue_true',
                encoding: 'auto',
                truncate: 50000,
              }).then(
                (m) => {
                  out.textContent = JSON.stringify(m, null, 2);
                },
                (e) => window.alert(e.message),
              ),
          },
          'Get',
        ),
        el('button', { onclick: () => act(() => api('DELETE', `${path}/contents`)) }, 'Purge'),
        el(
          'button',
          { onclick: () => window.confirm(`Delete queue ${q.name}?`) && act(() => api('DELETE', path)) },
          'Delete',
        ),
      );
    },
  );
  main.append(t, out);
}

async function renderDefinitions(main) {
  const input = el('input', { type: 'file', accept: 'application/json' });
  main.append(
    el(
      'button',
      {
        onclick: async () => {
          const defs = await api('GET', '/api/definitions');
          const a = el('a', {
            href: URL.createObjectURL(
              new Blob([JSON.stringify(defs, null, 2)], { type: 'application/json' }),
            ),
            download: 'junction-definitions.json',
          });
          a.click();
        },
      },
      'Download definitions',
    ),
    el(
      'form',
      {
        class: 'inline',
        onsubmit: (e) => {
          e.preventDefault();
          const f = input.files?.[0];
          if (f) void f.text().then((t) => act(() => api('POST', '/api/definitions', JSON.parse(t))));
        },
      },
      input,
      el('button', { type: 'submit' }, 'Import definitions'),
    ),
  );
}

async function render() {
  const main = document.getElementById('main');
  const nav = document.getElementById('tabs');
  nav.replaceChildren(
    ...Object.keys(tabs).map((t) => el('a', { href: `#${t}`, class: t === state.tab ? 'active' : '' }, t)),
  );
  try {
    const fresh = document.createElement('div');
    const node = await tabs[state.tab]?.(fresh);
    if (node) fresh.append(node);
    main.replaceChildren(...fresh.childNodes);
  } catch (err) {
    if (state.auth) main.replaceChildren(el('p', { class: 'error' }, err.message));
  }
}

function showLogin(message) {
  state.auth = null;
  sessionStorage.removeItem('junction-auth');
  document.getElementById('main').replaceChildren();
  document.getElementById('who').replaceChildren();
  document.getElementById('login').hidden = false;
  document.getElementById('login-error').textContent = message ?? '';
}

document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new window.FormData(e.target);
  state.auth = btoa(`${f.get('username')}:${f.get('password')}`);
  try {
    const me = await api('GET', '/api/whoami');
    sessionStorage.setItem('junction-auth', state.auth);
    e.target.hidden = true;
    start(me);
  } catch (err) {
    showLogin(err.message === 'not logged in' ? 'Login failed.' : err.message);
  }
});

function start(me) {
  document
    .getElementById('who')
    .replaceChildren(
      `${me.name} (${me.tags.join(', ')})`,
      el('button', { onclick: () => showLogin() }, 'Log out'),
    );
  window.clearInterval(state.timer);
  state.timer = window.setInterval(() => {
    if (!document.activeElement || document.activeElement === document.body) void render();
  }, 5000);
  void render();
}

window.addEventListener('hashchange', () => {
  state.tab = window.location.hash.slice(1) || 'overview';
  void render();
});

if (state.auth) api('GET', '/api/whoami').then(start, () => showLogin());
else showLogin();
