/* global window, document, ResizeObserver */
// Overview: totals, a live message-rate chart and a queued-messages chart (uPlot), listeners.
// The history is sampled from /api/overview every second for as long as the user is logged in,
// so the charts already have a past when the page is opened again.

import { api } from './api.js';
import { dataTable, el, fmtNum, fmtRate, rateOf, section } from './dom.js';

const HISTORY = 300; // samples (5 minutes at one per second)
export const SAMPLE_MS = 1000;

const RATE_SERIES = [
  { key: 'publish', label: 'Publish', color: '#2563eb' },
  { key: 'deliver_get', label: 'Deliver / get', color: '#16a34a' },
  { key: 'ack', label: 'Ack', color: '#d97706' },
  { key: 'confirm', label: 'Confirm', color: '#9333ea' },
];
const DEPTH_SERIES = [
  { key: 'messages_ready', label: 'Ready', color: '#0891b2' },
  { key: 'messages_unacknowledged', label: 'Unacked', color: '#dc2626' },
];

/** Column-oriented history, the shape uPlot plots: [times, series1, series2, ...]. */
const history = {
  rates: [[], ...RATE_SERIES.map(() => [])],
  depth: [[], ...DEPTH_SERIES.map(() => [])],
  latest: null,
};
const listeners = new Set();
let timer = 0;

function push(data, values) {
  data.forEach((col, i) => {
    col.push(values[i]);
    if (col.length > HISTORY) col.shift();
  });
}

async function sample() {
  const o = await api('GET', '/api/overview');
  const t = Date.now() / 1000;
  push(history.rates, [t, ...RATE_SERIES.map((s) => rateOf(o.message_stats, s.key))]);
  push(history.depth, [t, ...DEPTH_SERIES.map((s) => o.queue_totals?.[s.key] ?? 0)]);
  history.latest = o;
  for (const fn of listeners) fn(o);
}

export function startSampling() {
  stopSampling();
  const tick = () => sample().catch(() => {});
  void tick();
  timer = window.setInterval(tick, SAMPLE_MS);
}

export function stopSampling() {
  window.clearInterval(timer);
  timer = 0;
  for (const data of [history.rates, history.depth]) for (const col of data) col.length = 0;
  history.latest = null;
}

function chart(title, series, data, yLabel) {
  const box = el('div', { class: 'chart', dataset: { chart: title } });
  const panel = section(title, box);
  const { uPlot } = window;
  if (!uPlot) {
    box.append(el('p', { class: 'muted' }, 'Charts unavailable (uPlot did not load).'));
    return { panel, update() {}, destroy() {} };
  }
  const opts = {
    width: 600,
    height: 220,
    cursor: { drag: { x: false, y: false } },
    legend: { live: false },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
    axes: [
      { stroke: '#64748b', grid: { stroke: '#eef2f7' } },
      { stroke: '#64748b', grid: { stroke: '#eef2f7' }, label: yLabel, size: 60 },
    ],
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        fill: `${s.color}14`,
        points: { show: false },
        value: (_u, v) => (v === null || v === undefined ? '–' : fmtNum(Math.round(v * 10) / 10)),
      })),
    ],
  };
  const u = new uPlot(opts, data, box);
  const resize = () => {
    const width = Math.max(280, box.clientWidth);
    if (width !== u.width) u.setSize({ width, height: 220 });
  };
  const ro = new ResizeObserver(resize);
  ro.observe(box);
  return {
    panel,
    plot: u,
    update() {
      u.setData(data);
    },
    destroy() {
      ro.disconnect();
      u.destroy();
    },
  };
}

const plural = (n, what) => `${fmtNum(n)} ${what}${n === 1 ? '' : 's'}`;

export const overviewPage = {
  id: 'overview',
  title: 'Overview',
  mount(root) {
    const heading = el('h2', {}, 'Overview');
    const cards = el('div', { class: 'cards' });
    const rates = chart('Message rates', RATE_SERIES, history.rates, 'msg/s');
    const depth = chart('Queued messages', DEPTH_SERIES, history.depth, 'messages');
    const listenersTable = dataTable(
      [
        { label: 'Protocol', get: (l) => l.protocol },
        { label: 'Address', get: (l) => l.ip_address },
        { label: 'Port', get: (l) => l.port, num: true },
      ],
      { empty: 'No listeners reported.' },
    );
    root.append(
      heading,
      cards,
      el('div', { class: 'charts' }, rates.panel, depth.panel),
      section('Listeners', listenersTable.node),
    );
    window.__junctionCharts = { rates: rates.plot, depth: depth.plot, history };

    const card = (label, value, hint) =>
      el(
        'div',
        { class: 'card' },
        el('span', { class: 'label' }, label),
        el('b', {}, value),
        hint ? el('small', {}, hint) : null,
      );
    const draw = (o) => {
      heading.textContent = `${o.product_name} ${o.product_version}`;
      heading.append(el('small', {}, ` on ${o.node}`));
      const t = o.object_totals;
      const q = o.queue_totals;
      cards.replaceChildren(
        card('Connections', fmtNum(t.connections), plural(t.channels, 'channel')),
        card('Queues', fmtNum(t.queues), plural(t.consumers, 'consumer')),
        card('Exchanges', fmtNum(t.exchanges)),
        card(
          'Messages',
          fmtNum(q.messages),
          `${fmtNum(q.messages_ready)} ready · ${fmtNum(q.messages_unacknowledged)} unacked`,
        ),
        card('Publish', fmtRate(rateOf(o.message_stats, 'publish'))),
        card('Deliver / get', fmtRate(rateOf(o.message_stats, 'deliver_get'))),
        card('Ack', fmtRate(rateOf(o.message_stats, 'ack'))),
      );
      listenersTable.update(o.listeners ?? []);
      rates.update();
      depth.update();
      root.dataset.samples = String(history.rates[0].length);
    };
    listeners.add(draw);
    if (history.latest) draw(history.latest);
    else cards.append(el('p', { class: 'muted' }, 'Loading…'));
    return {
      destroy() {
        listeners.delete(draw);
        rates.destroy();
        depth.destroy();
        if (document.body) delete window.__junctionCharts;
      },
    };
  },
};
