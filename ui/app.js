// Sonde live view: polls the agent's JSON endpoints (same origin only) and
// draws the services, the service graph (SVG), a service's operations, the
// recent traces and a trace's waterfall. No library, nothing fetched from
// anywhere else.
'use strict';

const POLL_MS = 2000;
const SVG_NS = 'http://www.w3.org/2000/svg';
const state = {
  selected: '',       // service whose operations are shown
  openTrace: '',      // trace id shown as a waterfall
  lastTraces: '',     // JSON of the last traces list drawn
  lastGraph: '',
  lastTrace: '',
};

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function ms(v) {
  if (v === null || v === undefined) return '–';
  if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
  if (v >= 10) return v.toFixed(0) + ' ms';
  if (v >= 1) return v.toFixed(1) + ' ms';
  return (v * 1000).toFixed(0) + ' µs';
}

function pct(v) {
  return v === null || v === undefined ? '–' : (100 * v).toFixed(1) + ' %';
}

async function getJSON(url) {
  const r = await fetch(url, { cache: 'no-store' });
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return r.json();
}

// ---- services ----

function selectService(name) {
  state.selected = state.selected === name ? '' : name;
  const sel = $('f-service');
  if (state.selected && ![...sel.options].some(o => o.value === state.selected))
    sel.append(el('option', { value: state.selected, text: state.selected }));
  sel.value = state.selected;
  for (const b of document.querySelectorAll('#services button.service'))
    b.setAttribute('aria-pressed', b.dataset.service === state.selected ? 'true' : 'false');
  state.lastTraces = '';
  refreshOps();
  refreshTraces();
}

function drawServices(services) {
  const body = document.querySelector('#services tbody');
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.service : undefined;
  body.replaceChildren();
  $('services-empty').hidden = services.length > 0;
  for (const s of services) {
    const errText = s.error_ratio === null ? '–' : pct(s.error_ratio);
    const btn = el('button', {
      type: 'button', class: 'link service', 'data-service': s.name,
      'aria-pressed': s.name === state.selected ? 'true' : 'false',
      'aria-label': `${s.name}: show operations and traces`,
      onclick: () => selectService(s.name),
    }, s.name);
    const errCell = el('td', { class: 'num errors' + (s.error_ratio > 0 ? ' bad' : '') }, errText);
    body.append(el('tr', { 'data-service': s.name },
      el('th', { scope: 'row' }, btn),
      el('td', { class: 'num requests' }, String(s.requests)),
      el('td', { class: 'num rate' }, s.rate === null ? '–' : s.rate.toFixed(2)),
      errCell,
      el('td', { class: 'num p50' }, ms(s.p50_ms)),
      el('td', { class: 'num p95' }, ms(s.p95_ms)),
      el('td', { class: 'num p99' }, ms(s.p99_ms)),
      el('td', { class: 'num calls' }, String(s.calls_out) +
        (s.calls_failed ? ` (${s.calls_failed} failed)` : ''))));
    if (focused === s.name) btn.focus();
  }
  const sel = $('f-service');
  const have = new Set([...sel.options].map(o => o.value));
  for (const s of services)
    if (!have.has(s.name)) sel.append(el('option', { value: s.name, text: s.name }));
}

// ---- service graph ----

function layout(nodes, edges) {
  // Layers by longest path from the callers, cycles cut after N rounds.
  const layer = new Map(nodes.map(n => [n, 0]));
  for (let round = 0; round < nodes.length; round++) {
    let changed = false;
    for (const e of edges) {
      if (e.client === e.server) continue;
      if (layer.get(e.server) < layer.get(e.client) + 1 && layer.get(e.client) + 1 < nodes.length) {
        layer.set(e.server, layer.get(e.client) + 1);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = [];
  for (const n of nodes) {
    const l = layer.get(n);
    (columns[l] = columns[l] || []).push(n);
  }
  const pos = new Map();
  const colW = 230, rowH = 56, boxW = 150, boxH = 30;
  let rows = 1;
  columns.forEach((col, i) => {
    (col || []).sort().forEach((n, j) => {
      pos.set(n, { x: 20 + i * colW, y: 20 + j * rowH, w: boxW, h: boxH });
    });
    rows = Math.max(rows, (col || []).length);
  });
  return { pos, width: 40 + Math.max(1, columns.length) * colW - (colW - boxW), height: 40 + rows * rowH - (rowH - boxH) };
}

function drawGraph(services, edges) {
  const key = JSON.stringify([services.map(s => s.name), edges]);
  if (key === state.lastGraph) return;
  state.lastGraph = key;
  const traced = new Set(services.map(s => s.name));
  const names = new Set(traced);
  for (const e of edges) { names.add(e.client); names.add(e.server); }
  const nodes = [...names];
  const { pos, width, height } = layout(nodes, edges);
  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height + 20}`, role: 'img',
    'aria-labelledby': 'graph-title', 'aria-describedby': 'graph-desc-svg', id: 'graph',
  });
  const title = svg('title', { id: 'graph-title' });
  title.textContent = 'Service graph';
  const desc = svg('desc', { id: 'graph-desc-svg' });
  desc.textContent = edges.length
    ? edges.map(e => `${e.client} calls ${e.server}: ${e.requests} requests, ${e.failed} failed`).join('; ')
    : 'No calls between services seen yet.';
  root.append(title, desc);
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '8', markerHeight: '8', orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#33465c' }));
  defs.append(marker);
  root.append(defs);
  for (const e of edges) {
    const a = pos.get(e.client), b = pos.get(e.server);
    const g = svg('g', {
      class: 'edge' + (e.failed > 0 ? ' failing' : ''), 'data-client': e.client,
      'data-server': e.server, 'data-requests': e.requests, 'data-failed': e.failed,
    });
    const t = svg('title');
    t.textContent = `${e.client} → ${e.server}: ${e.requests} requests, ${e.failed} failed`;
    g.append(t);
    let d, lx, ly;
    if (e.client === e.server) {
      d = `M ${a.x + a.w - 20} ${a.y} C ${a.x + a.w} ${a.y - 30}, ${a.x + a.w + 30} ${a.y + 5}, ${a.x + a.w} ${a.y + a.h / 2}`;
      lx = a.x + a.w + 4; ly = a.y - 8;
    } else {
      const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
      const back = x2 <= x1;
      d = back
        ? `M ${a.x + a.w / 2} ${a.y + a.h} C ${a.x + a.w / 2} ${a.y + a.h + 40}, ${b.x + b.w / 2} ${b.y + b.h + 40}, ${b.x + b.w / 2} ${b.y + b.h}`
        : `M ${x1} ${y1} C ${x1 + 40} ${y1}, ${x2 - 40} ${y2}, ${x2} ${y2}`;
      lx = back ? (a.x + b.x + b.w) / 2 : (x1 + x2) / 2;
      ly = back ? Math.max(a.y, b.y) + a.h + 34 : (y1 + y2) / 2 - 6;
    }
    g.append(svg('path', { d, 'marker-end': 'url(#arrow)' }));
    const label = svg('text', { x: lx, y: ly, 'text-anchor': e.client === e.server ? 'start' : 'middle' });
    label.textContent = `${e.requests}` + (e.failed ? ` (${e.failed} failed)` : '');
    g.append(label);
    root.append(g);
  }
  for (const n of nodes) {
    const p = pos.get(n);
    const g = svg('g', { class: 'node' + (traced.has(n) ? '' : ' external'), 'data-node': n });
    const t = svg('title');
    t.textContent = traced.has(n) ? `${n} (traced)` : `${n} (not traced)`;
    g.append(t, svg('rect', { x: p.x, y: p.y, width: p.w, height: p.h, rx: 6 }));
    const text = svg('text', { x: p.x + 8, y: p.y + p.h / 2 + 4 });
    text.textContent = n.length > 22 ? n.slice(0, 21) + '…' : n;
    g.append(text);
    root.append(g);
  }
  root.style.maxWidth = width + 'px';
  $('graph-wrap').replaceChildren(root);
  const body = document.querySelector('#edges tbody');
  body.replaceChildren(...edges.map(e => el('tr', { 'data-client': e.client, 'data-server': e.server },
    el('td', {}, e.client), el('td', {}, e.server),
    el('td', { class: 'num' }, String(e.requests)),
    el('td', { class: 'num' + (e.failed ? ' bad' : '') }, String(e.failed)),
    el('td', {}, e.connection_type || 'traced'))));
}

// ---- operations ----

async function refreshOps() {
  const table = $('ops');
  $('ops-panel').hidden = !state.selected;
  if (!state.selected) {
    table.hidden = true;
    $('ops-hint').textContent = 'Choose a service above to see the routes it serves and the calls it makes.';
    return;
  }
  const data = await getJSON('/api/service?name=' + encodeURIComponent(state.selected));
  $('ops-heading').textContent = 'Operations of ' + data.name;
  $('ops-hint').textContent = data.operations_dropped
    ? `${data.operations_dropped} calls of further operations were not tabulated (cap).`
    : 'Routes served (server) and calls made (client), since start.';
  table.hidden = false;
  const body = table.querySelector('tbody');
  body.replaceChildren(...data.operations.map(o => el('tr', { 'data-kind': o.kind, 'data-name': o.name },
    el('td', {}, o.kind), el('td', {}, o.name), el('td', {}, o.peer || '–'),
    el('td', { class: 'num' }, String(o.count)),
    el('td', { class: 'num' + (o.errors ? ' bad' : '') }, String(o.errors)),
    el('td', { class: 'num' }, ms(o.p50_ms)), el('td', { class: 'num' }, ms(o.p95_ms)),
    el('td', { class: 'num' }, ms(o.p99_ms)))));
}

// ---- traces ----

function filterQuery() {
  const q = new URLSearchParams();
  q.set('service', $('f-service').value);
  q.set('status', $('f-status').value);
  if ($('f-min').value) q.set('min_ms', $('f-min').value);
  if ($('f-max').value) q.set('max_ms', $('f-max').value);
  q.set('limit', '100');
  return q.toString();
}

async function refreshTraces() {
  const data = await getJSON('/api/traces?' + filterQuery());
  const key = JSON.stringify(data.traces);
  $('traces-count').textContent = `${data.matched} matching of ${data.kept} kept` +
    (data.dropped ? `, ${data.dropped} older traces dropped` : '') +
    (data.matched > data.traces.length ? ` (newest ${data.traces.length} shown)` : '');
  if (key === state.lastTraces) return;
  state.lastTraces = key;
  const focusedId = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.traceId : undefined;
  const body = document.querySelector('#traces tbody');
  body.replaceChildren();
  for (const t of data.traces) {
    const btn = el('button', {
      type: 'button', class: 'link open-trace', 'data-trace-id': t.trace_id,
      'aria-label': `Open trace ${t.root_name} of ${t.root_service}, ${ms(t.duration_ms)}`,
      onclick: () => openTrace(t.trace_id),
    }, `${t.root_service}: ${t.root_name}`);
    body.append(el('tr', { 'data-trace-id': t.trace_id },
      el('td', {}, new Date(t.start_ms).toLocaleTimeString()),
      el('td', {}, btn, el('div', { class: 'hint' }, t.root_path)),
      el('td', { class: 'services' }, t.services.join(', ')),
      el('td', { class: 'num' }, String(t.spans)),
      el('td', { class: 'num' }, ms(t.duration_ms)),
      el('td', { class: t.error ? 'bad' : '' }, t.error ? '✖ error' : '✓ ok')));
    if (focusedId === t.trace_id) btn.focus();
  }
  if (!data.traces.length)
    body.append(el('tr', {}, el('td', { colspan: '6', class: 'empty' }, 'No trace matches.')));
}

function depthOf(spans) {
  const byId = new Map(spans.map(s => [s.span_id, s]));
  const depth = new Map();
  const get = (s, guard) => {
    if (depth.has(s.span_id)) return depth.get(s.span_id);
    const p = byId.get(s.parent_span_id);
    const d = p && guard < spans.length ? get(p, guard + 1) + 1 : 0;
    depth.set(s.span_id, d);
    return d;
  };
  spans.forEach(s => get(s, 0));
  return depth;
}

// Parents before children, siblings by start.
function treeOrder(spans) {
  const byId = new Map(spans.map(s => [s.span_id, s]));
  const kids = new Map();
  const roots = [];
  for (const s of spans) {
    if (s.parent_span_id && byId.has(s.parent_span_id) && s.parent_span_id !== s.span_id) {
      if (!kids.has(s.parent_span_id)) kids.set(s.parent_span_id, []);
      kids.get(s.parent_span_id).push(s);
    } else {
      roots.push(s);
    }
  }
  const out = [], seen = new Set();
  const walk = s => {
    if (seen.has(s.span_id)) return;
    seen.add(s.span_id);
    out.push(s);
    (kids.get(s.span_id) || []).sort((a, b) => a.offset_ms - b.offset_ms).forEach(walk);
  };
  roots.sort((a, b) => a.offset_ms - b.offset_ms).forEach(walk);
  spans.forEach(walk);
  return out;
}

async function openTrace(id) {
  state.openTrace = id;
  state.lastTrace = '';
  await drawTrace(true);
}

async function drawTrace(focus) {
  if (!state.openTrace) return;
  let t;
  try {
    t = await getJSON('/api/trace?id=' + encodeURIComponent(state.openTrace));
  } catch (e) {
    $('trace-meta').textContent = 'This trace is no longer kept.';
    return;
  }
  const key = JSON.stringify(t);
  const panel = $('trace-panel');
  panel.hidden = false;
  if (key !== state.lastTrace) {
    state.lastTrace = key;
    const open = new Set([...document.querySelectorAll('#waterfall button[aria-expanded="true"]')].map(b => b.dataset.spanId));
    const depth = depthOf(t.spans);
    const total = t.duration_ms > 0 ? t.duration_ms : 1;
    $('trace-heading').textContent = 'Trace ' + t.trace_id;
    $('trace-meta').textContent = `${t.spans.length} spans, ${ms(t.duration_ms)}, ` +
      (t.error ? 'with errors' : 'no errors') +
      (t.spans_dropped ? `, ${t.spans_dropped} spans not kept` : '');
    const list = $('waterfall');
    list.replaceChildren();
    for (const s of treeOrder(t.spans)) {
      const d = depth.get(s.span_id) || 0;
      const bar = el('div', { class: 'bar' + (s.status === 'error' ? ' error' : '') });
      bar.style.left = (100 * s.offset_ms / total) + '%';
      bar.style.width = Math.max(0.2, 100 * s.duration_ms / total) + '%';
      const label = el('span', { class: 'bar-label' }, ms(s.duration_ms) + (s.status === 'error' ? ' ✖' : ''));
      label.style.left = Math.min(85, 100 * (s.offset_ms + s.duration_ms) / total) + '%';
      const name = el('span', { class: 'span-name' },
        el('span', { class: 'span-kind' }, s.kind), s.name);
      name.style.paddingLeft = (d * 14) + 'px';
      const attrsId = 'attrs-' + s.span_id;
      const expanded = open.has(s.span_id);
      const row = el('button', {
        type: 'button', class: 'span-row', 'aria-expanded': expanded ? 'true' : 'false',
        'aria-controls': attrsId, 'data-span-id': s.span_id,
        'aria-label': `${s.kind} span ${s.name} of ${s.service}, depth ${d}, starts at ${ms(s.offset_ms)}, lasts ${ms(s.duration_ms)}${s.status === 'error' ? ', error' : ''}`,
      }, name, el('span', { class: 'span-service' }, s.service), el('span', { class: 'track' }, bar, label));
      const dl = el('dl', { class: 'attrs', id: attrsId });
      dl.hidden = !expanded;
      for (const [k, v] of Object.entries(Object.assign({ 'span.id': s.span_id, 'parent.span.id': s.parent_span_id || '(root)' }, s.attributes)))
        dl.append(el('dt', {}, k), el('dd', {}, String(v)));
      row.addEventListener('click', () => {
        const now = row.getAttribute('aria-expanded') !== 'true';
        row.setAttribute('aria-expanded', now ? 'true' : 'false');
        dl.hidden = !now;
      });
      list.append(el('li', { class: 'span', 'data-span-id': s.span_id, 'data-service': s.service, 'data-kind': s.kind, 'data-name': s.name }, row, dl));
    }
  }
  if (focus) $('trace-heading').focus();
}

// ---- polling ----

async function refresh() {
  try {
    const o = await getJSON('/api/overview');
    drawServices(o.services);
    drawGraph(o.services, o.edges);
    await refreshTraces();
    if (state.selected) await refreshOps();
    if (state.openTrace) await drawTrace(false);
    $('status').textContent = `Updated ${new Date().toLocaleTimeString()} · ${o.traces_kept} traces kept` +
      (o.traces_dropped ? `, ${o.traces_dropped} dropped` : '') + ` (last ${o.max_traces})`;
  } catch (e) {
    $('status').textContent = 'Cannot reach Sonde: ' + e.message;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  const form = $('filters');
  form.addEventListener('submit', ev => { ev.preventDefault(); state.lastTraces = ''; refreshTraces(); });
  for (const id of ['f-service', 'f-status', 'f-min', 'f-max'])
    $(id).addEventListener('change', () => { state.lastTraces = ''; refreshTraces(); });
  form.addEventListener('reset', () => setTimeout(() => { state.lastTraces = ''; refreshTraces(); }, 0));
  $('trace-close').addEventListener('click', () => {
    state.openTrace = '';
    $('trace-panel').hidden = true;
    $('traces-heading').focus();
  });
  refresh();
  setInterval(refresh, POLL_MS);
});
