/* global document, window */
// DOM helpers shared by the pages: element builder, live tables, forms, notifications, formatting.

/** el('div', {class: 'x', onclick: fn}, child, 'text', ...) */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'value' || k === 'checked') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  append(e, children);
  return e;
}

function append(parent, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    parent.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
}

export const section = (title, ...children) =>
  el('section', { class: 'panel' }, title ? el('h3', {}, title) : null, ...children);

// ---- formatting -------------------------------------------------------------------------

export const rateOf = (stats, key) => stats?.[`${key}_details`]?.rate ?? 0;
export const fmtNum = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : (n ?? ''));
export const fmtRate = (n) => (n ? `${n.toLocaleString('en-US', { maximumFractionDigits: 1 })}/s` : '0/s');
export function fmtBytes(n) {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
export function fmtAgo(ms) {
  if (typeof ms !== 'number') return '';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
export const vhostLabel = (v) => v ?? '';
export const show = (v) =>
  v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);

// ---- tables ------------------------------------------------------------------------------

/**
 * A table whose body is replaced on update(rows). columns: [{label, get(row) -> value|Node, num}].
 * key(row) names a row (data-key) so tests and styles can find it.
 */
export function dataTable(columns, { empty = 'Nothing here yet.', key, className } = {}) {
  const tbody = el('tbody');
  const table = el(
    'table',
    { class: className ?? 'data' },
    el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { class: c.num ? 'num' : null }, c.label)))),
    tbody,
  );
  return {
    node: el('div', { class: 'table-wrap' }, table),
    update(rows) {
      // A destructive button waiting for its confirming click survives refreshes.
      if (tbody.querySelector('.armed')) return;
      if (rows.length === 0) {
        tbody.replaceChildren(el('tr', {}, el('td', { class: 'empty', colspan: columns.length }, empty)));
        return;
      }
      tbody.replaceChildren(
        ...rows.map((r) =>
          el(
            'tr',
            { dataset: key ? { key: key(r) } : {} },
            ...columns.map((c) => {
              const v = c.get(r);
              return el('td', { class: c.num ? 'num' : null }, v instanceof window.Node ? v : show(v));
            }),
          ),
        ),
      );
    },
  };
}

export const badge = (text, kind = '') => el('span', { class: `badge ${kind}` }, text);

// ---- notifications -----------------------------------------------------------------------

export function notify(message, kind = 'ok') {
  let box = document.getElementById('toasts');
  if (!box) {
    box = el('div', { id: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const t = el('div', { class: `toast ${kind}` }, message);
  box.append(t);
  window.setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** Runs an action, reporting failure (and success, when `done` is given) as a notification. */
export async function attempt(fn, done) {
  try {
    const r = await fn();
    if (done) notify(typeof done === 'function' ? done(r) : done);
    return r;
  } catch (err) {
    notify(err.message, 'error');
    return undefined;
  }
}

/** A button that asks for a second click before a destructive action. */
export function dangerButton(label, action, confirmLabel = `Confirm ${label.toLowerCase()}?`) {
  let armed = 0;
  const b = el('button', { type: 'button', class: 'small danger' }, label);
  b.addEventListener('click', async () => {
    if (!armed) {
      b.textContent = confirmLabel;
      b.classList.add('armed');
      armed = window.setTimeout(() => {
        armed = 0;
        b.textContent = label;
        b.classList.remove('armed');
      }, 4000);
      return;
    }
    window.clearTimeout(armed);
    armed = 0;
    b.classList.remove('armed');
    b.textContent = label;
    b.disabled = true;
    try {
      await action();
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

export const button = (label, onclick, cls = 'small') =>
  el('button', { type: 'button', class: cls, onclick }, label);

// ---- forms -------------------------------------------------------------------------------

/**
 * A form of labelled fields. fields: [{name, label, type: text|password|number|checkbox|select|textarea,
 * value, options: [[value, label]], placeholder, required, wide}]. onSubmit(values, form) may be async;
 * the submit button is disabled meanwhile.
 */
export function form({ fields, submit, onSubmit, className = 'inline', id }) {
  const controls = {};
  const labels = fields.map((f) => {
    let c;
    if (f.type === 'select') {
      c = el('select', { name: f.name });
      setOptions(c, f.options ?? [], f.value);
    } else if (f.type === 'textarea') {
      c = el('textarea', {
        name: f.name,
        rows: f.rows ?? 3,
        placeholder: f.placeholder,
        value: f.value ?? '',
      });
    } else if (f.type === 'checkbox') {
      c = el('input', { type: 'checkbox', name: f.name, checked: f.value ?? false });
    } else {
      c = el('input', {
        type: f.type ?? 'text',
        name: f.name,
        placeholder: f.placeholder,
        value: f.value ?? '',
        required: f.required,
        autocomplete: 'off',
        min: f.min,
      });
    }
    controls[f.name] = c;
    const cls = ['field', f.type === 'checkbox' ? 'check' : '', f.wide ? 'wide' : ''].join(' ').trim();
    return f.type === 'checkbox'
      ? el('label', { class: cls }, c, f.label)
      : el('label', { class: cls }, el('span', {}, f.label), c);
  });
  const btn = el('button', { type: 'submit', class: 'primary' }, submit);
  const node = el('form', { class: className, id }, ...labels, el('div', { class: 'actions' }, btn));
  node.addEventListener('submit', async (e) => {
    e.preventDefault();
    const values = {};
    for (const [k, c] of Object.entries(controls)) values[k] = c.type === 'checkbox' ? c.checked : c.value;
    btn.disabled = true;
    try {
      await onSubmit(values, node);
    } finally {
      btn.disabled = false;
    }
  });
  return { node, controls };
}

/** Replaces a select's options, keeping the current choice when it still exists. */
export function setOptions(select, options, preferred) {
  const current = select.value || preferred;
  const signature = JSON.stringify(options);
  if (select.dataset.options === signature) return;
  select.dataset.options = signature;
  select.replaceChildren(
    ...options.map((o) => {
      const [value, label] = Array.isArray(o) ? o : [o, o];
      return el('option', { value }, label);
    }),
  );
  const values = options.map((o) => (Array.isArray(o) ? o[0] : o));
  if (current !== undefined && values.includes(current)) select.value = current;
}
