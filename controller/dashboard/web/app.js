// keyfleet dashboard: one page, hash routes, plain ES2020, no libraries.
//
// Security rules this file keeps (the server's CSP enforces the first two):
//  - no inline script or style, no eval; styles only through classes or element.style (CSSOM);
//  - every piece of data reaches the page through textContent / createTextNode (el() and
//    svg() below), never innerHTML, so a key comment "<script>…" shows as text;
//  - every POST but login sends the session's CSRF token; a 401 anywhere shows the login form.
'use strict';

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

// el('td', {class: 'num'}, 'text', child…): an element with attributes and children. Strings
// become text nodes; null/undefined/false children are skipped; arrays are flattened.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  appendAll(node, children);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  appendAll(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    // Only data-free attribute names are used here; 'style' and on* would break the CSP rules.
    if (name === 'style' || name.startsWith('on')) {
      throw new Error('attribute not allowed: ' + name);
    }
    node.setAttribute(name, value === true ? '' : String(value));
  }
}

function appendAll(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

const $ = (id) => document.getElementById(id);

// An in-page link to a route; the parts are URI-encoded (fingerprints hold '/' and '+').
function link(text, ...parts) {
  return el('a', {href: '#/' + parts.map(encodeURIComponent).join('/')}, text);
}

// A link to a key's page, its fingerprint in monospace.
const keyLink = (fp) => el('a', {href: '#/key/' + encodeURIComponent(fp), class: 'fp'}, fp);

// Table cells stay on one line; free text (reasons, comments, targets) wraps.
const wrap = (text) => el('span', {class: 'wrap-text'}, text);

// ---------------------------------------------------------------------------------------------
// Formatting

// "2026-12-01T08:00:00Z" -> "2026-12-01 08:00 UTC" (with seconds: "08:00:00"); '' for an
// absent timestamp.
function fmtTime(rfc3339, seconds = false) {
  if (!rfc3339) return '';
  const d = new Date(rfc3339);
  if (isNaN(d)) return rfc3339;
  return d.toISOString().slice(0, seconds ? 19 : 16).replace('T', ' ') + ' UTC';
}

// How long ago, in words: "42 s ago", "5 min ago", "3 h ago", "12 d ago".
function fmtAgo(rfc3339) {
  if (!rfc3339) return 'never';
  const s = Math.max(0, (Date.now() - new Date(rfc3339).getTime()) / 1000);
  if (s < 90) return Math.round(s) + ' s ago';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  if (s < 172800) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}

// A protobuf Duration "2592000s" -> "30 d" (or hours/seconds when shorter).
function fmtDuration(text) {
  const s = parseFloat(text || '0');
  if (s >= 86400 && s % 86400 === 0) return s / 86400 + ' d';
  if (s >= 3600) return Math.round(s / 360) / 10 + ' h';
  if (s >= 60 && s % 60 === 0) return s / 60 + ' min';
  return s + ' s';
}

// "KEY_STATE_ACTIVE" -> "active"; "DRIFT_KIND_UNMANAGED_KEY" -> "unmanaged key".
function enumWord(value, prefix) {
  if (!value) return '';
  const v = value.startsWith(prefix) ? value.slice(prefix.length) : value;
  return v.toLowerCase().replace(/_/g, ' ');
}

const num = (v) => Number(v || 0);  // 64-bit counters arrive as strings
const pct = (part, whole) => (whole > 0 ? Math.round((100 * part) / whole) : 0);
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;  // "1 key", "3 keys"

function stateBadge(state, text) {
  return el('span', {class: 'badge ' + state}, text || state);
}

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let session = null;  // {actor, role, scoped, csrf}

// A JSON request to /api/v1/<path>. Throws ApiError; a 401 also shows the login form.
async function api(path, {method = 'GET', body, requestId} = {}) {
  const headers = {Accept: 'application/json'};
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    if (session) headers['X-CSRF-Token'] = session.csrf;
    if (requestId) headers['X-Request-Id'] = requestId;
  }
  let resp;
  try {
    resp = await fetch('/api/v1/' + path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', 'The controller could not be reached (' + e.message + ').');
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : {}; } catch (e) { data = null; }
  if (resp.ok && data !== null) return data;
  const code = (data && data.code) || 'HTTP_' + resp.status;
  const message = (data && data.error) || text.slice(0, 200) || resp.statusText;
  // The first session probe and a failed login are expected 401s, not an ended session.
  if (resp.status === 401 && path !== 'login' && path !== 'session') {
    showLogin('Your session has ended; sign in again.');
  }
  throw new ApiError(resp.status, code, message);
}

// Query string from an object, skipping empty values.
function query(params) {
  const q = Object.entries(params)
    .filter(([, v]) => v !== '' && v !== undefined && v !== null)
    .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v));
  return q.length ? '?' + q.join('&') : '';
}

// A fresh X-Request-Id: 32 random hex digits.
function newRequestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function errorBox(err, what) {
  const detail = err instanceof ApiError && err.status ? ` (HTTP ${err.status}, ${err.code})` : '';
  return el('div', {class: 'error-box', role: 'alert'},
    el('strong', null, what ? `Could not ${what}: ` : 'Error: '), err.message + detail);
}

// ---------------------------------------------------------------------------------------------
// Session: login, logout

// The login form, with a message: an error unless `kind` says 'info'.
function showLogin(message, kind = 'error') {
  session = null;
  stopPolling();
  if ($('revoke-dialog').open) $('revoke-dialog').close();
  $('topbar').hidden = true;
  $('view').hidden = true;
  clear($('view'));
  $('login-view').hidden = false;
  const error = $('login-error');
  error.textContent = message || '';
  error.className = kind === 'info' ? 'muted' : 'error';
  error.hidden = !message;
  $('login-token').focus();
}

function startSession(data) {
  const credential = data.credential || {};
  session = {
    actor: data.actor,
    role: credential.role || '',
    csrf: data.csrf_token,
    scoped: Object.keys(credential.host_scope || {}).length > 0
  };
  $('who-actor').textContent = session.actor;
  $('who-role').textContent = enumWord(session.role, 'ROLE_');
  $('login-view').hidden = true;
  $('topbar').hidden = false;
  $('view').hidden = false;
  route();
}

async function onLogin(event) {
  event.preventDefault();
  const input = $('login-token');
  $('login-submit').disabled = true;
  try {
    const data = await api('login', {method: 'POST', body: {token: input.value.trim()}});
    input.value = '';
    startSession(data);
  } catch (err) {
    showLogin(err.status === 401 ? 'That token was not accepted.' : err.message);
  } finally {
    $('login-submit').disabled = false;
  }
}

async function onLogout() {
  try { await api('logout', {method: 'POST', body: {}}); } catch (e) { /* signed out anyway */ }
  location.hash = '#/fleet';
  showLogin('Signed out.', 'info');
}

// Revoking reaches every host: admins and operators without a host scope (the role table's rule
// for RevokeKey; the controller refuses everyone else anyway).
const canMutate = () =>
    session && ['ROLE_ADMIN', 'ROLE_OPERATOR'].includes(session.role) && !session.scoped;

// ---------------------------------------------------------------------------------------------
// Router: #/page[/arg…]. Each render gets a fresh generation; a page still loading when the
// route changes sees it changed and draws nothing.

let generation = 0;
let pollTimer = null;

function stopPolling() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
}

const ROUTES = {
  fleet: renderFleet, keys: renderKeys, key: renderKey, rollout: renderRollout,
  access: renderAccess, audit: renderAudit,
};

function route() {
  if (!session) return;
  stopPolling();
  if ($('revoke-dialog').open) $('revoke-dialog').close();
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  } catch (e) {  // a malformed %-escape: the default page
    parts = ['fleet'];
  }
  const name = Object.prototype.hasOwnProperty.call(ROUTES, parts[0]) ? parts[0] : 'fleet';
  for (const a of document.querySelectorAll('#nav a')) {
    const active = a.dataset.route === name || (name === 'key' && a.dataset.route === 'keys');
    a.classList.toggle('active', active);
  }
  const view = clear($('view'));
  const gen = ++generation;
  const current = () => gen === generation && session !== null;
  ROUTES[name](view, parts.slice(1), current).catch((err) => {
    if (current() && err.status !== 401) view.appendChild(errorBox(err, 'load this page'));
  });
}

function pageHeader(title, ...extra) {
  return el('div', {class: 'page-head'}, el('h1', null, title), ...extra);
}

function section(title, ...children) {
  return el('section', {class: 'card'}, title ? el('h2', null, title) : null, ...children);
}

// A table with a sticky header. rows: arrays of cells (strings or nodes); a row may also be
// {cells, class}.
function table(headers, rows, {empty = 'None.', id} = {}) {
  if (!rows.length) return el('p', {class: 'muted empty'}, empty);
  const body = rows.map((r) => {
    const cells = Array.isArray(r) ? r : r.cells;
    return el('tr', {class: Array.isArray(r) ? null : r.class},
      cells.map((c) => el('td', null, c)));
  });
  const head = el('thead', null, el('tr', null, headers.map((h) => el('th', null, h))));
  return el('div', {class: 'table-wrap'},
    el('table', {class: 'data', id}, head, el('tbody', null, body)));
}

function loading(view) {
  const p = el('p', {class: 'muted loading'}, 'Loading…');
  view.appendChild(p);
  return () => p.remove();
}

// ---------------------------------------------------------------------------------------------
// Fleet

const FLEET_STATES = [
  ['converged', 'Converged'], ['pending', 'Pending'], ['failed', 'Failed'], ['offline', 'Offline'],
];

// A horizontal stacked bar from [[cssState, count, label]…]; every segment carries its text.
function stackedBar(parts, total) {
  const bar = el('div', {class: 'stacked', role: 'img'});
  const words = [];
  for (const [state, count, label] of parts) {
    if (!count) continue;
    const seg = el('div', {class: 'seg ' + state, title: `${label}: ${count}`});
    seg.style.flexGrow = String(count);  // CSSOM: allowed by the CSP, unlike style=""
    if (pct(count, total) >= 8) seg.textContent = `${count}`;
    bar.appendChild(seg);
    words.push(`${label} ${count}`);
  }
  bar.setAttribute('aria-label', words.join(', ') || 'nothing');
  if (!total) bar.appendChild(el('div', {class: 'seg none'}, 'no data'));
  return bar;
}

async function renderFleet(view, args, current) {
  const done = loading(view);
  const f = await api('fleet');
  done();
  if (!current()) return;
  const total = num(f.hosts);
  view.appendChild(pageHeader('Fleet', el('span', {class: 'muted'},
    `${total} hosts · offline: not connected to any replica now · ` +
    `${num(f.not_seen)} not seen for over ${fmtDuration(f.stale_after)}`)));
  const counts = el('div', {class: 'bignums', id: 'fleet-counts'});
  for (const [state, label] of FLEET_STATES) {
    counts.appendChild(el('div', {class: 'bignum ' + state, 'data-state': state},
      el('div', {class: 'value'}, String(num(f[state]))), el('div', {class: 'label'}, label)));
  }
  view.appendChild(section(null, counts,
    stackedBar(FLEET_STATES.map(([s, l]) => [s, num(f[s]), l]), total),
    el('p', {class: 'summary', id: 'fleet-summary'}, `${num(f.converged)}/${total} converged`)));
  if (f.lists_truncated) {
    view.appendChild(el('p', {class: 'notice'},
      'Lists truncated: only the first hosts of each state are shown.'));
  }
  const failed = (f.failed_hosts || []).flatMap((h) => (h.accounts || [{}]).map((a) =>
    [link(h.hostname, 'access', h.hostname), a.account || '', wrap(a.reason || '')]));
  const grid = el('div', {class: 'grid2'});
  grid.appendChild(section('Failing hosts',
    table(['Host', 'Account', 'Why'], failed, {empty: 'No host is failing.'})));
  grid.appendChild(section('Drift by kind', table(['Kind', 'Hosts', 'Items'],
    (f.drift || []).map((d) =>
      [enumWord(d.kind, 'DRIFT_KIND_'), String(num(d.hosts)), String(num(d.items))]),
    {empty: 'No drift reported.'})));
  grid.appendChild(section('Pending hosts',
    table(['Host', 'Applied / desired generation', 'Last seen'],
    (f.pending_hosts || []).map((h) => [link(h.hostname, 'access', h.hostname),
      `${h.applied_generation || 0} / ${h.desired_generation || 0}`, fmtAgo(h.last_seen)]),
    {empty: 'No host is pending.'})));
  grid.appendChild(section('Offline hosts', table(['Host', 'Labels', 'Last seen'],
    (f.offline_hosts || []).map((h) => [h.hostname, wrap(labelText(h.labels)),
      el('span', {title: fmtTime(h.last_seen)}, fmtAgo(h.last_seen))]),
    {empty: 'Every host has been seen recently.'})));
  view.appendChild(grid);
}

function labelText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Keys

const KEY_LIST_PAGE = 200;
const KEY_LIST_MAX_PAGES = 10;  // a sane cap: 2000 keys in the browser

const ROTATION_PARTS = [
  ['rotated', 'converged', 'Rotated this cycle'],
  ['notdue', 'neutral', 'Not yet due'],
  ['due', 'pending', 'Due within warning window'],
  ['overdue', 'failed', 'Overdue'],
];

function rotationCounts(o) {
  const keys = num(o.keys), rotated = num(o.rotated), due = num(o.due), overdue = num(o.overdue);
  return {keys, rotated, due, overdue, notdue: Math.max(0, keys - rotated - due - overdue)};
}

// Stacked horizontal bars, one per row: [{label, counts}], as SVG with a legend.
function rotationChart(rows) {
  const labelW = 150, barW = 560, rowH = 26, gap = 8, top = 4;
  const height = top + rows.length * (rowH + gap) + 30;
  const chart = svg('svg', {class: 'chart', id: 'rotation-chart', width: labelW + barW + 80, height,
    viewBox: `0 0 ${labelW + barW + 80} ${height}`, role: 'img',
    'aria-label': 'Key age against the rotation policy'});
  const max = Math.max(1, ...rows.map((r) => r.counts.keys));
  rows.forEach((r, i) => {
    const y = top + i * (rowH + gap);
    chart.appendChild(svg('text', {x: labelW - 8, y: y + rowH / 2 + 5, 'text-anchor': 'end',
      class: i === 0 ? 'axis strong' : 'axis'}, r.label));
    let x = labelW;
    for (const [key, state, name] of ROTATION_PARTS) {
      const w = (barW * r.counts[key]) / max;
      if (w <= 0) continue;
      chart.appendChild(svg('rect', {x, y, width: w, height: rowH, class: 'fill ' + state},
        svg('title', null, `${r.label}: ${name} ${r.counts[key]}`)));
      if (w > 22) {
        chart.appendChild(svg('text', {x: x + w / 2, y: y + rowH / 2 + 5, 'text-anchor': 'middle',
          class: 'on-fill'}, String(r.counts[key])));
      }
      x += w;
    }
    chart.appendChild(svg('text', {x: x + 6, y: y + rowH / 2 + 5, class: 'axis'},
      plural(r.counts.keys, 'key')));
  });
  let lx = labelW;
  const ly = height - 12;
  for (const [, state, name] of ROTATION_PARTS) {
    chart.appendChild(svg('rect',
      {x: lx, y: ly - 10, width: 12, height: 12, class: 'fill ' + state}));
    chart.appendChild(svg('text', {x: lx + 17, y: ly, class: 'legend'}, name));
    lx += 34 + name.length * 6.4;
  }
  return chart;
}

async function renderKeys(view, args, current) {
  const done = loading(view);
  const [rot, comp] = await Promise.all([api('rotation'), api('compliance')]);
  done();
  if (!current()) return;
  const overall = rotationCounts(rot.overall || {});
  view.appendChild(pageHeader('Keys', el('span', {class: 'muted'},
    `Policy: rotate every ${fmtDuration(rot.max_key_age)}, ` +
    `warn ${fmtDuration(rot.warning_window)} ahead` +
    (rot.cycle_start ? ` · cycle started ${fmtTime(rot.cycle_start)}` : ''))));

  const progress = pct(overall.rotated, overall.keys);
  const figure = el('div', {class: 'campaign', id: 'campaign'},
    el('div', {class: 'value'}, `${progress}%`),
    el('div', {class: 'label'},
      `rotation campaign: ${overall.rotated} of ${overall.keys} keys rotated`),
    el('div', {class: 'sub'}, `${overall.due} due soon · ${overall.overdue} overdue`));
  const rows = [{label: 'All keys', counts: overall}].concat(
    (rot.owners || []).map((o) => ({label: o.principal, counts: rotationCounts(o)})));
  view.appendChild(section('Key age against the policy',
    el('div', {class: 'chart-row'}, figure,
      el('div', {class: 'chart-scroll'}, rotationChart(rows)))));

  const grid = el('div', {class: 'grid2'});
  const overdueOwners = (rot.owners || []).filter((o) => num(o.overdue) > 0);
  grid.appendChild(section('Owners with overdue keys', table(['Owner', 'Overdue', 'Keys'],
    overdueOwners.map((o) => [o.principal, String(num(o.overdue)),
      el('span', {class: 'fplist'}, (o.overdue_fingerprints || []).map((fp) => keyLink(fp)))]),
    {empty: 'No owner has an overdue key.'})));
  grid.appendChild(section('Weak key types', table(['Fingerprint', 'Owner', 'Type', 'Bits'],
    (comp.weak_type || []).map((k) => [keyLink(k.fingerprint), k.principal, k.type,
      String(k.bits || '')]), {empty: 'No key of a weak type.'})));
  view.appendChild(grid);
  view.appendChild(section(
      `Stale keys: active, no login for ${fmtDuration(comp.stale_after)}`,
      table(
          ['Fingerprint', 'Owner', 'Label', 'Created', 'Last used'],
          (comp.stale || [])
              .map(
                  (k) =>
                      [keyLink(k.fingerprint), k.principal, k.label, fmtTime(k.created_at),
                       lastUsedText(k)]),
          {empty: 'No stale key.', id: 'stale-keys'})));

  const filter = el('input', {type: 'search', id: 'key-filter', 'aria-label': 'Filter keys',
    placeholder: 'Filter by owner, fingerprint, comment, label, type, state…'});
  const listHolder = el('div', null, el('p', {class: 'muted'}, 'Loading keys…'));
  view.appendChild(section('All keys', filter, listHolder));
  const {keys, truncated} = await loadAllKeys();
  if (!current()) return;
  const draw = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = keys.filter((k) => !needle ||
      [k.fingerprint, k.principal, k.comment, k.label, k.type, enumWord(k.state, 'KEY_STATE_')]
        .join('\n').toLowerCase().includes(needle));
    const headers =
        ['Fingerprint', 'Owner', 'Type', 'Comment', 'Label', 'Created', 'State', 'Last used'];
    clear(listHolder)
        .appendChild(table(
            headers,
            shown.map(
                (k) =>
                    [keyLink(k.fingerprint), k.principal, k.type, wrap(k.comment), k.label,
                     fmtTime(k.created_at), keyStateBadge(k.state), lastUsedText(k)]),
            {empty: 'No key matches.', id: 'key-list'}));
    listHolder.appendChild(el('p', {class: 'muted'},
      `${shown.length} of ${keys.length} keys shown` +
      (truncated ? ` (only the first ${keys.length} were loaded)` : '')));
  };
  filter.addEventListener('input', draw);
  draw();
}

async function loadAllKeys() {
  const keys = [];
  let token = '';
  for (let page = 0; page < KEY_LIST_MAX_PAGES; page++) {
    const r = await api('keys' + query({page_size: KEY_LIST_PAGE, page_token: token}));
    keys.push(...(r.keys || []));
    token = r.next_page_token || '';
    if (!token) return {keys, truncated: false};
  }
  return {keys, truncated: true};
}

const KEY_STATE_CLASS = {
  KEY_STATE_ACTIVE: 'converged', KEY_STATE_SUPERSEDED: 'pending', KEY_STATE_REVOKED: 'failed',
  KEY_STATE_EXPIRED: 'offline',
};

function keyStateBadge(state) {
  return stateBadge(KEY_STATE_CLASS[state] || 'neutral', enumWord(state, 'KEY_STATE_'));
}

// The newest login any agent reported with the key (from sshd's log), or "never".
function lastUsedText(key) { return key.last_used ? fmtTime(key.last_used) : 'never'; }

// ---------------------------------------------------------------------------------------------
// One key, and its revocation

function fieldList(pairs, id) {
  const dl = el('dl', {class: 'fields', id});
  for (const [name, value] of pairs) {
    if (value === '' || value === undefined || value === null) continue;
    dl.appendChild(el('dt', null, name));
    dl.appendChild(el('dd', null, value));
  }
  return dl;
}

async function renderKey(view, args, current) {
  const fp = args.join('/');  // a fingerprint's '/' may also arrive unencoded
  const done = loading(view);
  const [key, reach] = await Promise.all([
    api('key' + query({fingerprint: fp})), api('reach' + query({fingerprint: fp}))]);
  done();
  if (!current()) return;
  const head = pageHeader('Key', el('code', {class: 'fp'}, key.fingerprint));
  if (canMutate() && key.state !== 'KEY_STATE_REVOKED') {
    const button = el('button', {type: 'button', id: 'revoke-button', class: 'danger'},
      'Revoke…');
    button.addEventListener('click', () => openRevokeDialog(key, reach, current));
    head.appendChild(button);
  }
  view.appendChild(head);
  view.appendChild(section(
      'Fields',
      fieldList(
          [
            ['Owner', key.principal],
            ['State', keyStateBadge(key.state)],
            ['Type', `${key.type} (${key.bits} bits)`],
            ['Comment', key.comment],
            ['Label', key.label],
            ['Created', fmtTime(key.created_at)],
            ['Expires', fmtTime(key.expires_at)],
            ['Revoked', fmtTime(key.revoked_at)],
            ['Revocation reason', key.revocation_reason],
            [
              'Ends live sessions',
              key.state === 'KEY_STATE_REVOKED' ? (key.revocation_ends_sessions ? 'yes' : 'no') : ''
            ],
            ['Last used', lastUsedText(key)],
            ['Replaces', key.predecessor_fingerprint && keyLink(key.predecessor_fingerprint)],
            ['Replaced by', key.successor_fingerprint && keyLink(key.successor_fingerprint)],
            ['Public key', el('code', {class: 'wrap'}, key.public_key)],
          ],
          'key-fields')));
  const counts = `${plural(num(reach.hosts), 'host')}, ${plural(num(reach.accounts), 'account')}`;
  const where = `Where it reaches (${counts})`;
  view.appendChild(section(where, reachTable(reach, false)));
  view.appendChild(section(
      'Last use per host',
      table(
          ['Host', 'Account', 'Last used', 'From'],
          (key.uses ||
           []).map((u) => [u.hostname, u.account, fmtTime(u.last_used), u.from_address || '']),
          {empty: 'No login with this key was reported.', id: 'key-uses'})));
  if ((key.sessions_ended || []).length > 0) {
    view.appendChild(section(
        'Live sessions ended',
        table(
            ['Host', 'Sessions', 'Last reported'],
            key.sessions_ended.map((e) => [e.hostname, String(num(e.count)), fmtTime(e.last_at)]),
            {id: 'sessions-ended'})));
  }
}

function reachTable(reach, withKey) {
  const rows = (reach.entries || []).map((e) => [link(e.hostname, 'access', e.hostname, e.account),
    e.account, ...(withKey ? [e.principal, keyLink(e.fingerprint)] : []),
    wrap(e.options), fmtTime(e.expires_at),
    e.applied ? stateBadge('converged', 'applied') : stateBadge('pending', 'not applied yet')]);
  const headers = ['Host', 'Account', ...(withKey ? ['Owner', 'Key'] : []), 'Options',
    'Grant expires', 'On the host'];
  const parts = [table(headers, rows, {empty: 'It reaches no host.', id: 'reach-table'})];
  if (reach.truncated) parts.push(el('p', {class: 'notice'}, 'The list is truncated.'));
  return el('div', null, parts);
}

// The confirmation names what goes where from a fresh look-up (the page may be old).
async function openRevokeDialog(key, shownReach, current) {
  const dialog = $('revoke-dialog');
  let reach = shownReach;
  try {
    reach = await api('reach' + query({fingerprint: key.fingerprint}));
  } catch (e) { /* then the page's */ }
  if (!current()) return;
  const entries = reach.entries || [];
  // The server's counts are whole even when the list below is cut.
  $('revoke-count').textContent =
      `${plural(num(reach.hosts), 'host')} (${plural(num(reach.accounts), 'account')})` +
      (reach.truncated ? `; the first ${entries.length} are listed` : '');
  const dl = clear($('revoke-key'));
  for (const [name, value] of [['Fingerprint', key.fingerprint], ['Owner', key.principal],
    ['Comment', key.comment || '(none)']]) {
    dl.appendChild(el('dt', null, name));
    dl.appendChild(el('dd', null, value));
  }
  const body = clear($('revoke-where').tBodies[0]);
  for (const e of entries) {
    body.appendChild(el('tr', null, el('td', null, e.hostname), el('td', null, e.account),
      el('td', null, e.applied ? 'yes' : 'not yet')));
  }
  if (!entries.length) {
    body.appendChild(el('tr', null, el('td', {colspan: 3}, 'No host: it is granted nowhere.')));
  }
  $('revoke-reason').value = '';
  $('revoke-error').hidden = true;
  $('revoke-confirm').disabled = false;
  // One id for this confirmation: a retry after a lost answer is then not applied twice.
  dialog.dataset.fingerprint = key.fingerprint;
  dialog.dataset.requestId = newRequestId();
  dialog.showModal();
  $('revoke-reason').focus();
}

async function onRevokeConfirm(event) {
  event.preventDefault();
  const dialog = $('revoke-dialog');
  const reason = $('revoke-reason').value.trim();
  const error = $('revoke-error');
  if (!reason) {
    error.textContent = 'Give a reason: it is recorded in the audit log.';
    error.hidden = false;
    return;
  }
  $('revoke-confirm').disabled = true;
  try {
    const r = await api('keys/revoke', {method: 'POST', requestId: dialog.dataset.requestId,
      body: {fingerprint: dialog.dataset.fingerprint, reason}});
    dialog.close();
    location.hash = '#/rollout/' + encodeURIComponent(r.change);
  } catch (err) {
    $('revoke-confirm').disabled = false;
    if (err.status === 401) { dialog.close(); return; }
    error.textContent = `The key was not revoked: ${err.message} (${err.code})`;
    error.hidden = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Rollout: polled every second until done, then every 30 s, while the route stays and the tab
// is visible (a hidden tab asks nothing until it is shown again).

const ROLLOUT_FAST_MS = 1000, ROLLOUT_SLOW_MS = 30000, ROLLOUT_MAX_SAMPLES = 600;

async function renderRollout(view, args, current) {
  const change = args[0] || '';
  const samples = [];  // {t: ms since the page opened, converged}
  const started = Date.now();
  view.appendChild(pageHeader(change ? `Rollout of change ${change}` : 'Latest rollout'));
  const body = el('div', {id: 'rollout'}, el('p', {class: 'muted loading'}, 'Loading…'));
  view.appendChild(body);
  const poll = async () => {
    let r;
    try {
      r = await api('rollout' + query({change}));
    } catch (err) {
      if (!current()) return;
      clear(body).appendChild(errorBox(err, 'load the rollout'));
      if (err.status !== 401) pollTimer = setTimeout(poll, ROLLOUT_SLOW_MS);
      return;
    }
    if (!current()) return;
    samples.push({t: Date.now() - started, converged: num(r.converged_hosts)});
    if (samples.length > ROLLOUT_MAX_SAMPLES) samples.shift();
    const finished = drawRollout(view, body, r, samples);
    pollTimer = setTimeout(whenVisible, finished ? ROLLOUT_SLOW_MS : ROLLOUT_FAST_MS);
  };
  const whenVisible = () => {
    if (!current()) return;
    if (document.visibilityState !== 'hidden') return poll();
    document.addEventListener('visibilitychange', whenVisible, {once: true});
  };
  await poll();
}

// Redraws the rollout; true when every targeted host converged and none is pending.
function drawRollout(view, body, r, samples) {
  const targeted = num(r.targeted_hosts), converged = num(r.converged_hosts);
  const pending = r.pending_hosts || [], offline = r.offline_hosts || [];
  const failed = r.failed_hosts || [];
  const finished = converged === targeted && pending.length === 0;
  view.querySelector('h1').textContent = `Rollout of change ${r.change}`;
  const state = finished ? 'converged' : failed.length ? 'failed' : 'pending';
  const bar = el('div', {class: 'progress'}, el('div', {class: 'fill ' + state}));
  bar.firstChild.style.width = pct(converged, targeted) + '%';
  clear(body).append(
    section(null,
      el('div', {class: 'rollout-head'},
        el('div', {class: 'bignum ' + state},
          el('div', {class: 'value', id: 'rollout-count'}, `${converged}/${targeted}`),
          el('div', {class: 'label'}, 'hosts converged')),
        el('div', {class: 'rollout-state'},
          stateBadge(state, finished ? 'complete' : failed.length ? 'failures' : 'in progress'),
          el('p', {class: 'muted'}, finished ? 'Every targeted host applied this change.' :
            `Updating every second · ${pending.length} pending, ${offline.length} offline, ` +
            `${failed.length} failed`))),
      bar, convergenceChart(samples, targeted, Math.max(480, view.clientWidth - 90))),
    el('div', {class: 'grid3'},
      section('Pending', table(['Host'], pending.map((h) => [h]), {empty: 'None.'})),
      section('Offline', table(['Host'], offline.map((h) => [h]), {empty: 'None.'})),
      section('Failed', table(['Host', 'Account', 'Why'], failed.flatMap((h) =>
        (h.accounts || [{}]).map((a) => [h.hostname, a.account || '', wrap(a.reason || '')])),
      {empty: 'None.'}))));
  return finished;
}

// Converged hosts over the time this page has watched, as an SVG line chart.
function convergenceChart(samples, targeted, W) {
  const H = 170, L = 40, R = 12, T = 10, B = 26;
  const maxT = Math.max(10000, samples.length ? samples[samples.length - 1].t : 0);
  const maxY = Math.max(1, targeted);
  const x = (t) => L + ((W - L - R) * t) / maxT;
  const y = (v) => T + (H - T - B) * (1 - v / maxY);
  const chart = svg('svg', {class: 'chart', id: 'rollout-chart', width: W, height: H,
    viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Converged hosts over time'});
  for (const v of [0, maxY]) {
    chart.appendChild(svg('line', {x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid'}));
    chart.appendChild(svg('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis'},
      String(v)));
  }
  chart.appendChild(svg('text', {x: W - R, y: H - 6, 'text-anchor': 'end', class: 'axis'},
    `${Math.round(maxT / 1000)} s`));
  chart.appendChild(svg('text', {x: L, y: H - 6, class: 'axis'}, '0 s'));
  chart.appendChild(svg('text',
    {x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis'},
    'hosts converged, since this page opened'));
  if (samples.length) {
    // A step line: the count holds until the next sample saw it change.
    const point = (t, v) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    const points = samples.map((s, i) => (i === 0 ? point(s.t, s.converged) :
      point(s.t, samples[i - 1].converged) + ' ' + point(s.t, s.converged))).join(' ');
    chart.appendChild(svg('polyline', {points, class: 'line'}));
    const last = samples[samples.length - 1];
    chart.appendChild(svg('circle', {cx: x(last.t), cy: y(last.converged), r: 4, class: 'dot'}));
  }
  return chart;
}

// ---------------------------------------------------------------------------------------------
// Access review, and where a key or principal reaches

const ACCESS_STATE_CLASS = {
  ACCESS_STATE_ACTIVE: 'converged', ACCESS_STATE_PENDING_ADD: 'pending',
  ACCESS_STATE_PENDING_REMOVAL: 'pending', ACCESS_STATE_UNMANAGED: 'failed',
  ACCESS_STATE_UNREPORTED: 'offline',
};

async function renderAccess(view, args, current) {
  view.appendChild(pageHeader('Access review'));
  const host = el('input', {id: 'access-host', required: true, placeholder: 'web-1',
    list: 'host-names', value: args[0] || ''});
  const account = el('input', {id: 'access-account', placeholder: 'all accounts',
    value: args[1] || ''});
  const form = el('form', {class: 'inline-form', id: 'access-form'},
    el('label', null, 'Who can log into host ', host), el('label', null, ' as account ', account),
    el('button', {type: 'submit', class: 'primary'}, 'Review'), el('datalist', {id: 'host-names'}));
  const result = el('div', {id: 'access-result'});
  view.appendChild(section('Who can log in', form, result));

  const who = el('input', {id: 'reach-query', required: true,
    placeholder: 'SHA256:… or a principal name'});
  const reachForm = el('form', {class: 'inline-form', id: 'reach-form'},
    el('label', null, 'Where does key or principal ', who, ' reach?'),
    el('button', {type: 'submit', class: 'primary'}, 'Look up'));
  const reachResult = el('div', {id: 'reach-result'});
  view.appendChild(section('Where a key or principal reaches', reachForm, reachResult));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    runAccess(result, host.value.trim(), account.value.trim(), current);
  });
  reachForm.addEventListener('submit', (e) => {
    e.preventDefault();
    runReach(reachResult, who.value.trim(), current);
  });
  fillHostNames(form.querySelector('datalist'), current);
  if (args[0]) await runAccess(result, args[0], args[1] || '', current);
}

// Host names for the form's autocompletion; the form works without them.
async function fillHostNames(datalist, current) {
  try {
    const r = await api('hosts' + query({page_size: 500}));
    if (!current()) return;
    for (const h of r.hosts || []) datalist.appendChild(el('option', {value: h.hostname}));
  } catch (e) { /* an owner may not list hosts */ }
}

async function runAccess(result, hostname, account, current) {
  clear(result).appendChild(el('p', {class: 'muted loading'}, 'Loading…'));
  let r;
  try {
    r = await api('access' + query({hostname, account}));
  } catch (err) {
    if (current()) clear(result).appendChild(errorBox(err, 'review access'));
    return;
  }
  if (!current()) return;
  clear(result);
  if (r.change_pending) {
    result.appendChild(el('p', {class: 'notice'},
      `A change is pending: the host applied generation ${r.applied_generation} ` +
      `of ${r.desired_generation}; ` +
      'entries marked pending take effect when it applies.'));
  }
  result.appendChild(r.files_reported
    ? el('p', {class: 'muted'},
      `From the authorized_keys files ${hostname} reported, and keyfleet's desired state.`)
    : el('p', {class: 'notice'},
      'The host has not reported its authorized_keys files: unmanaged lines cannot be shown.'));
  const headers =
    ['Account', 'Key', 'Fingerprint', 'State', 'Logs in', 'Why', 'Expires', 'Options'];
  result.appendChild(table(headers,
    (r.entries || []).map((e) => {
      const k = e.key || {};
      const who = k.principal ? `${k.principal}${k.comment ? ' · ' + k.comment : ''}` :
        e.comment || '(unmanaged)';
      return [e.account, wrap(who), e.fingerprint ? keyLink(e.fingerprint) : '',
        stateBadge(ACCESS_STATE_CLASS[e.state] || 'neutral', enumWord(e.state, 'ACCESS_STATE_')),
        e.logs_in ? stateBadge('converged', 'yes') : stateBadge('offline', 'no'),
        wrap(e.why || (num(e.grant_id) ? `grant ${e.grant_id}` : '')),
        fmtTime(e.expires_at), wrap(e.options)];
    }), {empty: 'Nobody can log in there with a key.', id: 'access-table'}));
  const accounts = r.accounts || [];
  if (accounts.length) {
    result.appendChild(el('h3', null, 'Account facts'));
    result.appendChild(table(['Account', 'sshd refuses', 'Facts', 'Lines left out'],
      accounts.map((a) => [a.account, a.sshd_refuses ? stateBadge('failed', 'yes') : 'no',
        wrap((a.facts || []).join('; ') || '—'), String(num(a.lines_left_out))])));
  }
}

async function runReach(result, what, current) {
  const params = what.startsWith('SHA256:') ? {fingerprint: what} : {principal: what};
  clear(result).appendChild(el('p', {class: 'muted loading'}, 'Loading…'));
  try {
    const r = await api('reach' + query(params));
    if (!current()) return;
    clear(result).append(
      el('p', {class: 'summary'},
        `${plural(num(r.hosts), 'host')}, ${plural(num(r.accounts), 'account')}`),
      reachTable(r, true));
  } catch (err) {
    if (current()) clear(result).appendChild(errorBox(err, 'look this up'));
  }
}

// ---------------------------------------------------------------------------------------------
// Audit

const AUDIT_PAGE = 200;

async function renderAudit(view, args, current) {
  view.appendChild(pageHeader('Audit log'));
  const verifyButton = el('button', {type: 'button', id: 'verify-button', class: 'primary'},
    'Verify chain');
  const verifyResult = el('div', {id: 'verify-result', class: 'muted'},
    'Not verified in this session.');
  view.appendChild(section('Chain verification',
    el('div', {class: 'verify-row'}, verifyButton, verifyResult)));
  verifyButton.addEventListener('click', () => verifyChain(verifyButton, verifyResult, current));

  const filter = el('input', {type: 'search', id: 'audit-filter', 'aria-label': 'Filter events',
    placeholder: 'Filter by actor, action or target…'});
  const older = el('button', {type: 'button', id: 'audit-older'}, 'Older events');
  const holder = el('div');
  view.appendChild(section('Latest events', filter, holder, older));
  const events = [];
  let token = '';
  const draw = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = events.filter((e) => !needle ||
      [e.actor, e.action, e.target].join('\n').toLowerCase().includes(needle));
    clear(holder).appendChild(table(['#', 'When', 'Actor', 'Action', 'Target'],
      shown.map((e) => [e.sequence, fmtTime(e.at, true), e.actor, el('code', null, e.action),
        auditTarget(e.target)]),
      {empty: 'No event matches.', id: 'audit-table'}));
    older.hidden = !token;
  };
  const loadMore = async () => {
    older.disabled = true;
    try {
      const r = await api('audit' +
        query({newest_first: 'true', page_size: AUDIT_PAGE, page_token: token}));
      if (!current()) return;
      events.push(...(r.events || []));
      token = r.next_page_token || '';
      draw();
    } catch (err) {
      if (current()) holder.appendChild(errorBox(err, 'load the audit log'));
    } finally {
      older.disabled = false;
    }
  };
  filter.addEventListener('input', draw);
  older.addEventListener('click', loadMore);
  await loadMore();
}

// A target that is a key's fingerprint links to its page.
function auditTarget(target) {
  return /^SHA256:[A-Za-z0-9+/]+$/.test(target || '') ? keyLink(target) : wrap(target);
}

async function verifyChain(button, out, current) {
  button.disabled = true;
  clear(out).appendChild(document.createTextNode('Verifying… (this can take a few seconds)'));
  out.className = 'muted';
  try {
    const r = await api('audit/verify');
    if (!current()) return;
    const counts =
      `${num(r.events_checked)} events and ${num(r.checkpoints_checked)} checkpoints checked`;
    clear(out).append(r.ok ? stateBadge('converged', 'ok') : stateBadge('failed', 'broken'), ' ',
      r.ok ? `The chain is intact: ${counts}.` :
        `First bad event: #${r.first_bad_sequence}. ${r.detail} (${counts})`);
    out.className = r.ok ? 'verify ok' : 'verify bad';
  } catch (err) {
    if (current()) clear(out).appendChild(errorBox(err, 'verify the chain'));
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Start

async function start() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', onLogout);
  $('revoke-form').addEventListener('submit', onRevokeConfirm);
  $('revoke-cancel').addEventListener('click', () => $('revoke-dialog').close());
  window.addEventListener('hashchange', route);
  try {
    startSession(await api('session'));
  } catch (err) {
    showLogin(err.status === 401 ? '' : err.message);
  }
}

document.addEventListener('DOMContentLoaded', start);
