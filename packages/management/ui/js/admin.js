/* global window */
// Administration: users, permissions, virtual hosts, policies, definitions.

import { api, enc, session } from './api.js';
import {
  attempt,
  badge,
  button,
  dangerButton,
  dataTable,
  el,
  fmtNum,
  form,
  section,
  setOptions,
  show,
  vhostLabel,
} from './dom.js';
import { jsonField, vhostOptions } from './shared.js';

const TAGS = ['administrator', 'monitoring', 'policymaker', 'management', 'impersonator'];

export const usersPage = {
  id: 'users',
  title: 'Users',
  admin: true,
  mount(root) {
    const add = form({
      id: 'add-user',
      fields: [
        { name: 'name', label: 'Username', required: true },
        { name: 'password', label: 'Password', type: 'password', placeholder: 'unchanged when empty' },
        { name: 'tags', label: 'Tags', type: 'select', options: [['', '(none)'], ...TAGS] },
        { name: 'more', label: 'More tags (comma separated)' },
      ],
      submit: 'Add / update user',
      onSubmit: (v, f) =>
        attempt(async () => {
          const tags = [v.tags, ...v.more.split(',')].map((t) => t.trim()).filter(Boolean);
          const body = { tags: tags.join(',') };
          if (v.password) body.password = v.password;
          await api('PUT', `/api/users/${enc(v.name)}`, body);
          f.elements.password.value = '';
          await refresh();
        }, `User ${v.name} saved.`),
    });
    const table = dataTable(
      [
        { label: 'Name', get: (u) => el('b', {}, u.name) },
        { label: 'Tags', get: (u) => el('span', {}, ...(u.tags ?? []).map((t) => badge(t))) },
        { label: 'Password', get: (u) => (u.password_hash ? 'set' : badge('none', 'warn')) },
        {
          label: '',
          get: (u) =>
            el(
              'span',
              { class: 'row-actions' },
              button('Edit', () => {
                add.controls.name.value = u.name;
                add.controls.tags.value = TAGS.find((t) => u.tags.includes(t)) ?? '';
                add.controls.more.value = u.tags.filter((t) => t !== add.controls.tags.value).join(', ');
                add.controls.password.focus();
              }),
              u.name === session.user?.name
                ? null
                : dangerButton('Delete', () =>
                    attempt(async () => {
                      await api('DELETE', `/api/users/${enc(u.name)}`);
                      await refresh();
                    }, `User ${u.name} deleted.`),
                  ),
            ),
        },
      ],
      { empty: 'No users.', key: (u) => u.name },
    );
    root.append(el('h2', {}, 'Users'), table.node, section('Add or update a user', add.node));
    async function refresh() {
      table.update(await api('GET', '/api/users'));
    }
    return { refresh };
  },
};

export const permissionsPage = {
  id: 'permissions',
  title: 'Permissions',
  admin: true,
  mount(root) {
    const set = form({
      id: 'set-permission',
      fields: [
        { name: 'user', label: 'User', type: 'select', options: [] },
        { name: 'vhost', label: 'Virtual host', type: 'select', options: [['/', '/ (default)']] },
        { name: 'configure', label: 'Configure regexp', value: '.*' },
        { name: 'write', label: 'Write regexp', value: '.*' },
        { name: 'read', label: 'Read regexp', value: '.*' },
      ],
      submit: 'Set permission',
      onSubmit: (v) =>
        attempt(
          async () => {
            await api('PUT', `/api/permissions/${enc(v.vhost)}/${enc(v.user)}`, {
              configure: v.configure,
              write: v.write,
              read: v.read,
            });
            await refresh();
          },
          `Permissions of ${v.user} on vhost ${vhostLabel(v.vhost)} set.`,
        ),
    });
    void vhostOptions().then(
      (o) => setOptions(set.controls.vhost, o),
      () => {},
    );
    const re = (s) => el('code', {}, s === '' ? '(none)' : s);
    const table = dataTable(
      [
        { label: 'User', get: (p) => el('b', {}, p.user) },
        { label: 'Virtual host', get: (p) => vhostLabel(p.vhost) },
        { label: 'Configure', get: (p) => re(p.configure) },
        { label: 'Write', get: (p) => re(p.write) },
        { label: 'Read', get: (p) => re(p.read) },
        {
          label: '',
          get: (p) =>
            dangerButton('Clear', () =>
              attempt(
                async () => {
                  await api('DELETE', `/api/permissions/${enc(p.vhost)}/${enc(p.user)}`);
                  await refresh();
                },
                `Permissions of ${p.user} on vhost ${vhostLabel(p.vhost)} cleared.`,
              ),
            ),
        },
      ],
      { empty: 'No permissions.', key: (p) => `${p.vhost}/${p.user}` },
    );
    root.append(el('h2', {}, 'Permissions'), table.node, section('Set a permission', set.node));
    async function refresh() {
      const [perms, users] = await Promise.all([api('GET', '/api/permissions'), api('GET', '/api/users')]);
      setOptions(
        set.controls.user,
        users.map((u) => u.name),
      );
      table.update(perms);
    }
    return { refresh };
  },
};

export const vhostsPage = {
  id: 'vhosts',
  title: 'Vhosts',
  mount(root) {
    const add = form({
      id: 'add-vhost',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'description', label: 'Description', wide: true },
      ],
      submit: 'Add virtual host',
      onSubmit: (v, f) =>
        attempt(async () => {
          await api('PUT', `/api/vhosts/${enc(v.name)}`, { description: v.description });
          f.elements.name.value = '';
          await refresh();
        }, `Virtual host ${v.name} added.`),
    });
    const table = dataTable(
      [
        { label: 'Name', get: (v) => el('b', {}, vhostLabel(v.name)) },
        { label: 'Description', get: (v) => v.description },
        { label: 'Ready', get: (v) => fmtNum(v.messages_ready), num: true },
        { label: 'Unacked', get: (v) => fmtNum(v.messages_unacknowledged), num: true },
        { label: 'Total', get: (v) => fmtNum(v.messages), num: true },
        {
          label: '',
          get: (v) =>
            session.user?.tags.includes('administrator') && v.name !== '/'
              ? dangerButton('Delete', () =>
                  attempt(async () => {
                    await api('DELETE', `/api/vhosts/${enc(v.name)}`);
                    await refresh();
                  }, `Virtual host ${v.name} deleted.`),
                )
              : '',
        },
      ],
      { empty: 'No virtual hosts.', key: (v) => v.name },
    );
    root.append(el('h2', {}, 'Virtual hosts'), table.node);
    if (session.user?.tags.includes('administrator')) root.append(section('Add a virtual host', add.node));
    async function refresh() {
      table.update(await api('GET', '/api/vhosts'));
    }
    return { refresh };
  },
};

export const policiesPage = {
  id: 'policies',
  title: 'Policies',
  mount(root) {
    const add = form({
      id: 'add-policy',
      fields: [
        { name: 'vhost', label: 'Virtual host', type: 'select', options: [['/', '/ (default)']] },
        { name: 'name', label: 'Name', required: true },
        { name: 'pattern', label: 'Pattern', required: true, placeholder: '^orders\\.' },
        { name: 'apply_to', label: 'Apply to', type: 'select', options: ['queues', 'exchanges', 'all'] },
        { name: 'priority', label: 'Priority', type: 'number', value: '0' },
        { name: 'definition', label: 'Definition (JSON)', wide: true, placeholder: '{"max-length": 1000}' },
      ],
      submit: 'Add / update policy',
      onSubmit: (v) =>
        attempt(async () => {
          await api('PUT', `/api/policies/${enc(v.vhost)}/${enc(v.name)}`, {
            pattern: v.pattern,
            'apply-to': v.apply_to,
            priority: Number(v.priority) || 0,
            definition: jsonField(v.definition, 'Definition'),
          });
          await refresh();
        }, `Policy ${v.name} saved.`),
    });
    void vhostOptions().then(
      (o) => setOptions(add.controls.vhost, o),
      () => {},
    );
    const table = dataTable(
      [
        { label: 'Vhost', get: (p) => vhostLabel(p.vhost) },
        { label: 'Name', get: (p) => el('b', {}, p.name) },
        { label: 'Pattern', get: (p) => el('code', {}, p.pattern) },
        { label: 'Apply to', get: (p) => p['apply-to'] },
        { label: 'Priority', get: (p) => p.priority, num: true },
        { label: 'Definition', get: (p) => el('code', {}, show(p.definition)) },
        {
          label: '',
          get: (p) =>
            dangerButton('Delete', () =>
              attempt(async () => {
                await api('DELETE', `/api/policies/${enc(p.vhost)}/${enc(p.name)}`);
                await refresh();
              }, `Policy ${p.name} deleted.`),
            ),
        },
      ],
      { empty: 'No policies.', key: (p) => `${p.vhost}/${p.name}` },
    );
    root.append(el('h2', {}, 'Policies'), table.node, section('Add or update a policy', add.node));
    async function refresh() {
      table.update(await api('GET', '/api/policies'));
    }
    return { refresh };
  },
};

export const definitionsPage = {
  id: 'definitions',
  title: 'Definitions',
  admin: true,
  mount(root) {
    const file = el('input', { type: 'file', accept: 'application/json,.json' });
    const download = button(
      'Download definitions',
      () =>
        attempt(async () => {
          const defs = await api('GET', '/api/definitions');
          const { Blob, URL } = window;
          const a = el('a', {
            href: URL.createObjectURL(
              new Blob([JSON.stringify(defs, null, 2)], { type: 'application/json' }),
            ),
            download: 'junction-definitions.json',
          });
          a.click();
          URL.revokeObjectURL(a.href);
        }),
      'primary',
    );
    const upload = el(
      'form',
      {
        class: 'inline',
        onsubmit: (e) => {
          e.preventDefault();
          const f = file.files?.[0];
          if (!f) return;
          void attempt(
            async () => api('POST', '/api/definitions', JSON.parse(await f.text())),
            'Definitions imported.',
          );
        },
      },
      el('label', { class: 'field' }, el('span', {}, 'Definitions file'), file),
      el(
        'div',
        { class: 'actions' },
        el('button', { type: 'submit', class: 'primary' }, 'Import definitions'),
      ),
    );
    root.append(
      el('h2', {}, 'Definitions'),
      section(
        'Export',
        el(
          'p',
          { class: 'muted' },
          'Users, virtual hosts, permissions, policies, queues, exchanges and bindings as RabbitMQ-compatible JSON.',
        ),
        download,
      ),
      section('Import', upload),
    );
    return {};
  },
};
