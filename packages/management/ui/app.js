/* global document, window */
// Junction management UI: a small single-page client of the /api endpoints (plain ES modules,
// no build step). Pages live in js/; each has mount(root) -> {refresh?, destroy?}.

import { api, login, logout, resume, session, setUnauthorizedHandler } from './js/api.js';
import { el, notify } from './js/dom.js';
import { channelsPage, connectionsPage } from './js/connections.js';
import { definitionsPage, permissionsPage, policiesPage, usersPage, vhostsPage } from './js/admin.js';
import { exchangesPage } from './js/exchanges.js';
import { overviewPage, startSampling, stopSampling } from './js/overview.js';
import { queuesPage } from './js/queues.js';

const PAGES = [
  overviewPage,
  connectionsPage,
  channelsPage,
  exchangesPage,
  queuesPage,
  vhostsPage,
  usersPage,
  permissionsPage,
  policiesPage,
  definitionsPage,
];
const REFRESH_MS = 2000;

const $ = (id) => document.getElementById(id);
let current = null; // {page, handle, timer}

const visiblePages = () => PAGES.filter((p) => !p.admin || session.user?.tags.includes('administrator'));

function pageFromHash() {
  const id = window.location.hash.replace(/^#\/?/, '') || 'overview';
  return visiblePages().find((p) => p.id === id) ?? overviewPage;
}

function unmount() {
  if (!current) return;
  window.clearInterval(current.timer);
  current.handle?.destroy?.();
  current = null;
}

async function refresh(state) {
  if (!state.handle?.refresh || state.busy) return;
  state.busy = true;
  try {
    await state.handle.refresh();
    state.error.hidden = true;
  } catch (err) {
    if (current === state && session.auth) {
      state.error.textContent = `Could not load: ${err.message}`;
      state.error.hidden = false;
    }
  } finally {
    state.busy = false;
  }
}

function show() {
  const page = pageFromHash();
  unmount();
  const main = $('main');
  const root = el('div', { class: 'page', id: `page-${page.id}` });
  const error = el('p', { class: 'error banner', hidden: true });
  main.replaceChildren(error, root);
  $('tabs').replaceChildren(
    ...visiblePages().map((p) =>
      el(
        'a',
        {
          href: `#/${p.id}`,
          class: p === page ? 'active' : null,
          'aria-current': p === page ? 'page' : null,
        },
        p.title,
      ),
    ),
  );
  document.title = `${page.title} · Junction`;
  const state = { page, error, busy: false, handle: null, timer: 0 };
  current = state;
  try {
    state.handle = page.mount(root) ?? {};
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    return;
  }
  void refresh(state);
  state.timer = window.setInterval(() => void refresh(state), REFRESH_MS);
}

function enter(me) {
  $('login').hidden = true;
  $('app').hidden = false;
  $('who').replaceChildren(
    el('span', { class: 'user', title: `tags: ${me.tags.join(', ') || 'none'}` }, me.name),
    el('button', { type: 'button', class: 'small ghost', onclick: () => leave() }, 'Log out'),
  );
  startSampling();
  show();
}

function leave(message) {
  unmount();
  stopSampling();
  logout();
  $('app').hidden = true;
  $('main').replaceChildren();
  $('who').replaceChildren();
  $('tabs').replaceChildren();
  $('login').hidden = false;
  $('login-error').textContent = message ?? '';
  $('login').elements.username.focus();
}

setUnauthorizedHandler((reason) => {
  if (session.auth) leave(`Session ended: ${reason}`);
});

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  const button = f.querySelector('button');
  button.disabled = true;
  $('login-error').textContent = '';
  try {
    const me = await login(f.elements.username.value, f.elements.password.value);
    f.elements.password.value = '';
    enter(me);
  } catch (err) {
    $('login-error').textContent =
      err.status === 401 ? 'Login failed: wrong username or password.' : `Login failed: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});

window.addEventListener('hashchange', () => {
  if (session.user) show();
});

// Back from a reload with credentials in this tab's session: skip the login form.
resume().then(
  (me) => (me ? enter(me) : leave()),
  () => leave(),
);

// For the console: `junction.api('GET', '/api/overview')`.
window.junction = { api, notify };
