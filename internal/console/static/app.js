'use strict';
// The console's page: the fleet, refreshed every few seconds, and for the
// function picked, its schemas and a form built from its request schema
// that calls it. Plain DOM, no dependencies: the page must work on a
// closed network.

const $ = (s) => document.querySelector(s);
const REFRESH_MS = 3000;
let fleet = null;
let picked = null; // the name of the function shown
let form = null;   // {name, schema text, get()} of the form shown

// Raw is a number as typed, sent as that text: exact, whatever the size.
class Raw { constructor(text) { this.text = text; } }

function toJSON(v) {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return '[' + v.map((x) => (x === undefined ? 'null' : toJSON(x))).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.entries(v).filter(([, x]) => x !== undefined)
      .map(([k, x]) => JSON.stringify(k) + ':' + toJSON(x)).join(',') + '}';
  }
  return JSON.stringify(v);
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
}

async function refresh() {
  const status = $('#status');
  try {
    const r = await fetch('api/fleet', { cache: 'no-store' });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    fleet = body;
    render();
    status.textContent = `${count(fleet.functions.length, 'function')} on ${count(fleet.instances.length, 'instance')} · ${new Date(fleet.at).toLocaleTimeString()}`;
    status.classList.remove('err');
  } catch (e) {
    status.textContent = 'cannot see the fleet: ' + e.message;
    status.classList.add('err');
  }
}

function count(n, what) { return `${n} ${what}${n === 1 ? '' : 's'}`; }

function fmt(n, digits = 0) { return n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits }); }

function render() {
  $('#mode').textContent = fleet.allow_calls ? 'calls allowed' : 'read-only';
  const rows = fleet.functions.map((f) => {
    const errs = Object.entries(f.errors || {}).sort().map(([c, n]) => `${c} ${fmt(n)}`).join(', ');
    const tr = el('tr', { 'data-name': f.name, onclick: () => pick(f.name) },
      el('td', { text: f.name }), el('td', { text: f.kind }),
      el('td', { class: 'num', text: fmt(f.instances) }), el('td', { class: 'num', text: fmt(f.calls) }),
      el('td', { class: errs ? 'err' : 'muted', text: errs || '0' }),
      el('td', { class: 'num', text: fmt(f.in_flight) }),
      el('td', { class: 'num', text: fmt(f.mean_ms, 2) }), el('td', { class: 'num', text: fmt(f.p99_ms, 2) }));
    if (f.name === picked) tr.classList.add('selected');
    return tr;
  });
  $('#functions tbody').replaceChildren(...rows);
  const now = Date.now();
  $('#instances tbody').replaceChildren(...fleet.instances.map((i) => el('tr', {},
    el('td', { text: i.id }), el('td', { text: i.host }), el('td', { class: 'num', text: String(i.pid) }),
    el('td', { text: i.version }), el('td', { text: ago(now - Date.parse(i.started)) }),
    el('td', { text: i.functions.join(', ') }))));
  if (picked) detail();
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return s + ' s';
  if (s < 7200) return Math.round(s / 60) + ' min';
  return Math.round(s / 3600) + ' h';
}

function pick(name) {
  picked = name;
  render();
}

function detail() {
  const f = fleet.functions.find((x) => x.name === picked);
  if (!f) { $('#detail').hidden = true; return; }
  $('#detail').hidden = false;
  $('#fn-name').textContent = f.name;
  $('#fn-desc').textContent = f.description || '';
  $('#fn-flags').textContent = [f.kind, f.validate && 'validates requests', f.run_once && 'run-once',
    f.dead_letters && 'keeps dead letters'].filter(Boolean).join(' · ');
  const text = JSON.stringify(f.request);
  if (form && form.name === f.name && form.schema === text) return; // keep what was typed
  $('#req-schema').textContent = JSON.stringify(f.request, null, 2);
  $('#resp-schema').textContent = JSON.stringify(f.response, null, 2);
  const root = typeof f.request === 'object' && f.request ? f.request : {};
  const top = resolve(root, root);
  const isObject = kindOf(top) === 'object';
  const built = field(top, root, '', isObject ? '' : 'argument', true);
  form = { name: f.name, kind: f.kind, schema: text, isObject, get: built.get };
  $('#fields').replaceChildren(built.el);
  $('#outcome').hidden = true;
  $('#call').disabled = !fleet.allow_calls;
  $('#readonly').hidden = fleet.allow_calls;
}

// resolve follows $refs to #/$defs/... (or #/definitions/...).
function resolve(s, root) {
  for (let i = 0; s && typeof s === 'object' && s.$ref && i < 32; i++) {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(s.$ref);
    if (!m) break;
    s = (root[m[1]] || {})[m[2].replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return s && typeof s === 'object' ? s : {};
}

function kindOf(s) {
  let t = s.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null');
  if (!t && s.properties) t = 'object';
  return t || 'any';
}

// field builds the input of a value of schema s at path; get() returns its
// value, undefined when left empty.
function field(schema, root, path, label, required) {
  const s = resolve(schema, root);
  const t = kindOf(s);
  const typeName = s.enum ? 'one of' : t + (s.format ? ` (${s.format})` : '');
  const wrap = (input) => el('label', { class: 'field' },
    el('span', {}, label || '', required ? '' : el('span', { class: 'type', text: ' optional' })),
    input);
  if (s.enum) {
    const sel = el('select', { 'data-path': path, title: typeName },
      ...(required ? [] : [el('option', { value: '', text: '—' })]),
      ...s.enum.map((v, i) => el('option', { value: String(i), text: JSON.stringify(v) })));
    return { el: wrap(sel), get: () => (sel.value === '' ? undefined : s.enum[Number(sel.value)]) };
  }
  if (t === 'integer' || t === 'number') {
    const inp = el('input', { type: 'number', step: t === 'integer' ? '1' : 'any', 'data-path': path, placeholder: t });
    return { el: wrap(inp), get: () => (inp.value.trim() === '' ? undefined : new Raw(inp.value.trim())) };
  }
  if (t === 'string') {
    const ph = s.format === 'date-time' ? '2026-01-02T15:04:05Z' : s.format || 'text';
    const inp = el('input', { type: 'text', 'data-path': path, placeholder: ph });
    return { el: wrap(inp), get: () => (inp.value === '' && !required ? undefined : inp.value) };
  }
  if (t === 'boolean') {
    const sel = el('select', { 'data-path': path },
      el('option', { value: '', text: '—' }), el('option', { value: 'true', text: 'true' }), el('option', { value: 'false', text: 'false' }));
    return { el: wrap(sel), get: () => (sel.value === '' ? undefined : sel.value === 'true') };
  }
  if (t === 'object' && s.properties) {
    const req = new Set(s.required || []);
    const kids = Object.entries(s.properties).map(([k, ps]) => [k, field(ps, root, path + '/' + k, k, req.has(k))]);
    const fs = el('fieldset', { 'data-path': path }, label ? el('legend', { text: label }) : null, ...kids.map(([, f]) => f.el));
    return {
      el: fs,
      get: () => {
        const o = {};
        let any = false;
        for (const [k, f] of kids) {
          const v = f.get();
          if (v !== undefined) { o[k] = v; any = true; }
        }
        return any || required ? o : undefined;
      },
    };
  }
  if (t === 'array' && s.items) {
    const list = el('div');
    const items = [];
    const fs = el('fieldset', { 'data-path': path }, el('legend', { text: (label || 'items') + ' [ ]' }), list);
    const redraw = () => list.replaceChildren(...items.map((it, i) => {
      const f = field(s.items, root, `${path}/${i}`, String(i), true);
      it.get = f.get;
      return el('div', {}, f.el, el('button', { type: 'button', class: 'small', text: 'remove', onclick: () => { items.splice(i, 1); redraw(); } }));
    }));
    fs.append(el('button', { type: 'button', class: 'small', text: 'add item', onclick: () => { items.push({}); redraw(); } }));
    return { el: fs, get: () => (items.length === 0 && !required ? undefined : items.map((it) => it.get())) };
  }
  // Anything else (any value, a map, a choice of shapes): JSON, as typed.
  const ta = el('textarea', { 'data-path': path, placeholder: 'JSON' });
  return {
    el: wrap(ta),
    get: () => {
      const v = ta.value.trim();
      if (v === '') return undefined;
      JSON.parse(v); // says where it is not JSON
      return new Raw(v);
    },
  };
}

async function call(e) {
  e.preventDefault();
  if (!form) return;
  for (const x of document.querySelectorAll('.invalid')) x.classList.remove('invalid');
  const out = $('#outcome');
  let args;
  try {
    const v = form.get();
    args = form.isObject ? (v === undefined ? {} : v) : [v === undefined ? null : v];
  } catch (err) {
    show(false, 'not JSON', err.message);
    return;
  }
  $('#call').disabled = true;
  try {
    const r = await fetch('api/call', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Rabibridge-Console': 'call' },
      body: `{"function":${JSON.stringify(form.name)},"kind":${JSON.stringify(form.kind)},"args":${toJSON(args)}}`,
    });
    const res = await r.json();
    if (!r.ok) show(false, `HTTP ${r.status}`, res.error);
    else if (res.ok) show(true, `ok · ${res.ms.toFixed(2)} ms`, pretty(res.result));
    else {
      show(false, `${res.code} · ${res.ms.toFixed(2)} ms`, res.error);
      mark(res.error);
    }
  } catch (err) {
    show(false, 'no answer', err.message);
  } finally {
    $('#call').disabled = !fleet.allow_calls;
  }
  out.hidden = false;
}

// pretty indents a result's JSON text without reading its numbers.
function pretty(text) {
  return text.length > 80 ? indent(text) : text;
}

function indent(text) {
  let out = '', depth = 0, inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) { out += c; if (c === '\\') out += text[++i]; else if (c === '"') inStr = false; continue; }
    if (c === '"') { inStr = true; out += c; } else if (c === '{' || c === '[') { out += c + '\n' + '  '.repeat(++depth); } else if (c === '}' || c === ']') { out += '\n' + '  '.repeat(--depth) + c; } else if (c === ',') { out += ',\n' + '  '.repeat(depth); } else if (c === ':') { out += ': '; } else out += c;
  }
  return out;
}

function show(ok, head, body) {
  const out = $('#outcome');
  out.className = ok ? 'ok' : 'failed';
  $('#outcome-head').textContent = head;
  $('#outcome-body').textContent = body;
  out.hidden = false;
}

// mark outlines the inputs whose paths an error names ("/items/1/qty").
function mark(message) {
  for (const m of (message || '').matchAll(/(?:^|[\s'"(:])(\/[\w\-./~]*)/g)) {
    const p = m[1].replace(/[.:]+$/, '');
    for (const x of document.querySelectorAll('[data-path]')) {
      if (x.dataset.path === p) x.classList.add('invalid');
    }
  }
  // "missing property 'b'": the field itself.
  for (const m of (message || '').matchAll(/missing propert(?:y|ies) ((?:'[^']+'(?:, )?)+)/g)) {
    for (const name of m[1].matchAll(/'([^']+)'/g)) {
      for (const x of document.querySelectorAll('[data-path]')) {
        if (x.dataset.path.endsWith('/' + name[1])) x.classList.add('invalid');
      }
    }
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#call-form').addEventListener('submit', call);
  refresh();
  setInterval(refresh, REFRESH_MS);
});
