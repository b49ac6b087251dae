// The Barge dashboard (docs/dashboard.md): plain JavaScript over /dashboard/api/ (dash.h).
// Text from the server is only ever set as textContent, never parsed as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const STATUSES = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'];
const ACTIVE = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING'];
const state = {
  csrf: null, profile: null, readOnly: false,
  filter: { queue: '', status: '', q: '', sort: 'newest', limit: '50' },
  cursors: [null], page: 0, next: null,
  seq: 0, es: null, pollTimer: null, refreshTimer: null,
  job: null, logStream: null, logToken: null, logTimer: null,
};
// what the browser test reads: how often the table was loaded, how many live events arrived
window.bargeDash = { loads: 0, events: 0, mode: 'off' };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'onclick') e.addEventListener('click', v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

function when(ms) { return ms ? new Date(ms).toLocaleString() : ''; }
function statusTag(s) { return el('span', { class: 'st st-' + s }, s); }

async function api(path, opts = {}) {
  const o = { method: opts.method || 'GET', credentials: 'same-origin', headers: {} };
  if (opts.body !== undefined) {
    o.body = JSON.stringify(opts.body);
    o.headers['Content-Type'] = 'application/json';
  }
  if (o.method !== 'GET' && state.csrf) o.headers['X-Barge-CSRF'] = state.csrf;
  const r = await fetch('/dashboard/api/' + path, o);
  let j = {};
  try { j = await r.json(); } catch (e) { /* not JSON */ }
  if (r.status === 401 && path !== 'login') { showLogin(); throw new Error('not logged in'); }
  if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
  return j;
}

function show(view) {
  for (const v of ['login-view', 'jobs-view', 'job-view', 'ces-view']) $(v).hidden = v !== view;
}

// ------------------------------------------------------------------------------ login --
function showLogin() {
  state.csrf = null;
  stopLive();
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  show('login-view');
}

async function login(ev) {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    const s = await api('login', { method: 'POST', body: { accessKey: $('access-key').value, secretKey: $('secret-key').value } });
    $('secret-key').value = '';
    loggedIn(s);
  } catch (e) {
    $('login-error').textContent = e.message;
  }
}

function loggedIn(s) {
  state.csrf = s.csrf;
  state.profile = s.profile;
  state.readOnly = s.readOnly;
  $('who').textContent = s.profile + (s.readOnly ? ' (read-only)' : '');
  $('nav').hidden = false;
  $('logout').hidden = false;
  for (const b of ['bulk-cancel', 'bulk-terminate']) $(b).hidden = s.readOnly;
  startLive();
  route();
}

async function logout() {
  try { await api('logout', { method: 'POST', body: {} }); } catch (e) { /* gone already */ }
  showLogin();
}

// ------------------------------------------------------------------------------ live --
function setLive(mode, text) {
  window.bargeDash.mode = mode;
  $('live-status').className = 'live ' + (mode === 'sse' ? 'on' : mode === 'poll' ? 'poll' : 'off');
  $('live-status').textContent = text;
}

function startLive() {
  stopLive();
  if (!window.EventSource) { startPolling(); return; }
  const es = new EventSource('/dashboard/api/events');
  state.es = es;
  es.onopen = () => setLive('sse', 'live');
  es.addEventListener('job', (e) => onChange(JSON.parse(e.data)));
  es.addEventListener('reset', () => refreshSoon(true));
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) { state.es = null; startPolling(); }
    else setLive('off', 'reconnecting');
  };
}

function startPolling() {
  setLive('poll', 'polling');
  const tick = async () => {
    try {
      const r = await api('changes?since=' + state.seq);
      if (r.reset) refreshSoon(true);
      r.events.forEach(onChange);
      state.seq = r.seq;
    } catch (e) { setLive('off', 'offline'); }
  };
  state.pollTimer = setInterval(tick, 3000);
}

function stopLive() {
  if (state.es) state.es.close();
  state.es = null;
  clearInterval(state.pollTimer);
  state.pollTimer = null;
  setLive('off', 'offline');
}

// A status change as the view applied it.
function onChange(ev) {
  state.seq = Math.max(state.seq, ev.seq);
  window.bargeDash.events++;
  const feed = $('live-feed');
  feed.prepend(el('li', { dataset: { id: ev.id, status: ev.status } },
    new Date(ev.at).toLocaleTimeString() + '  ' + ev.name + '  ' + (ev.prev || 'new') + ' → ' + ev.status + '  (' + ev.queue + ')'));
  while (feed.children.length > 30) feed.lastChild.remove();
  const row = document.getElementById('job-' + ev.id);
  if (row) {
    const cell = row.querySelector('.status');
    cell.replaceChildren(statusTag(ev.status));
    row.dataset.status = ev.status;
    row.classList.remove('flash');
    void row.offsetWidth; // restart the animation
    row.classList.add('flash');
    // then the whole row as it is now (exit code, reason): a job id is found without a walk
    api('jobs?q=' + encodeURIComponent(ev.id)).then((r) => {
      const cur = document.getElementById('job-' + ev.id);
      if (!r.jobs.length || !cur) return;
      const fresh = jobRow(r.jobs[0]);
      fresh.classList.add('flash');
      cur.replaceWith(fresh);
    }).catch(() => {});
  }
  if (!ev.prev && state.page === 0) refreshSoon(true); // a new job: the first page shows it
  else refreshSoon(false);
  if (state.job && state.job === ev.id && !$('job-view').hidden) loadJob(ev.id, true);
}

// Counts (and the table, for new jobs) at most once a second, however many changes arrive.
function refreshSoon(table) {
  state.refreshTable = state.refreshTable || table;
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    if ($('jobs-view').hidden) return;
    loadOverview();
    if (state.refreshTable) loadJobs();
    state.refreshTable = false;
  }, 1000);
}

// ------------------------------------------------------------------------------ jobs --
async function loadOverview() {
  const o = await api('overview');
  const head = el('tr', {}, el('th', {}, 'Queue'), el('th', {}, 'State'));
  for (const s of o.statuses) head.append(el('th', {}, s));
  head.append(el('th', {}, 'Total'));
  $('overview').tHead.replaceChildren(head);
  const rows = o.queues.map((q) => {
    const tr = el('tr', { dataset: { queue: q.name } }, el('td', {}, q.name), el('td', {}, (q.state || '') + ' ' + (q.status || '')));
    for (const s of o.statuses) {
      tr.append(el('td', { class: 'num', dataset: { status: s } },
        el('button', { class: 'count', type: 'button', onclick: () => setFilter({ queue: q.name, status: s }) }, q.counts[s])));
    }
    tr.append(el('td', { class: 'num' }, q.total));
    return tr;
  });
  $('overview').tBodies[0].replaceChildren(...rows);
  const sel = $('f-queue'), cur = state.filter.queue;
  sel.replaceChildren(el('option', { value: '' }, 'All queues'), ...o.queues.map((q) => el('option', { value: q.name }, q.name)));
  sel.value = cur;
}

function setFilter(f) {
  Object.assign(state.filter, f);
  $('f-queue').value = state.filter.queue;
  $('f-status').value = state.filter.status;
  $('f-search').value = state.filter.q;
  state.cursors = [null];
  state.page = 0;
  loadJobs();
}

function applyFilters(ev) {
  ev.preventDefault();
  setFilter({ queue: $('f-queue').value, status: $('f-status').value, q: $('f-search').value.trim(),
    sort: $('f-sort').value, limit: $('f-limit').value });
}

function filterParams() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state.filter)) if (v) p.set(k, v);
  return p;
}

function jobRow(j) {
  const name = [j.name];
  if (j.array) {
    const bar = el('span', { class: 'bar', title: JSON.stringify(j.array.counts) });
    for (const s of STATUSES) {
      if (!j.array.counts[s]) continue;
      const part = el('span', { class: s });
      part.style.width = (100 * j.array.counts[s] / Math.max(1, j.array.size)) + '%';
      bar.append(part);
    }
    name.push(' ', el('small', {}, '[array of ' + j.array.size + '] '), bar);
  }
  return el('tr', { id: 'job-' + j.id, dataset: { id: j.id, status: j.status }, onclick: () => { location.hash = '#/job/' + j.id; } },
    el('td', { class: 'name' }, ...name), el('td', {}, el('code', {}, j.id)), el('td', {}, j.queue),
    el('td', { class: 'status' }, statusTag(j.status)), el('td', {}, when(j.createdAt)),
    el('td', { class: 'num' }, j.exitCode !== undefined ? j.exitCode : ''), el('td', {}, j.statusReason || ''));
}

async function loadJobs() {
  const p = filterParams();
  const after = state.cursors[state.page];
  if (after) p.set('after', after);
  let r;
  try {
    r = await api('jobs?' + p.toString());
  } catch (e) {
    $('table-info').textContent = e.message;
    return;
  }
  window.bargeDash.loads++;
  $('jobs').tBodies[0].replaceChildren(...r.jobs.map(jobRow));
  state.next = r.next;
  const from = state.page * Number(state.filter.limit) + 1;
  let info = r.total !== null ? r.total + ' jobs' : 'searched ' + r.scanned + ' jobs' + (r.searchedAll ? ' (all)' : ', more on the next page');
  if (r.jobs.length) info += '; showing ' + from + '–' + (from + r.jobs.length - 1);
  $('table-info').textContent = info + ' (' + r.tookMs.toFixed(1) + ' ms)';
  $('page-no').textContent = 'page ' + (state.page + 1);
  $('prev').disabled = state.page === 0;
  $('next').disabled = !r.next;
}

function pageBy(d) {
  if (d > 0 && state.next) { state.cursors[state.page + 1] = state.next; state.page++; }
  else if (d < 0 && state.page > 0) state.page--;
  else return;
  loadJobs();
}

// ------------------------------------------------------------------------- confirming --
function confirmBox(text, sample, canGo) {
  return new Promise((resolve) => {
    $('confirm-text').textContent = text;
    $('confirm-sample').replaceChildren(...(sample || []).map((j) => el('li', {}, j.name + ' ' + j.id + ' ' + j.status)));
    $('confirm-yes').hidden = !canGo;
    $('confirm-no').textContent = canGo ? 'No' : 'OK';
    $('confirm').hidden = false;
    const done = (v) => { $('confirm').hidden = true; $('confirm-yes').onclick = null; $('confirm-no').onclick = null; resolve(v); };
    $('confirm-yes').onclick = () => done(true);
    $('confirm-no').onclick = () => done(false);
  });
}

async function bulk(action) {
  const f = state.filter;
  const body = { action, queue: f.queue, status: f.status, q: f.q };
  try {
    const dry = await api('bulk', { method: 'POST', body: { ...body, confirm: false } });
    const what = action === 'cancel' ? 'Cancel' : 'Terminate';
    if (!dry.count) { await confirmBox('No job of this filter can be ' + action + 'ed.', [], false); return; }
    const go = await confirmBox(what + ' ' + dry.count + ' job' + (dry.count === 1 ? '' : 's') + ' of this filter (' +
      (f.queue || 'all queues') + ', ' + (f.status || 'any status') + (f.q ? ', "' + f.q + '"' : '') + ')?', dry.sample, true);
    if (!go) return;
    const r = await api('bulk', { method: 'POST', body: { ...body, confirm: true, expect: dry.count } });
    $('table-info').textContent = what + ': ' + r.done + ' of ' + r.count + ' done' + (r.failed.length ? ', ' + r.failed.length + ' failed: ' + r.failed[0].error : '');
  } catch (e) {
    $('table-info').textContent = e.message;
  }
}

// ------------------------------------------------------------------------------- a job --
function field(dl, name, value) {
  if (value === undefined || value === null || value === '') return;
  dl.append(el('dt', {}, name), el('dd', {}, value));
}

async function act(action, id) {
  const go = await confirmBox((action === 'cancel' ? 'Cancel' : 'Terminate') + ' job ' + id + '?', [], true);
  if (!go) return;
  try {
    const r = await api('action', { method: 'POST', body: { action, jobIds: [id] } });
    if (r.failed.length) $('job-actions').append(el('span', { class: 'error' }, ' ' + r.failed[0].error));
  } catch (e) {
    $('job-actions').append(el('span', { class: 'error' }, ' ' + e.message));
  }
}

async function loadJob(id, refresh) {
  if (!refresh) {
    state.job = id;
    state.logStream = null;
    $('log').textContent = '';
    $('log-stream').textContent = '';
  }
  let r;
  try {
    r = await api('job?id=' + encodeURIComponent(id));
  } catch (e) {
    $('job-title').textContent = e.message;
    return;
  }
  const j = r.job;
  $('job-title').replaceChildren(j.jobName + ' ', statusTag(j.status));
  const acts = [];
  if (!state.readOnly && ['SUBMITTED', 'PENDING', 'RUNNABLE'].includes(j.status))
    acts.push(el('button', { id: 'job-cancel', type: 'button', class: 'danger', onclick: () => act('cancel', j.jobId) }, 'Cancel job'));
  if (!state.readOnly && ACTIVE.includes(j.status))
    acts.push(el('button', { id: 'job-terminate', type: 'button', class: 'danger', onclick: () => act('terminate', j.jobId) }, 'Terminate job'));
  $('job-actions').replaceChildren(...acts);
  const dl = $('job-fields');
  dl.replaceChildren();
  field(dl, 'Job id', j.jobId);
  field(dl, 'Status', j.status);
  field(dl, 'Status reason', j.statusReason);
  field(dl, 'Queue', (j.jobQueue || '').split('/').pop());
  field(dl, 'Job definition', (j.jobDefinition || '').split('/').pop());
  field(dl, 'Created', when(j.createdAt));
  field(dl, 'Started', when(j.startedAt));
  field(dl, 'Stopped', when(j.stoppedAt));
  if (j.container) {
    field(dl, 'Exit code', j.container.exitCode);
    field(dl, 'Container reason', j.container.reason);
    field(dl, 'Command', (j.container.command || []).join(' '));
  }
  if (j.dependsOn && j.dependsOn.length) field(dl, 'Depends on', j.dependsOn.map((d) => d.jobId).join(', '));
  renderChildren(j, r.children);
  const attempts = j.attempts || [];
  $('attempts').tBodies[0].replaceChildren(...attempts.map((a, i) => el('tr', {},
    el('td', {}, i + 1), el('td', {}, when(a.startedAt)), el('td', {}, when(a.stoppedAt)),
    el('td', { class: 'num exit' }, a.container && a.container.exitCode !== undefined ? a.container.exitCode : ''),
    el('td', {}, a.statusReason || (a.container && a.container.reason) || ''),
    el('td', {}, a.container && a.container.logStreamName
      ? el('button', { type: 'button', onclick: () => openLog(a.container.logStreamName, j.status) }, 'show') : ''))));
  const stream = (j.container && j.container.logStreamName) ||
    (attempts.length && attempts[attempts.length - 1].container && attempts[attempts.length - 1].container.logStreamName);
  if (!state.logStream && stream) openLog(stream, j.status);
  else if (!stream && !state.logStream) $('log').textContent = 'No log yet: the job has not started.';
  state.jobStatus = j.status;
}

function renderChildren(j, children) {
  const box = $('job-children');
  if (!children) { box.replaceChildren(); return; }
  const counts = STATUSES.filter((s) => children.counts[s]).map((s) => s + ' ' + children.counts[s]).join(', ');
  box.replaceChildren(el('h3', {}, 'Array children (' + children.total + ')'), el('p', { id: 'children-counts' }, counts));
  api('children?id=' + encodeURIComponent(j.jobId)).then((r) => {
    box.append(el('table', { class: 'grid' }, el('tbody', {}, ...r.children.map((c) => el('tr',
      { onclick: () => { location.hash = '#/job/' + c.id; } }, el('td', {}, c.index), el('td', {}, el('code', {}, c.id)),
      el('td', {}, statusTag(c.status)))))));
  }).catch(() => {});
}

function openLog(stream, status) {
  clearTimeout(state.logTimer);
  state.logStream = stream;
  state.logToken = null;
  $('log').textContent = '';
  $('log-stream').textContent = stream;
  readLog(stream, status);
}

// Reads the stream from its head, then follows it every 2 s while the job runs.
async function readLog(stream, status) {
  if (state.logStream !== stream) return;
  try {
    const p = new URLSearchParams({ stream });
    if (state.logToken) p.set('token', state.logToken);
    const r = await api('log?' + p.toString());
    if (state.logStream !== stream) return;
    if (r.events.length) $('log').append(r.events.map((e) => e.message).join('\n') + '\n');
    const more = r.nextForwardToken !== state.logToken && r.events.length;
    state.logToken = r.nextForwardToken;
    if (more) { readLog(stream, status); return; }
  } catch (e) {
    if (!$('log').textContent) $('log').textContent = e.message;
  }
  if (ACTIVE.includes(state.jobStatus || status) && !$('job-view').hidden)
    state.logTimer = setTimeout(() => readLog(stream, status), 2000);
}

// ----------------------------------------------------------------- compute environments --
async function loadCes() {
  let r;
  try { r = await api('ces'); } catch (e) { $('ces').tBodies[0].replaceChildren(el('tr', {}, el('td', {}, e.message))); return; }
  $('ces').tBodies[0].replaceChildren(...(r.computeEnvironments || []).map((c) => {
    const cr = c.computeResources || {};
    const inst = c.instances || [];
    return el('tr', { dataset: { ce: c.computeEnvironmentName } }, el('td', {}, c.computeEnvironmentName), el('td', {}, c.type),
      el('td', {}, c.state), el('td', {}, c.status),
      el('td', { class: 'num' }, c.type === 'MANAGED' ? (cr.minvCpus ?? '') + ' / ' + (cr.desiredvCpus ?? '') + ' / ' + (cr.maxvCpus ?? '') : ''),
      el('td', {}, inst.length + (inst.length ? ': ' + inst.map((i) => (i.instanceId || i.id) + ' ' + (i.instanceType || i.type || '') + ' ' + (i.state || '')).join(', ') : '')),
      el('td', {}, c.statusReason || ''));
  }));
}

// ------------------------------------------------------------------------------ routes --
function route() {
  if (!state.csrf) return;
  clearTimeout(state.logTimer);
  const h = location.hash || '#/';
  const m = h.match(/^#\/job\/(.+)$/);
  if (m) { show('job-view'); loadJob(decodeURIComponent(m[1]), false); return; }
  state.job = null;
  if (h === '#/ces') { show('ces-view'); loadCes(); return; }
  show('jobs-view');
  loadOverview().catch((e) => { $('table-info').textContent = e.message; });
  loadJobs();
}

function init() {
  const st = $('f-status');
  for (const s of STATUSES) st.append(el('option', { value: s }, s));
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('filters').addEventListener('submit', applyFilters);
  $('prev').addEventListener('click', () => pageBy(-1));
  $('next').addEventListener('click', () => pageBy(1));
  $('bulk-cancel').addEventListener('click', () => bulk('cancel'));
  $('bulk-terminate').addEventListener('click', () => bulk('terminate'));
  window.addEventListener('hashchange', route);
  api('session').then(loggedIn).catch(() => showLogin());
}

init();
