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
  seq: null, es: null, pollTimer: null, refreshTimer: null, // seq: the last change the page has (null: none yet)
  job: null, logStream: null, logToken: null, logTimer: null,
};
// what the browser test reads: how often the table was loaded, how many live events arrived, how
// many polls were answered
window.bargeDash = { loads: 0, events: 0, mode: 'off', chartLoads: 0, polls: 0 };
const VIEWS = ['login-view', 'jobs-view', 'job-view', 'ces-view', 'usage-view', 'shares-view'];
const SVG = 'http://www.w3.org/2000/svg';

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
  let r;
  try {
    r = await fetch('/dashboard/api/' + path, o);
  } catch (e) { // no answer at all: the browser's own words ("Failed to fetch") say nothing
    throw new Error('Cannot reach the Barge API at ' + location.host + ': is `barge api` running? (' + e.message + ')');
  }
  let j = {};
  try { j = await r.json(); } catch (e) { /* not JSON */ }
  if (r.status === 401 && path !== 'login') { showLogin(); throw new Error('not logged in'); }
  if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
  return j;
}

function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
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
  // The stream starts at the changes of its own opening (docs/dashboard.md, "The live stream"):
  // one the view applied after the page's last load and before that moment is in neither, and no
  // later change may ever bring it (jobs that wait RUNNABLE). So what is shown loads again now.
  es.onopen = () => { setLive('sse', 'live'); reloadShown(); };
  es.addEventListener('job', (e) => onChange(JSON.parse(e.data)));
  es.addEventListener('reset', () => refreshSoon(true));
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) { state.es = null; startPolling(); }
    else setLive('off', 'reconnecting');
  };
}

// Polls from the last change the page has (the last one it saw, or the position of its first
// load), so only changes newer than what it shows come in. A page that has none yet (a job's page
// opened first) takes the current position and loads what it shows again, as a stream that opens.
function startPolling() {
  setLive('poll', 'polling');
  const answered = () => {
    window.bargeDash.polls++;
    if (window.bargeDash.mode !== 'poll') setLive('poll', 'polling'); // back after a failed poll
  };
  const tick = async () => {
    try {
      if (state.seq === null) {
        const now = await api('changes?since=' + Number.MAX_SAFE_INTEGER); // no events: the position
        if (state.seq === null) { state.seq = now.seq; reloadShown(); }
        answered();
        return;
      }
      const r = await api('changes?since=' + state.seq);
      if (r.reset) refreshSoon(true);
      r.events.forEach(onChange);
      state.seq = r.seq;
      answered();
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
  state.seq = Math.max(state.seq || 0, ev.seq);
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

// The page shown, loaded again: the counts and the table, or the job's page.
function reloadShown() {
  if (!$('jobs-view').hidden) {
    loadOverview().catch((e) => { $('table-info').textContent = e.message; });
    loadJobs();
  } else if (state.job && !$('job-view').hidden) {
    loadJob(state.job, true);
  }
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
  if (state.seq === null) state.seq = o.seq; // the first load's position: polling starts there
  const head = el('tr', {}, el('th', {}, 'Queue'), el('th', {}, 'State'));
  for (const s of o.statuses) head.append(el('th', {}, s));
  head.append(el('th', {}, 'Total'));
  $('overview').tHead.replaceChildren(head);
  const rows = o.queues.map((q) => {
    const tr = el('tr', { dataset: { queue: q.name } }, el('td', {}, q.name), el('td', {}, (q.state || '') + ' ' + (q.status || '')));
    for (const s of o.statuses) {
      tr.append(el('td', { class: 'num', dataset: { status: s } },
        el('button', { class: 'count', type: 'button', 'aria-label': q.counts[s] + ' ' + s + ' jobs in ' + q.name + ': show them',
          onclick: () => setFilter({ queue: q.name, status: s }) }, q.counts[s])));
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
  // the name is a link, so that the keyboard (Tab, Enter) opens the page too; a click anywhere on
  // the row does the same for the mouse
  name[0] = el('a', { href: '#/job/' + j.id }, j.name);
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
// A modal dialog: the focus moves into it (on No, the safe answer), Escape answers No, Tab stays
// within it, and the focus goes back where it was when it closes.
function confirmBox(text, sample, canGo) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    $('confirm-text').textContent = text;
    $('confirm-sample').replaceChildren(...(sample || []).map((j) => el('li', {}, j.name + ' ' + j.id + ' ' + j.status)));
    $('confirm-yes').hidden = !canGo;
    $('confirm-no').textContent = canGo ? 'No' : 'OK';
    $('confirm').hidden = false;
    const keys = (e) => {
      if (e.key === 'Escape') { e.preventDefault(); done(false); return; }
      if (e.key !== 'Tab') return;
      const f = [$('confirm-yes'), $('confirm-no')].filter((b) => !b.hidden);
      const i = f.indexOf(document.activeElement);
      e.preventDefault();
      f[(i + (e.shiftKey ? f.length - 1 : 1)) % f.length].focus();
    };
    const done = (v) => {
      $('confirm').hidden = true;
      $('confirm-yes').onclick = null;
      $('confirm-no').onclick = null;
      $('confirm').removeEventListener('keydown', keys);
      if (back && back.isConnected) back.focus();
      resolve(v);
    };
    $('confirm-yes').onclick = () => done(true);
    $('confirm-no').onclick = () => done(false);
    $('confirm').addEventListener('keydown', keys);
    $('confirm-no').focus();
  });
}

async function bulk(action) {
  const f = state.filter;
  const body = { action, queue: f.queue, status: f.status, q: f.q };
  try {
    const dry = await api('bulk', { method: 'POST', body: { ...body, confirm: false } });
    const what = action === 'cancel' ? 'Cancel' : 'Terminate';
    if (!dry.count) { await confirmBox('No job of this filter can be ' + (action === 'cancel' ? 'cancelled' : 'terminated') + '.', [], false); return; }
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
    // nothing of the job shown before may stay: its Cancel / Terminate buttons would act on it
    state.job = id;
    state.logStream = null;
    $('job-title').textContent = 'Loading ' + id + '…';
    $('job-actions').replaceChildren();
    $('job-fields').replaceChildren();
    $('job-children').replaceChildren();
    $('attempts').tBodies[0].replaceChildren();
    $('log').textContent = '';
    $('log-stream').textContent = '';
    $('timeline').tBodies[0].replaceChildren();
    $('timeline-info').textContent = '';
  }
  let r;
  try {
    r = await api('job?id=' + encodeURIComponent(id));
  } catch (e) {
    if (state.job !== id) return;
    $('job-title').textContent = e.message;
    return;
  }
  if (state.job !== id) return; // another job's page was opened meanwhile
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
  loadTimeline(j.jobId);
}

// The job's `barge explain` timeline, rebuilt from the log by the API (GET explain).
async function loadTimeline(id) {
  let t;
  try {
    t = await api('explain?id=' + encodeURIComponent(id));
  } catch (e) {
    $('timeline-info').textContent = 'No timeline: ' + e.message;
    return;
  }
  if (state.job !== id) return;
  const rows = (t.timeline || []).map((e) => el('tr', { dataset: { kind: e.kind || '', source: e.source || '' } },
    el('td', {}, when(e.at)), el('td', {}, e.source || ''), el('td', {}, e.kind || ''), el('td', { class: 'text' }, e.text || '')));
  $('timeline').tBodies[0].replaceChildren(...rows);
  $('timeline-info').textContent = rows.length + ' entries' + (t.computeEnvironments && t.computeEnvironments.length
    ? '; compute environments of its queue: ' + t.computeEnvironments.join(', ') : '');
}

// An array's children by index, 100 a page (GET children): "Show more" appends the next page.
function renderChildren(j, children) {
  const box = $('job-children');
  if (!children) { box.replaceChildren(); return; }
  const counts = STATUSES.filter((s) => children.counts[s]).map((s) => s + ' ' + children.counts[s]).join(', ');
  const body = el('tbody', {});
  const more = el('button', { id: 'children-more', type: 'button', hidden: '' });
  box.replaceChildren(el('h3', {}, 'Array children (' + children.total + ')'), el('p', { id: 'children-counts' }, counts),
    el('table', { id: 'children', class: 'grid' }, body), more);
  const page = (offset) => api('children?id=' + encodeURIComponent(j.jobId) + '&offset=' + offset).then((r) => {
    body.append(...r.children.map((c) => el('tr',
      { onclick: () => { location.hash = '#/job/' + c.id; } }, el('td', {}, el('a', { href: '#/job/' + c.id }, c.index)),
      el('td', {}, el('code', {}, c.id)), el('td', {}, statusTag(c.status)))));
    const shown = body.rows.length;
    more.hidden = !r.children.length || shown >= r.total;
    more.textContent = 'Show more (' + shown + ' of ' + r.total + ' shown)';
    more.onclick = () => page(shown);
  }).catch((e) => { box.append(el('p', { class: 'error' }, e.message)); });
  page(0);
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
  window.bargeDash.chartLoads++;
  const ces = r.computeEnvironments || [];
  $('ces').tBodies[0].replaceChildren(...ces.map((c) => {
    const cr = c.computeResources || {};
    const inst = c.instances || [];
    return el('tr', { dataset: { ce: c.computeEnvironmentName } }, el('td', {}, c.computeEnvironmentName), el('td', {}, c.type),
      el('td', {}, c.state), el('td', {}, c.status),
      el('td', { class: 'num' }, c.type === 'MANAGED' ? (cr.minvCpus ?? '') + ' / ' + (cr.desiredvCpus ?? '') + ' / ' + (cr.maxvCpus ?? '') : ''),
      el('td', { class: 'num' }, inst.length), el('td', {}, c.statusReason || ''));
  }));
  $('ce-charts').replaceChildren(...ces.filter((c) => c.history && (c.type === 'MANAGED' || c.history.actual.length))
    .map((c) => el('div', {}, el('h4', {}, c.computeEnvironmentName), chart(c, r.window))));
  const rows = [];
  for (const c of ces) {
    for (const i of c.instances || []) {
      rows.push(el('tr', { dataset: { ce: c.computeEnvironmentName, instance: i.instanceId } }, el('td', {}, c.computeEnvironmentName),
        el('td', {}, el('code', {}, i.instanceId)), el('td', {}, i.instanceType), el('td', {}, i.state),
        el('td', { class: 'num' }, i.vcpus), el('td', { class: 'num' }, i.memoryMib)));
    }
  }
  $('ce-instances').tBodies[0].replaceChildren(...rows);
  clearTimeout(state.cesTimer);
  state.cesTimer = setTimeout(() => { if (!$('ces-view').hidden) loadCes(); }, 3000);
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

// Desired and actual vCPUs of one CE as step lines over the window (plain SVG): a point where
// each figure changed, the last figure carried on to now.
function chart(c, win) {
  const W = 640, H = 170, L = 40, R = 10, T = 10, B = 24;
  const h = c.history, all = h.desired.concat(h.actual);
  const max = Math.max(1, (c.computeResources || {}).maxvCpus || 0, ...all.map((p) => p[1]));
  const first = all.length ? Math.min(...all.map((p) => p[0])) : win.from;
  const x0 = Math.max(win.from, first - 1000), x1 = Math.max(win.to, x0 + 1000);
  const X = (t) => L + (Math.max(t, x0) - x0) * (W - L - R) / (x1 - x0);
  const Y = (v) => H - B - v * (H - T - B) / max;
  const g = svg('svg', { class: 'chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img',
    'data-ce': c.computeEnvironmentName, 'data-points': all.length,
    'aria-label': 'desired and actual vCPUs of ' + c.computeEnvironmentName });
  g.append(svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }), svg('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
  g.append(svg('text', { x: 4, y: Y(max) + 4 }, String(max)), svg('text', { x: 4, y: H - B + 4 }, '0'));
  g.append(svg('text', { x: L, y: H - 6 }, new Date(x0).toLocaleTimeString()),
    svg('text', { x: W - R - 60, y: H - 6 }, new Date(x1).toLocaleTimeString()));
  for (const [name, pts] of [['desired', h.desired], ['actual', h.actual]]) {
    if (!pts.length) continue;
    let d = 'M' + X(pts[0][0]) + ',' + Y(pts[0][1]);
    for (let i = 1; i < pts.length; i++) d += 'H' + X(pts[i][0]) + 'V' + Y(pts[i][1]);
    d += 'H' + X(x1);
    g.append(svg('path', { class: name, d }));
    for (const p of pts) {
      g.append(svg('circle', { class: name, cx: X(p[0]), cy: Y(p[1]), r: 3, 'data-at': p[0], 'data-v': p[1] },
        svg('title', {}, name + ' ' + p[1] + ' vCPUs at ' + new Date(p[0]).toLocaleTimeString())));
    }
  }
  return g;
}

// ------------------------------------------------------------------------------- usage --
const USAGE_COLS = [['vcpuSeconds', 'vCPU-s'], ['memoryGibSeconds', 'GiB-s'], ['gpuSeconds', 'GPU-s'],
  ['instanceSeconds', 'instance-s'], ['cost', 'cost']];

function usageCells(r) {
  return USAGE_COLS.map(([k]) => el('td', { class: 'num', dataset: { k } }, r[k] === undefined ? '' : (k === 'cost' ? r[k].toFixed(4) : r[k].toFixed(1))));
}

async function loadUsage(ev) {
  if (ev) ev.preventDefault();
  const p = new URLSearchParams({ by: $('u-by').value });
  if ($('u-since').value.trim()) p.set('since', $('u-since').value.trim());
  $('usage-info').textContent = 'reading the events…';
  let r;
  try { r = await api('usage?' + p.toString()); } catch (e) { $('usage-info').textContent = e.message; return; }
  const key = { job: 'jobId', queue: 'jobQueue', share: 'shareIdentifier', ce: 'computeEnvironment' }[r.by];
  const head = el('tr', {}, el('th', {}, key), el('th', {}, r.by === 'job' ? 'queue' : 'jobs'), ...USAGE_COLS.map(([, t]) => el('th', {}, t)));
  $('usage').tHead.replaceChildren(head);
  $('usage').tBodies[0].replaceChildren(...r.rows.map((row) => el('tr', { dataset: { key: row[key] } },
    el('td', {}, row[key] || '(none)'), el('td', { class: 'num' }, r.by === 'job' ? row.jobQueue : row.jobs), ...usageCells(row))));
  $('usage').tFoot.replaceChildren(el('tr', { dataset: { key: 'TOTAL' } }, el('th', {}, 'TOTAL'), el('td', { class: 'num' }, r.total.jobs), ...usageCells(r.total)));
  $('usage-info').textContent = 'usage by ' + r.by + ', ' + (r.since ? 'from ' + when(r.since) : 'from the beginning') +
    ' to ' + when(r.until) + ' (what `barge usage --by ' + r.by + '` prints)';
}

// -------------------------------------------------------------------------- fair share --
async function loadShares() {
  let r, u = { rows: [] };
  try {
    [r, u] = await Promise.all([api('shares'), api('usage?by=share').catch(() => ({ rows: [] }))]);
  } catch (e) { $('shares').replaceChildren(el('p', { class: 'error' }, e.message)); return; }
  const used = Object.fromEntries(u.rows.map((x) => [x.shareIdentifier, x.vcpuSeconds]));
  if (!r.queues.length) { $('shares').replaceChildren(el('p', {}, 'No queue has a scheduling policy.')); return; }
  $('shares').replaceChildren(...r.queues.map((q) => {
    const fp = q.fairsharePolicy || {};
    return el('div', { dataset: { queue: q.jobQueue } }, el('h3', {}, q.jobQueue + ' (policy ' + (q.schedulingPolicy || '?') + ')'),
      el('p', { class: 'info' }, 'shareDecaySeconds ' + (fp.shareDecaySeconds ?? 0) + ', computeReservation ' + (fp.computeReservation ?? 0)),
      el('table', { class: 'grid' }, el('thead', {}, el('tr', {}, ...['Share', 'Weight', 'RUNNABLE', 'RUNNING', 'Other unfinished',
        'vCPUs held', 'Weight × vCPUs', 'vCPU-s accounted'].map((t) => el('th', {}, t)))),
      el('tbody', {}, ...q.shares.map((s) => {
        const c = s.counts, other = ['SUBMITTED', 'PENDING', 'STARTING'].reduce((a, k) => a + (c[k] || 0), 0);
        return el('tr', { dataset: { share: s.shareIdentifier } }, el('td', {}, s.shareIdentifier || '(none)'),
          el('td', { class: 'num' }, s.weightFactor), el('td', { class: 'num' }, c.RUNNABLE || 0), el('td', { class: 'num' }, c.RUNNING || 0),
          el('td', { class: 'num' }, other), el('td', { class: 'num' }, s.vcpus), el('td', { class: 'num' }, s.weightedUsage),
          el('td', { class: 'num' }, used[s.shareIdentifier] !== undefined ? used[s.shareIdentifier].toFixed(1) : ''));
      }))));
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
  if (h === '#/usage') { show('usage-view'); loadUsage(); return; }
  if (h === '#/shares') { show('shares-view'); loadShares(); return; }
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
  $('usage-form').addEventListener('submit', loadUsage);
  window.addEventListener('hashchange', route);
  api('session').then(loggedIn).catch(() => showLogin());
}

init();
