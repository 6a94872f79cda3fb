// The dashboard of `palantir serve`: plain JavaScript, no library, nothing
// loaded from other hosts. It reads the JSON API (docs/api.md) and the
// telemetry stream, buffers incoming events and applies them in one
// requestAnimationFrame pass, and keeps every list bounded.
'use strict';

(() => {
  // ---- limits ---------------------------------------------------------
  const MAX_MISSIONS = 200;      // rows in the missions table
  const STALE_PER_POLL = 20;     // unfinished rows outside the newest 100 refreshed by id per poll
  const MAX_GONE = 5000;         // ids of evicted finished rows, so late events do not bring them back
  const MAX_PENDING = 8000;      // events waiting for the next frame
  const MAX_DOTS = 60;           // concurrent animations
  const TABLE_EVERY_MS = 150;    // least time between two drawings of the missions table
  const MAX_WORKERS = 36;        // worker boxes
  const CHART_POINTS = 120;      // one point a second: two minutes
  const STALE_AFTER_MS = 3000;   // a worker without heartbeat for longer greys out
  const STREAM_SILENCE_MS = 45000; // pings come every 15 s
  const TOKEN_KEY = 'palantir.token';
  const FINISHED = new Set(['SUCCESS', 'FAILURE']);
  const STATES = ['PENDING', 'QUEUED', 'STARTED', 'PROCESSING', 'RETRY', 'SUCCESS', 'FAILURE'];
  const SVGNS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);

  // ---- DOM helpers: text only, never HTML ---------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function sv(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function setText(e, s) {
    s = s == null ? '' : String(s);
    if (e.textContent !== s) e.textContent = s;
  }
  function setData(e, k, v) {
    v = v == null ? '' : String(v);
    if (e.dataset[k] !== v) e.dataset[k] = v;
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

  // ---- token --------------------------------------------------------------
  let token = '';
  try { token = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (_) { /* storage off */ }
  {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      token = decodeURIComponent(m[1]);
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch (_) { /* storage off */ }
      history.replaceState(null, '', location.pathname + location.search);
    }
  }
  let tokenWaiters = [];
  let needToken = false;
  function showTokenForm() {
    const f = $('token-form');
    if (f.hidden) {
      f.hidden = false;
      $('token-input').focus();
    }
  }
  let tokenPromise = null;
  function tokenArrived() { // one promise however often it is awaited
    if (!tokenPromise) tokenPromise = new Promise((r) => tokenWaiters.push(r));
    return tokenPromise;
  }
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token-input').value.trim();
    $('token-input').value = '';
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (_) { /* storage off */ }
    $('token-form').hidden = true;
    needToken = false;
    const w = tokenWaiters;
    tokenWaiters = [];
    tokenPromise = null;
    for (const r of w) r();
    streamAbort(); // reconnect with the new token at once
    refreshAll();
  });

  class HTTPError extends Error {
    constructor(status, msg) { super(msg); this.status = status; }
  }

  function authHeaders(extra) {
    const h = Object.assign({ Accept: 'application/json' }, extra || {});
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }

  // api fetches a /api path; the JSON answer, or an HTTPError whose message
  // is the server's {"error": …}.
  async function api(path, opts = {}) {
    const init = { method: opts.method || 'GET', headers: authHeaders(), cache: 'no-store', credentials: 'same-origin' };
    if (opts.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new HTTPError(0, 'network error: ' + (e && e.message ? e.message : e));
    }
    if (res.status === 401) {
      needToken = true; // the pollers wait for the form
      showTokenForm();
    }
    const text = await res.text();
    let body = null;
    if (text) {
      try { body = JSON.parse(text); } catch (_) { body = null; }
    }
    if (!res.ok) {
      // the server's own words when it gave them; the status otherwise
      const msg = body && typeof body.error === 'string' ? body.error
        : `${res.status} ${res.statusText}${text.trim() ? ': ' + text.trim().slice(0, 300) : ''}`;
      throw new HTTPError(res.status, msg);
    }
    return body;
  }

  // ---- state ----------------------------------------------------------------
  const state = {
    info: null,
    skewMs: 0,              // server clock minus ours
    queue: null,            // the queue row of /api/status
    counts: {},             // states summed over type rows
    missions: new Map(),    // id -> mission record (insertion order irrelevant)
    gone: new Set(),        // ids of finished rows evicted from the table (rememberGone)
    rows: new Map(),        // id -> <tr>
    dirty: new Set(),       // ids whose row needs drawing
    orderDirty: false,
    workers: new Map(),     // name -> worker record
    workersChanged: true,
    selected: null,         // mission id whose timeline is open
    eventsTotal: 0,
    persistedThisSecond: 0,
    lastLeaderTop: '',
    dlqCount: null,
  };
  const serverNow = () => Date.now() + state.skewMs;
  const parseTime = (s) => { if (!s) return 0; const t = Date.parse(s); return Number.isFinite(t) ? t : 0; };

  // ---- header ---------------------------------------------------------------
  function renderInfo() {
    const i = state.info;
    if (!i) return;
    setText($('deploy-backend'), i.backend || '?');
    setText($('deploy-queue'), i.queue || '?');
    const st = i.store || {};
    setText($('deploy-store'), `${st.driver || '?'}${st.location ? ' · ' + st.location : ''}`);
    setText($('deploy-version'), i.version || '?');
    document.title = `palantir · ${i.backend || ''} ${i.queue || ''}`.trim();
  }

  function renderCounts() {
    const ul = $('counts');
    let total = 0;
    for (const s of STATES) total += state.counts[s] || 0;
    const want = STATES.concat(['TOTAL']);
    if (ul.children.length !== want.length) {
      ul.replaceChildren(...want.map((s) => el('li', { 'data-state': s, class: 'st-' + s.toLowerCase() },
        el('span', { class: 'k' }, s.toLowerCase()), el('span', { class: 'v' }, '0'))));
    }
    want.forEach((s, i) => {
      const v = s === 'TOTAL' ? total : (state.counts[s] || 0);
      const li = ul.children[i];
      setData(li, 'count', v);
      setText(li.lastChild, v);
    });
  }

  // ---- connection indicator -------------------------------------------------
  function setConnection(s, text) {
    const c = $('connection');
    setData(c, 'state', s);
    setText($('connection-text'), text || s);
  }

  // ---- missions -------------------------------------------------------------
  function newMission(id, at) {
    return {
      id, type: '', hero: '', status: 'PENDING', progress: 0, stage: '', attempt: 0, max_attempts: 0,
      worker: '', score: 0, error: '', created: at || serverNow(), finishedAt: 0,
      lastEvent: 0, // performance.now() of the last event applied
    };
  }

  function getMission(id, at) {
    let m = state.missions.get(id);
    if (!m) {
      m = newMission(id, at);
      state.missions.set(id, m);
      state.orderDirty = true;
    }
    return m;
  }

  // mergeMission applies a mission object from the API. REST is authoritative,
  // except for the live fields of a mission an event changed after the
  // request was sent.
  function mergeMission(o, sentAt) {
    if (!o || typeof o.id !== 'string') return;
    const m = getMission(o.id, parseTime(o.created_at));
    if (o.created_at) m.created = parseTime(o.created_at) || m.created;
    m.type = o.type || m.type;
    m.hero = o.hero || m.hero;
    if (o.max_attempts) m.max_attempts = o.max_attempts;
    if (!(m.lastEvent > sentAt)) {
      m.status = o.status || m.status;
      m.progress = clamp(Math.round(Number(o.progress) || 0), 0, 100);
      m.stage = o.stage || '';
      m.attempt = o.attempt || 0;
      m.worker = o.worker || '';
      m.score = o.score || 0;
      m.error = o.error || '';
      m.finishedAt = parseTime(o.finished_at);
    }
    state.dirty.add(m.id);
  }

  function evictMissions() {
    const ms = state.missions;
    if (ms.size <= MAX_MISSIONS) return;
    const all = [...ms.values()].filter((m) => m.id !== state.selected);
    const finished = all.filter((m) => FINISHED.has(m.status)).sort((a, b) => (a.finishedAt || a.created) - (b.finishedAt || b.created));
    const live = all.filter((m) => !FINISHED.has(m.status)).sort((a, b) => a.created - b.created);
    const victims = finished.concat(live);
    let i = 0;
    while (ms.size > MAX_MISSIONS && i < victims.length) {
      const m = victims[i++];
      if (FINISHED.has(m.status)) rememberGone(m.id);
      forgetMission(m.id);
    }
  }

  function forgetMission(id) {
    state.missions.delete(id);
    state.dirty.delete(id);
    const tr = state.rows.get(id);
    if (tr) { tr.remove(); state.rows.delete(id); }
  }

  // rememberGone keeps the ids of finished rows that were evicted, oldest
  // out first: the stream is in store order, and an event of a mission
  // can come after its end.
  function rememberGone(id) {
    state.gone.add(id);
    if (state.gone.size > MAX_GONE) state.gone.delete(state.gone.values().next().value);
  }

  function makeRow(m) {
    const tr = el('tr', { 'data-mission-id': m.id, tabindex: '0' });
    const fill = el('div', { class: 'fill' });
    const label = el('span', { class: 'stage' });
    const pct = el('span', { class: 'pct' });
    tr.append(
      el('td', { class: 'id' }, m.id),
      el('td', { class: 'type' }),
      el('td', { class: 'hero' }),
      el('td', { class: 'status' }, el('span', { class: 'badge' })),
      el('td', { class: 'progress' }, el('div', { class: 'bar' }, fill, pct), label),
      el('td', { class: 'attempt' }),
      el('td', { class: 'worker' }),
      el('td', { class: 'outcome' }),
      el('td', { class: 'score' }),
    );
    tr._c = { type: tr.children[1], hero: tr.children[2], badge: tr.children[3].firstChild, fill, pct, label,
      attempt: tr.children[5], worker: tr.children[6], outcome: tr.children[7], score: tr.children[8] };
    return tr;
  }

  function drawRow(m) {
    let tr = state.rows.get(m.id);
    if (!tr) {
      tr = makeRow(m);
      state.rows.set(m.id, tr);
      state.orderDirty = true;
    }
    const c = tr._c;
    const status = m.status || 'PENDING';
    const rank = rankOf(status);
    if (tr._rank !== rank) { tr._rank = rank; state.orderDirty = true; }
    const p = clamp(Math.round(m.progress || 0), 0, 100);
    setData(tr, 'status', status);
    setData(tr, 'progress', p);
    setData(tr, 'worker', m.worker || '');
    tr.classList.toggle('finished', FINISHED.has(status));
    tr.classList.toggle('selected', m.id === state.selected);
    setText(c.type, m.type || '…');
    setText(c.hero, m.hero || '…');
    setText(c.badge, status);
    c.badge.className = 'badge st-' + status.toLowerCase();
    const w = p + '%';
    if (c.fill.style.width !== w) c.fill.style.width = w;
    setText(c.pct, w);
    setText(c.label, m.stage || (status === 'QUEUED' ? 'waiting in the queue' : ''));
    setText(c.attempt, m.attempt ? `${m.attempt}/${m.max_attempts || '?'}` : `–/${m.max_attempts || '?'}`);
    setText(c.worker, m.worker || '–');
    setText(c.outcome, FINISHED.has(status) ? status : '');
    c.outcome.className = 'outcome ' + (status === 'SUCCESS' ? 'ok' : status === 'FAILURE' ? 'bad' : '');
    c.outcome.title = m.error || '';
    setText(c.score, FINISHED.has(status) ? String(m.score || 0) : '');
  }

  // The table shows missions being worked on first, then those waiting in
  // the queue, newest first, then the finished ones, last finished first.
  function rankOf(status) {
    if (FINISHED.has(status)) return 2;
    if (status === 'QUEUED' || status === 'PENDING') return 1;
    return 0;
  }
  function byDisplayOrder(a, b) {
    const ra = rankOf(a.status), rb = rankOf(b.status);
    if (ra !== rb) return ra - rb;
    if (ra === 2 && (b.finishedAt || b.created) !== (a.finishedAt || a.created)) return (b.finishedAt || b.created) - (a.finishedAt || a.created);
    return b.created - a.created || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
  }

  function renderMissions() {
    evictMissions();
    for (const id of state.dirty) {
      const m = state.missions.get(id);
      if (m) drawRow(m);
    }
    state.dirty.clear();
    if (state.orderDirty) {
      state.orderDirty = false;
      const order = [...state.missions.values()].sort(byDisplayOrder);
      const tbody = $('missions');
      let cur = tbody.firstChild;
      for (const m of order) {
        const tr = state.rows.get(m.id);
        if (!tr) continue;
        if (tr === cur) cur = cur.nextSibling;
        else tbody.insertBefore(tr, cur);
      }
    }
    let live = 0;
    for (const m of state.missions.values()) if (!FINISHED.has(m.status)) live++;
    setText($('missions-sub'), `${live} in flight · ${state.missions.size - live} finished shown`);
  }

  $('missions').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-mission-id]');
    if (tr) openTimeline(tr.dataset.missionId);
  });
  $('missions').addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter' && ev.key !== ' ') return;
    const tr = ev.target.closest('tr[data-mission-id]');
    if (tr) { ev.preventDefault(); openTimeline(tr.dataset.missionId); }
  });

  // ---- events ---------------------------------------------------------------
  let pending = [];
  let frameQueued = false;
  let lastTable = 0;
  let droppedWhileAway = false;

  function enqueue(ev) {
    if (!ev || typeof ev !== 'object') return;
    if (pending.length >= MAX_PENDING) {
      // Nobody is drawing (a hidden tab): drop the backlog, reload once back.
      pending = [];
      droppedWhileAway = true;
    }
    pending.push(ev);
    requestFrame();
  }

  function requestFrame() {
    if (!frameQueued) {
      frameQueued = true;
      requestAnimationFrame(frame);
    }
  }

  const kick = { leaderboard: null, dlq: null, timeline: null }; // set below

  function frame(now) {
    frameQueued = false;
    if (droppedWhileAway) {
      droppedWhileAway = false;
      refreshAll();
    }
    const batch = pending;
    pending = [];
    // the events of one batch of the stream are spread over the batch's
    // own time span (at most 400 ms), so that their dots do not all start
    // at once
    let base = Infinity;
    for (const ev of batch) { const t = parseTime(ev.at); if (t && t < base) base = t; }
    for (const ev of batch) applyEvent(ev, base);
    state.eventsTotal += batch.length;
    if (batch.length) setData(document.body, 'events', state.eventsTotal);
    // the table is drawn a few times a second at most, the dots every frame
    let tableLater = false;
    if (state.dirty.size || state.orderDirty || state.missions.size > MAX_MISSIONS) {
      if (now - lastTable >= TABLE_EVERY_MS || state.missions.size > 2 * MAX_MISSIONS) {
        lastTable = now;
        renderMissions();
      } else tableLater = true;
    }
    if (state.workersChanged) layoutArchitecture();
    stepDots(now);
    if (pending.length || dots.active.length || tableLater) requestFrame();
  }

  const pctRe = /^\s*(\d{1,3})%\s*(.*)$/;

  // sameTimeAsRun says a mission_queued event at at is stamped in the very
  // millisecond of m's start (a launch and an embedded worker in one
  // process): the queue came first, so it is not news.
  function sameTimeAsRun(m, at) {
    return (m.status === 'STARTED' || m.status === 'PROCESSING') && at === (m.statusAt || 0);
  }

  function applyEvent(ev, base) {
    const id = typeof ev.mission_id === 'string' ? ev.mission_id : '';
    const svc = typeof ev.service === 'string' ? ev.service : '';
    const detail = typeof ev.detail === 'string' ? ev.detail : '';
    const name = ev.event;
    const attempt = Number(ev.attempt) || 0;
    const workerName = svc.startsWith('worker:') ? svc.slice(7) : '';
    if (workerName) touchWorker(workerName);
    const at = parseTime(ev.at) || serverNow();

    let m = id ? state.missions.get(id) : null;
    const known = !!m;
    if (id && !m && !state.gone.has(id) && name !== 'hero_scored' && name !== 'mission_dead_lettered' && name !== 'mission_persisted') {
      m = getMission(id, at);
    }
    const lastWorker = m ? m.worker : '';
    if (m) {
      const finished = FINISHED.has(m.status);
      const replay = name === 'mission_queued' && /^replayed/.test(detail);
      // The stream is in store order, not time order (processes store their
      // events in batches): an event older than the one that last set the
      // status must not set it back, e.g. a launch's mission_queued stored
      // after the worker's mission_started.
      const older = at < (m.statusAt || 0);
      m.lastEvent = performance.now();
      switch (name) {
        case 'mission_invoked': {
          const mm = /^(\S+) for (.*)$/.exec(detail);
          if (mm) { m.type = m.type || mm[1]; m.hero = m.hero || mm[2]; }
          if (!known) m.status = 'PENDING';
          break;
        }
        case 'mission_queued':
          if (replay) {
            m.status = 'QUEUED'; m.progress = 0; m.stage = ''; m.attempt = attempt || 1; m.score = 0; m.error = '';
            m.finishedAt = 0; m.statusAt = at;
          } else if (!finished && !older && !sameTimeAsRun(m, at)) {
            m.status = 'QUEUED'; m.stage = ''; m.progress = 0; m.statusAt = at;
            if (attempt) m.attempt = attempt;
          }
          break;
        case 'mission_started':
          if (!finished && !older) {
            m.status = 'STARTED'; m.progress = 0; m.stage = detail === 'redelivered' ? 'redelivered' : '';
            m.statusAt = at;
            if (attempt) m.attempt = attempt;
            if (workerName) m.worker = workerName;
          }
          break;
        case 'mission_progress':
          if (!finished && !older) {
            m.statusAt = at;
            const pm = pctRe.exec(detail);
            m.status = 'PROCESSING';
            if (pm) { m.progress = clamp(parseInt(pm[1], 10), 0, 100); m.stage = pm[2]; }
            if (attempt) m.attempt = Math.max(m.attempt, attempt);
            if (workerName) m.worker = workerName;
          }
          break;
        case 'mission_retry':
          if (!finished && !older) { m.status = 'RETRY'; m.statusAt = at; m.error = detail; if (workerName) m.worker = workerName; }
          break;
        case 'mission_completed':
          m.status = 'SUCCESS'; m.progress = 100; m.finishedAt = at;
          if (workerName) m.worker = workerName;
          if (attempt) m.attempt = attempt;
          break;
        case 'mission_failed':
          m.status = 'FAILURE'; m.error = detail || m.error; m.finishedAt = at;
          if (workerName) m.worker = workerName;
          if (attempt) m.attempt = attempt;
          break;
        case 'mission_persisted':
          if (detail === 'SUCCESS' || detail === 'FAILURE') {
            m.status = detail; m.finishedAt = m.finishedAt || at;
            if (detail === 'SUCCESS') m.progress = 100;
          }
          break;
        case 'hero_scored': {
          const sm = /\+(\d+)\s*$/.exec(detail);
          if (sm) m.score = parseInt(sm[1], 10);
          break;
        }
        case 'mission_dead_lettered':
          m.status = 'FAILURE'; m.finishedAt = m.finishedAt || at;
          if (detail) m.error = detail;
          break;
      }
      state.dirty.add(m.id);
    }

    if (name === 'mission_persisted') state.persistedThisSecond++;
    if (name === 'hero_scored') kick.leaderboard();
    if (name === 'mission_dead_lettered' || (name === 'mission_queued' && /^replayed/.test(detail))) kick.dlq();
    if (id && id === state.selected) kick.timeline();

    const delay = Number.isFinite(base) && parseTime(ev.at) ? clamp(at - base, 0, 400) : 0;
    animateEvent(name, svc, detail, workerName || lastWorker, delay);
  }

  // ---- workers --------------------------------------------------------------
  function touchWorker(name) {
    let w = state.workers.get(name);
    if (!w) {
      w = { name, live: false, heartbeat: 0, seen: 0, processed: null, current: [], host: '', pid: 0, embedded: false, stale: false };
      state.workers.set(name, w);
      state.workersChanged = true;
      capWorkers();
    }
    w.seen = serverNow();
    return w;
  }

  function capWorkers() {
    if (state.workers.size <= MAX_WORKERS) return;
    const ws = [...state.workers.values()].sort((a, b) => (a.live - b.live) || (Math.max(a.heartbeat, a.seen) - Math.max(b.heartbeat, b.seen)));
    while (state.workers.size > MAX_WORKERS && ws.length) state.workers.delete(ws.shift().name);
    state.workersChanged = true;
  }

  function workerAge(w) {
    const last = Math.max(w.heartbeat || 0, w.live ? 0 : w.seen || 0);
    if (!last) return Infinity;
    return serverNow() - last;
  }

  function updateStale() {
    for (const w of state.workers.values()) {
      let stale;
      if (w.live) stale = serverNow() - w.heartbeat > STALE_AFTER_MS;
      else stale = serverNow() - Math.max(w.seen || 0, w.heartbeat || 0) > STALE_AFTER_MS;
      w.stale = stale;
    }
    renderWorkerBoxes();
  }

  // ---- architecture view ----------------------------------------------------
  const arch = {
    boxes: {},            // key -> {x, y, w, h, g, sub}
    workerBoxes: new Map(),
    layers: null,
  };

  function archInit() {
    const svg = $('architecture');
    const defs = sv('defs', null,
      sv('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '6', markerHeight: '6', orient: 'auto-start-reverse' },
        sv('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' })));
    const edges = sv('g', { class: 'edges' });
    const boxes = sv('g', { class: 'boxes' });
    const dotsLayer = sv('g', { class: 'dots' });
    svg.replaceChildren(defs, edges, boxes, dotsLayer);
    arch.layers = { edges, boxes, dots: dotsLayer };
    svg.dataset.animations = '0';
    svg.dataset.dropped = '0';
    initDots(dotsLayer);
  }

  function box(key, x, y, w, h, title, sub, cls, attrs) {
    const g = sv('g', Object.assign({ class: 'box ' + (cls || ''), id: 'arch-' + key, transform: `translate(${x},${y})` }, attrs || {}));
    const r = sv('rect', { width: w, height: h, rx: 6, ry: 6 });
    // a short box (many workers) has its title and subtitle on one line
    const flat = h < 34;
    const t = sv('text', flat ? { x: 6, y: h / 2 + 4, class: 'title' } : { x: w / 2, y: 18, class: 'title', 'text-anchor': 'middle' }, title);
    const s = sv('text', flat ? { x: w - 6, y: h / 2 + 4, class: 'sub', 'text-anchor': 'end' } : { x: w / 2, y: 33, class: 'sub', 'text-anchor': 'middle' }, sub || '');
    if (flat) g.classList.add('flat');
    const s2 = sv('text', { x: w / 2, y: 47, class: 'sub sub2', 'text-anchor': 'middle' }, '');
    const tip = sv('title', null, title);
    g.append(tip, r, t, s);
    if (h >= 54) g.append(s2);
    const b = { key, x, y, w, h, g, title: t, sub: s, sub2: h >= 54 ? s2 : null, tip };
    arch.boxes[key] = b;
    return b;
  }

  function edge(a, b, cls, bend) {
    const [x1, y1, x2, y2] = anchors(a, b);
    const c = control(x1, y1, x2, y2, bend || 0);
    return sv('path', { d: `M${x1},${y1} Q${c[0]},${c[1]} ${x2},${y2}`, class: 'edge ' + (cls || ''), 'marker-end': 'url(#arrow)' });
  }

  // anchors: from the side of a facing b to the side of b facing a.
  function anchors(a, b) {
    const acx = a.x + a.w / 2, acy = a.y + a.h / 2, bcx = b.x + b.w / 2, bcy = b.y + b.h / 2;
    let x1, y1, x2, y2;
    if (Math.abs(bcx - acx) > Math.abs(bcy - acy) * 0.6 || Math.abs(bcx - acx) > (a.w + b.w) / 2) {
      const dir = bcx > acx ? 1 : -1;
      x1 = acx + dir * a.w / 2; y1 = acy; x2 = bcx - dir * b.w / 2; y2 = bcy;
    } else {
      const dir = bcy > acy ? 1 : -1;
      x1 = acx; y1 = acy + dir * a.h / 2; x2 = bcx; y2 = bcy - dir * b.h / 2;
    }
    return [x1, y1, x2, y2];
  }
  function control(x1, y1, x2, y2, bend) {
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
    const dx = x2 - x1, dy = y2 - y1;
    const len = Math.hypot(dx, dy) || 1;
    return [mx - dy / len * bend, my + dx / len * bend];
  }

  function brokerLabel() {
    const i = state.info || {};
    return 'broker:' + (i.backend || '?');
  }

  function layoutArchitecture() {
    state.workersChanged = false;
    const { edges, boxes } = arch.layers;
    edges.replaceChildren();
    boxes.replaceChildren();
    arch.boxes = {};
    arch.workerBoxes.clear();
    const i = state.info || {};
    const st = i.store || {};
    const api = box('api', 10, 88, 104, 56, 'api/cli', 'launcher', 'launcher');
    const inproc = i.backend === 'inproc';
    const broker = box('broker', 160, 74, 160, 86, brokerLabel(), `queue ${i.queue || '?'}`, 'broker' + (inproc ? ' inproc' : ''));
    broker.sub2.textContent = inproc ? 'in-process queue' : '';
    const s3 = sv('text', { x: 80, y: 64, class: 'sub stats', 'text-anchor': 'middle' }, '');
    const s4 = sv('text', { x: 80, y: 78, class: 'sub stats', 'text-anchor': 'middle' }, '');
    broker.g.append(s3, s4);
    broker.stats = [s3, s4];
    const store = box('store', 600, 16, 140, 56, `store:${st.driver || '?'}`, st.location || '', 'store');
    const lb = box('leaderboard', 760, 16, 92, 56, 'leaderboard', '', 'leaderboard');
    const dlq = box('dlq', 600, 164, 140, 56, 'dead letters', '', 'dlq');
    // workers: a grid in x 370..560, y 6..230
    const names = [...state.workers.keys()].sort();
    const n = names.length;
    const X0 = 364, X1 = 562, Y0 = 6, Y1 = 230;
    let cols = n <= 6 ? 1 : n <= 12 ? 2 : 3;
    const rows = Math.max(1, Math.ceil(n / cols));
    const gap = 5;
    const bw = (X1 - X0 - gap * (cols - 1)) / cols;
    const bh = Math.min(54, (Y1 - Y0 - gap * (rows - 1)) / rows);
    const totalH = rows * bh + (rows - 1) * gap;
    const top = Y0 + (Y1 - Y0 - totalH) / 2;
    if (n === 0) {
      boxes.append(sv('text', { x: (X0 + X1) / 2, y: 120, class: 'empty', 'text-anchor': 'middle' }, 'no live worker'));
    }
    names.forEach((name, k) => {
      const c = Math.floor(k / rows), r = k % rows;
      const x = X0 + c * (bw + gap), y = top + r * (bh + gap);
      const b = box('worker-' + k, x, y, bw, bh, name, '', 'worker', { 'data-worker': name });
      b.g.removeAttribute('id');
      b.g.classList.add('worker');
      b.name = name;
      arch.workerBoxes.set(name, b);
      edges.append(edge(broker, b, 'e-start'));
      edges.append(edge(b, store, 'e-persist'));
      edges.append(edge(b, dlq, 'e-dead faint'));
    });
    edges.prepend(edge(api, broker, 'e-queue'));
    edges.append(edge(store, lb, 'e-score'));
    edges.append(edge(broker, dlq, 'e-dead faint', -70));
    for (const b of Object.values(arch.boxes)) boxes.append(b.g);
    renderArchStats();
    renderWorkerBoxes();
  }

  function renderArchStats() {
    const b = arch.boxes.broker;
    if (!b) return;
    const q = state.queue;
    b.g.classList.toggle('error', !!(q && q.error));
    if (!q) { setText(b.stats[0], ''); setText(b.stats[1], ''); }
    else if (q.error) { setText(b.stats[0], 'unavailable'); setText(b.stats[1], String(q.error).slice(0, 28)); b.tip.textContent = q.error; }
    else {
      const f = (v) => (v == null || v < 0 ? '?' : v);
      setText(b.stats[0], `ready ${f(q.ready)} · in flight ${f(q.in_flight)}`);
      setText(b.stats[1], `delayed ${f(q.delayed)} · dead ${f(q.dead_letters)}`);
    }
    const d = arch.boxes.dlq;
    if (d) {
      const n = state.dlqCount != null ? state.dlqCount : (q && q.dead_letters);
      setText(d.sub, n == null ? '' : `${n} waiting`);
      d.g.classList.toggle('has', !!n);
    }
    const l = arch.boxes.leaderboard;
    if (l) setText(l.sub, state.lastLeaderTop);
    const s = arch.boxes.store;
    if (s && state.info && state.info.store) s.tip.textContent = `store:${state.info.store.driver} ${state.info.store.location || ''}`;
  }

  function renderWorkerBoxes() {
    for (const [name, b] of arch.workerBoxes) {
      const w = state.workers.get(name);
      if (!w) continue;
      b.g.classList.toggle('stale', !!w.stale);
      setData(b.g, 'live', w.live ? '1' : '0');
      let sub;
      if (w.stale) {
        const age = workerAge(w);
        sub = Number.isFinite(age) ? `no heartbeat for ${Math.max(0, Math.round(age / 1000))}s` : 'no heartbeat';
      } else {
        const cur = w.current ? w.current.length : 0;
        sub = w.processed != null ? `${w.processed} done · ${cur} now` : 'active';
      }
      setText(b.sub, sub);
      b.tip.textContent = `worker:${name}${w.host ? ` on ${w.host}/${w.pid}` : ''}${w.embedded ? ' (embedded)' : ''} — ${sub}`;
    }
  }

  // ---- dots -----------------------------------------------------------------
  const dots = { free: [], active: [], started: 0, dropped: 0 };

  function initDots(layer) {
    dots.free = [];
    dots.active = [];
    for (let k = 0; k < MAX_DOTS; k++) {
      const g = sv('g', { class: 'dot', visibility: 'hidden' });
      const c = sv('circle', { r: 5 });
      const t = sv('text', { x: 8, y: -7, class: 'dot-label' }, '');
      g.append(c, t);
      layer.append(g);
      dots.free.push({ g, c, t });
    }
  }

  // spawn starts an animation; dropped when MAX_DOTS are already running.
  function spawnDot(kind, cls, from, to, opts = {}) {
    if (!from) return;
    const d = dots.free.pop();
    if (!d) {
      dots.dropped++;
      return;
    }
    d.kind = kind;
    d.t0 = performance.now() + (opts.delay || 0);
    d.dur = kind === 'pulse' ? 700 : 900;
    if (kind === 'move') {
      const [x1, y1, x2, y2] = anchors(from, to);
      d.p = [x1, y1, ...control(x1, y1, x2, y2, opts.bend || 0), x2, y2];
    } else {
      d.p = [from.x + from.w / 2, from.y + from.h / 2];
      d.maxR = Math.max(12, Math.min(from.w, from.h) / 2 + 6);
    }
    d.g.setAttribute('class', `dot ${kind} ${cls}`);
    d.t.textContent = opts.label || '';
    d.c.setAttribute('r', kind === 'pulse' ? 4 : 5);
    d.shown = false; // until its start time
    dots.active.push(d);
    dots.started++;
    requestFrame();
  }

  function stepDots(now) {
    const svg = $('architecture');
    const keep = [];
    for (const d of dots.active) {
      const t = (now - d.t0) / d.dur;
      if (t >= 1) {
        d.g.setAttribute('visibility', 'hidden');
        d.g.removeAttribute('opacity');
        dots.free.push(d);
        continue;
      }
      if (t < 0) { keep.push(d); continue; }
      if (!d.shown) { d.shown = true; d.g.setAttribute('visibility', 'visible'); }
      if (d.kind === 'move') {
        const [x1, y1, cx, cy, x2, y2] = d.p;
        const e = t < 0.5 ? 2 * t * t : 1 - Math.pow(-2 * t + 2, 2) / 2; // ease in-out
        const u = 1 - e;
        const x = u * u * x1 + 2 * u * e * cx + e * e * x2;
        const y = u * u * y1 + 2 * u * e * cy + e * e * y2;
        d.g.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)})`);
        d.g.setAttribute('opacity', t > 0.85 ? ((1 - t) / 0.15).toFixed(2) : '1');
      } else {
        d.g.setAttribute('transform', `translate(${d.p[0]},${d.p[1]})`);
        d.c.setAttribute('r', (4 + (d.maxR - 4) * t).toFixed(1));
        d.g.setAttribute('opacity', (1 - t).toFixed(2));
      }
      keep.push(d);
    }
    dots.active = keep;
    setData(svg, 'animations', dots.started);
    setData(svg, 'dropped', dots.dropped);
    setData(svg, 'active', keep.length);
  }

  function animateEvent(name, svc, detail, worker, delay) {
    const B = arch.boxes;
    const spawn = (kind, cls, from, to, opts = {}) => spawnDot(kind, cls, from, to, Object.assign({ delay }, opts));
    const wb = worker ? arch.workerBoxes.get(worker) : null;
    switch (name) {
      case 'mission_invoked':
        spawn('pulse', 'hop', B.api);
        break;
      case 'mission_queued':
        if (detail.startsWith('retry')) spawn('pulse', 'retry', B.broker, null);
        else if (detail.startsWith('replayed')) spawn('move', 'replay', B.dlq, B.broker, { label: 'replay', bend: -70 });
        else if (detail.startsWith('returned') && wb) spawn('move', 'returned', wb, B.broker, { label: 'returned', bend: 24 });
        else spawn('move', 'hop', B.api, B.broker);
        break;
      case 'mission_started':
        if (detail === 'redelivered') spawn('move', 'redeliver', B.broker, wb || B.broker, { label: 'redelivery', bend: -14 });
        else spawn('move', 'hop', B.broker, wb || B.broker);
        break;
      case 'mission_progress':
        spawn('pulse', 'progress', wb);
        break;
      case 'mission_retry':
        spawn('move', 'retry', wb, B.broker, { label: 'retry', bend: 24 });
        break;
      case 'mission_completed':
        spawn('pulse', 'ok', wb);
        break;
      case 'mission_failed':
        spawn('pulse', 'bad', wb);
        break;
      case 'mission_persisted':
        if (wb) spawn('move', detail === 'FAILURE' ? 'bad' : 'hop', wb, B.store);
        else spawn('pulse', 'hop', B.store);
        break;
      case 'hero_scored':
        spawn('move', 'score', B.store, B.leaderboard);
        break;
      case 'mission_dead_lettered':
        if (wb) spawn('move', 'bad', wb, B.dlq, { label: 'dead letter' });
        else spawn('move', 'bad', B.broker, B.dlq, { label: 'dead letter', bend: -70 });
        break;
    }
  }

  // ---- charts ---------------------------------------------------------------
  const chart = {
    series: [
      { key: 'ready', label: 'queue depth', cls: 's-ready', data: new Float64Array(CHART_POINTS).fill(NaN) },
      { key: 'in_flight', label: 'in flight', cls: 's-inflight', data: new Float64Array(CHART_POINTS).fill(NaN) },
      { key: 'tput', label: 'finished/s', cls: 's-tput', data: new Float64Array(CHART_POINTS).fill(NaN) },
    ],
    head: 0, // next slot
    n: 0,
    els: null,
  };

  function chartInit() {
    const svg = $('chart');
    svg.replaceChildren();
    const H = 44;
    chart.els = chart.series.map((s, k) => {
      const y0 = k * H;
      const g = sv('g', { class: 'series ' + s.cls, transform: `translate(0,${y0})`, 'data-series': s.key });
      const bg = sv('rect', { x: 0, y: 0, width: 360, height: H - 4, class: 'chart-bg' });
      const area = sv('polygon', { class: 'area', points: '' });
      const line = sv('polyline', { class: 'line', points: '' });
      const lab = sv('text', { x: 4, y: 11, class: 'chart-label' }, s.label);
      const val = sv('text', { x: 356, y: 11, class: 'chart-value', 'text-anchor': 'end' }, '');
      const max = sv('text', { x: 356, y: H - 7, class: 'chart-max', 'text-anchor': 'end' }, '');
      g.append(bg, area, line, lab, val, max);
      svg.append(g);
      return { g, area, line, val, max, H: H - 4 };
    });
  }

  function chartSample() {
    const q = state.queue;
    const vals = {
      ready: q && !q.error && q.ready >= 0 ? q.ready : NaN,
      in_flight: q && !q.error && q.in_flight >= 0 ? q.in_flight : NaN,
      tput: state.persistedThisSecond,
    };
    state.persistedThisSecond = 0;
    for (const s of chart.series) s.data[chart.head] = vals[s.key];
    chart.head = (chart.head + 1) % CHART_POINTS;
    chart.n = Math.min(CHART_POINTS, chart.n + 1);
    drawChart();
  }

  function drawChart() {
    chart.series.forEach((s, k) => {
      const e = chart.els[k];
      let max = 0, last = NaN;
      for (let j = 0; j < chart.n; j++) {
        const v = s.data[(chart.head - chart.n + j + CHART_POINTS) % CHART_POINTS];
        if (Number.isFinite(v)) { max = Math.max(max, v); last = v; }
      }
      const top = max > 0 ? niceMax(max) : 1;
      const pts = [];
      const W = 360, H = e.H, pad = 14;
      for (let j = 0; j < chart.n; j++) {
        const v = s.data[(chart.head - chart.n + j + CHART_POINTS) % CHART_POINTS];
        if (!Number.isFinite(v)) continue;
        const x = W - (chart.n - 1 - j) * (W / (CHART_POINTS - 1));
        const y = H - 2 - (v / top) * (H - pad - 2);
        pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
      }
      e.line.setAttribute('points', pts.join(' '));
      if (pts.length > 1) {
        const first = pts[0].split(',')[0], lastX = pts[pts.length - 1].split(',')[0];
        e.area.setAttribute('points', `${first},${H} ${pts.join(' ')} ${lastX},${H}`);
      } else e.area.setAttribute('points', '');
      setText(e.val, Number.isFinite(last) ? String(last) : '–');
      setText(e.max, `max ${top}`);
      setData(e.g, 'last', Number.isFinite(last) ? last : '');
    });
  }
  function niceMax(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // ---- pollers --------------------------------------------------------------
  function poller(fn, every) {
    let busy = false, again = false, timer = null;
    async function run() {
      if (needToken) return;
      if (busy) { again = true; return; }
      busy = true;
      try { await fn(); } catch (e) { /* shown by fn where it matters */ }
      busy = false;
      if (again) { again = false; run(); }
    }
    function soon() { // debounced run, for bursts of events
      if (timer) return;
      timer = setTimeout(() => { timer = null; run(); }, 300);
    }
    if (every) setInterval(run, every);
    return { run, soon };
  }

  let readyInfo = false, readyStatus = false;
  function markReady() {
    if (readyInfo && readyStatus && document.body.dataset.ready !== '1') document.body.dataset.ready = '1';
  }

  // addLaunchTypes offers the types the server launches (the config's own
  // beside the built-in ones) in the launch form, each once.
  function addLaunchTypes(types) {
    const select = $('launch-type');
    const have = new Set(Array.from(select.options, (o) => o.value));
    for (const t of Array.isArray(types) ? types : []) {
      if (typeof t !== 'string' || have.has(t)) continue;
      const opt = document.createElement('option');
      opt.value = t;
      opt.textContent = t;
      select.append(opt);
      have.add(t);
    }
  }

  const infoPoll = poller(async () => {
    const t0 = Date.now();
    const info = await api('/api/info');
    const t1 = Date.now();
    if (!info) return;
    const st = parseTime(info.server_time);
    if (st) state.skewMs = st - (t0 + t1) / 2;
    const changed = !state.info || state.info.backend !== info.backend || state.info.queue !== info.queue ||
      JSON.stringify(state.info.store) !== JSON.stringify(info.store);
    state.info = info;
    for (const name of Array.isArray(info.embedded_workers) ? info.embedded_workers : []) {
      if (typeof name !== 'string') continue;
      const w = state.workers.get(name) || touchWorker(name);
      w.embedded = true;
    }
    addLaunchTypes(info.types);
    renderInfo();
    if (changed) state.workersChanged = true;
    if (state.workersChanged) layoutArchitecture();
    readyInfo = true;
    markReady();
  }, 10000);

  const statusPoll = poller(async () => {
    const rows = await api('/api/status');
    if (!Array.isArray(rows)) return;
    const counts = {};
    const liveNames = new Set();
    let queue = null;
    for (const r of rows) {
      if (!r || typeof r !== 'object') continue;
      if (r.group === 'type' && r.counts) {
        for (const [s, n] of Object.entries(r.counts)) counts[s] = (counts[s] || 0) + (Number(n) || 0);
      } else if (r.group === 'queue') {
        queue = r;
      } else if (r.group === 'live_worker' && typeof r.key === 'string') {
        liveNames.add(r.key);
        const w = state.workers.get(r.key) || touchWorker(r.key);
        w.live = true;
        w.heartbeat = parseTime(r.heartbeat_at);
        w.processed = r.processed != null ? r.processed : null;
        w.current = Array.isArray(r.current) ? r.current : [];
        w.host = r.host || '';
        w.pid = r.pid || 0;
      }
    }
    for (const w of state.workers.values()) if (!liveNames.has(w.name)) w.live = false;
    state.counts = counts;
    state.queue = queue;
    renderCounts();
    if (state.workersChanged) layoutArchitecture();
    renderArchStats();
    updateStale();
    readyStatus = true;
    markReady();
  }, 1000);

  const missionsPoll = poller(async () => {
    const sent = performance.now();
    const list = await api('/api/missions?limit=100');
    if (!Array.isArray(list)) return;
    for (const o of list) mergeMission(o, sent);
    // Rows the newest hundred did not cover and the stream left unfinished
    // (an event that came after the mission's end): ask for them by id, a
    // few per poll.
    const seen = new Set(list.map((o) => o && o.id));
    const stale = [...state.missions.values()].filter((m) => !FINISHED.has(m.status) && !seen.has(m.id) &&
      performance.now() - (m.lastEvent || 0) > 1500).slice(0, STALE_PER_POLL);
    await Promise.all(stale.map(async (m) => {
      try {
        mergeMission(await api('/api/missions/' + encodeURIComponent(m.id)), sent);
      } catch (e) {
        if (e && e.status === 404) forgetMission(m.id);
      }
    }));
    renderMissions();
  }, 2000);

  const leaderboardPoll = poller(async () => {
    const list = await api('/api/leaderboard');
    if (!Array.isArray(list)) return;
    renderLeaderboard(list.slice(0, 100));
  }, 2000);

  const dlqPoll = poller(async () => {
    let list;
    try {
      list = await api('/api/dlq');
      setText($('dlq-error'), '');
    } catch (e) {
      setText($('dlq-error'), e.message);
      throw e;
    }
    if (!Array.isArray(list)) return;
    renderDLQ(list);
  }, 3000);

  kick.leaderboard = leaderboardPoll.soon;
  kick.dlq = dlqPoll.soon;

  function refreshAll() {
    infoPoll.run();
    statusPoll.run();
    missionsPoll.run();
    leaderboardPoll.run();
    dlqPoll.run();
  }

  // ---- leaderboard ----------------------------------------------------------
  function renderLeaderboard(list) {
    const tbody = $('leaderboard');
    const rows = list.filter((r) => r && typeof r.hero === 'string').map((r, k) => {
      const tr = el('tr', { 'data-hero': r.hero, 'data-points': Number(r.points) || 0 },
        el('td', { class: 'rank' }, r.rank != null ? r.rank : k + 1),
        el('td', { class: 'hero' }, r.hero),
        el('td', { class: 'num' }, Number(r.points) || 0),
        el('td', { class: 'num' }, r.missions != null ? r.missions : ''),
        el('td', { class: 'num' }, r.first_try != null ? r.first_try : ''));
      return tr;
    });
    if (!rows.length) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: 5 }, 'no hero has scored yet')));
    tbody.replaceChildren(...rows);
    const top = list[0];
    state.lastLeaderTop = top && top.hero ? `${top.hero} · ${top.points}` : '';
    renderArchStats();
  }

  // ---- dead letters ---------------------------------------------------------
  function renderDLQ(list) {
    const ul = $('dlq');
    state.dlqCount = list.length;
    setText($('dlq-count'), String(list.length));
    $('dlq-replay-all').disabled = list.length === 0;
    const shown = list.slice(-200).reverse(); // newest first, bounded
    const items = shown.filter((d) => d && typeof d.id === 'string').map((d) => {
      const btn = el('button', { type: 'button', class: 'dlq-replay', 'data-id': d.id, title: 'replay this one' }, 'Replay');
      const what = d.type ? `${d.type} for ${d.hero || '?'}` : 'not a mission';
      return el('li', { 'data-dlq-id': d.id },
        el('div', { class: 'dlq-head' },
          el('span', { class: 'id' }, d.id), el('span', { class: 'what' }, what),
          el('span', { class: 'att' }, `attempt ${d.attempt || '?'}`), btn),
        el('div', { class: 'reason', title: d.reason || '' }, d.reason || d.body || ''),
        el('div', { class: 'when' }, d.dead_at ? new Date(d.dead_at).toLocaleTimeString() : ''));
    });
    if (list.length > shown.length) items.push(el('li', { class: 'more' }, `… and ${list.length - shown.length} older`));
    if (!items.length) items.push(el('li', { class: 'empty' }, 'no dead letters'));
    ul.replaceChildren(...items);
    renderArchStats();
  }

  async function replay(ids) {
    setText($('dlq-error'), '');
    try {
      const r = await api('/api/dlq/replay', { method: 'POST', body: { ids } });
      const n = r && Array.isArray(r.replayed) ? r.replayed.length : 0;
      setText($('dlq-error'), '');
      $('dlq').dataset.replayed = String(n);
    } catch (e) {
      setText($('dlq-error'), e.message);
    }
    dlqPoll.run();
    missionsPoll.run();
  }
  $('dlq').addEventListener('click', (ev) => {
    const b = ev.target.closest('button.dlq-replay');
    if (!b) return;
    b.disabled = true;
    replay([b.dataset.id]);
  });
  $('dlq-replay-all').addEventListener('click', () => replay([]));

  // ---- launch ---------------------------------------------------------------
  $('launch-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('launch-error'), res = $('launch-result'), btn = $('launch-button');
    setText(err, '');
    setText(res, '');
    const body = { type: $('launch-type').value };
    const num = (id) => { const v = $(id).value.trim(); return v === '' ? undefined : Number(v); };
    const count = num('launch-count'), fail = num('launch-fail-rate'), speed = num('launch-speed');
    if (count !== undefined) body.count = count;
    if (fail !== undefined) body.fail_rate = fail;
    if (speed !== undefined) body.speed = speed;
    for (const [k, v] of Object.entries(body)) {
      if (typeof v === 'number' && !Number.isFinite(v)) { setText(err, `${k} is not a number`); return; }
    }
    btn.disabled = true;
    try {
      const sent = performance.now();
      const list = await api('/api/missions', { method: 'POST', body });
      const n = Array.isArray(list) ? list.length : 0;
      if (Array.isArray(list)) for (const o of list.slice(0, MAX_MISSIONS)) mergeMission(o, sent);
      renderMissions();
      setText(res, `launched ${n} mission${n === 1 ? '' : 's'}`);
      res.dataset.launched = String(n);
    } catch (e) {
      setText(err, e.message || String(e));
      err.dataset.status = String(e.status || '');
    } finally {
      btn.disabled = false;
    }
  });

  // ---- timeline -------------------------------------------------------------
  let timelineSeq = 0;
  const timelinePoll = poller(async () => {
    if (state.selected) await loadTimeline(state.selected);
  }, 0);
  kick.timeline = () => {
    // at most once a second while events for it come in
    if (kick._tl) return;
    kick._tl = setTimeout(() => { kick._tl = null; timelinePoll.run(); }, 1000);
  };

  function openTimeline(id) {
    const prev = state.selected;
    state.selected = id;
    if (prev) { const r = state.rows.get(prev); if (r) r.classList.remove('selected'); }
    const r = state.rows.get(id);
    if (r) r.classList.add('selected');
    const p = $('timeline');
    p.hidden = false;
    p.dataset.missionId = id;
    document.body.classList.add('timeline-open');
    setText($('timeline-title'), id);
    setText($('timeline-summary'), 'loading…');
    setText($('timeline-error'), '');
    $('timeline-cancel').hidden = true;
    $('timeline-events').replaceChildren();
    $('timeline-chart').replaceChildren();
    timelinePoll.run();
  }

  function closeTimeline() {
    const prev = state.selected;
    state.selected = null;
    if (prev) { const r = state.rows.get(prev); if (r) r.classList.remove('selected'); }
    $('timeline').hidden = true;
    delete $('timeline').dataset.missionId;
    document.body.classList.remove('timeline-open');
  }
  $('timeline-close').addEventListener('click', closeTimeline);
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && state.selected) closeTimeline(); });

  async function loadTimeline(id) {
    const seq = ++timelineSeq;
    const enc = encodeURIComponent(id);
    let m = null, evs;
    const sent = performance.now();
    try {
      [m, evs] = await Promise.all([api(`/api/missions/${enc}`).catch(() => null), api(`/api/missions/${enc}/events`)]);
    } catch (e) {
      if (seq === timelineSeq && state.selected === id) setText($('timeline-error'), e.message);
      return;
    }
    if (seq !== timelineSeq || state.selected !== id) return;
    setText($('timeline-error'), '');
    if (m) { mergeMission(m, sent); renderMissions(); }
    $('timeline-cancel').hidden = !m || m.status === 'SUCCESS' || m.status === 'FAILURE';
    drawTimeline(id, m, Array.isArray(evs) ? evs.slice(-2000) : []);
  }

  // Cancel the mission the timeline shows (POST /api/missions/{id}/cancel).
  $('timeline-cancel').addEventListener('click', async () => {
    const id = state.selected, btn = $('timeline-cancel');
    if (!id) return;
    btn.disabled = true;
    try {
      const sent = performance.now();
      const m = await api(`/api/missions/${encodeURIComponent(id)}/cancel`, { method: 'POST', body: {} });
      if (m) { mergeMission(m, sent); renderMissions(); }
      btn.hidden = true;
    } catch (e) {
      if (state.selected === id) setText($('timeline-error'), e.message);
    } finally {
      btn.disabled = false;
    }
    timelinePoll.run();
  });

  function fmtDur(ms) {
    if (!Number.isFinite(ms)) return '';
    const a = Math.abs(ms);
    if (a < 1) return `${(ms * 1000).toFixed(0)}µs`;
    if (a < 1000) return `${ms.toFixed(a < 10 ? 1 : 0)}ms`;
    if (a < 60000) return `${(ms / 1000).toFixed(a < 10000 ? 2 : 1)}s`;
    const mn = Math.floor(a / 60000);
    return `${mn}m${Math.round((a - mn * 60000) / 1000)}s`;
  }

  function laneOf(svc) {
    if (svc === 'cli' || svc === 'api') return 'cli/api';
    if (svc.startsWith('broker:')) return svc;
    if (svc.startsWith('worker:')) return svc;
    if (svc.startsWith('store:')) return svc;
    return svc || '?';
  }

  function eventClass(e) {
    const d = typeof e.detail === 'string' ? e.detail : '';
    switch (e.event) {
      case 'mission_started': return d === 'redelivered' ? 'redeliver' : 'hop';
      case 'mission_retry': return 'retry';
      case 'mission_queued': return d.startsWith('retry') ? 'retry' : d.startsWith('replayed') ? 'replay' : 'hop';
      case 'mission_completed': return 'ok';
      case 'mission_failed': case 'mission_dead_lettered': return 'bad';
      case 'mission_progress': return 'progress';
      case 'hero_scored': return 'score';
      case 'mission_persisted': return d === 'FAILURE' ? 'bad' : 'hop';
      default: return 'hop';
    }
  }

  function drawTimeline(id, m, evs) {
    evs = evs.filter((e) => e && typeof e === 'object').map((e, k) => ({ e, k, t: parseTime(e.at) }));
    evs.sort((a, b) => a.t - b.t || a.k - b.k); // by time, as `palantir trace`
    const mm = state.missions.get(id) || {};
    const mo = m || {};
    const summary = `${mo.type || mm.type || '?'} for ${mo.hero || mm.hero || '?'}: ${mo.status || mm.status || '?'} after ` +
      `${mo.attempt || mm.attempt || 0}/${mo.max_attempts || mm.max_attempts || '?'} attempt(s), worker ${mo.worker || mm.worker || '–'}, ` +
      `score ${mo.score != null ? mo.score : (mm.score || 0)}`;
    const sumEl = $('timeline-summary');
    sumEl.replaceChildren(el('span', null, summary));
    if (mo.error) sumEl.append(el('span', { class: 'error' }, ` · last error: ${mo.error}`));
    $('timeline').dataset.events = String(evs.length);

    // lanes: cli/api, broker, workers in order of appearance, store
    const lanes = [];
    const add = (l) => { if (!lanes.includes(l)) lanes.push(l); };
    add('cli/api');
    for (const { e } of evs) { const l = laneOf(String(e.service || '')); if (l.startsWith('broker:')) add(l); }
    if (lanes.length === 1) add(brokerLabel());
    for (const { e } of evs) { const l = laneOf(String(e.service || '')); if (l.startsWith('worker:')) add(l); }
    for (const { e } of evs) { const l = laneOf(String(e.service || '')); if (!lanes.includes(l) && !l.startsWith('store:')) add(l); }
    for (const { e } of evs) { const l = laneOf(String(e.service || '')); if (l.startsWith('store:')) add(l); }
    if (!lanes.some((l) => l.startsWith('store:'))) add('store:' + ((state.info && state.info.store && state.info.store.driver) || '?'));

    const svg = $('timeline-chart');
    const W = 840, L = 96, R = 14, laneH = 20, top = 8, axisH = 18;
    const H = top + lanes.length * laneH + axisH;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.style.height = H + 'px';
    const t0 = evs.length ? evs[0].t : 0;
    const total = evs.length ? evs[evs.length - 1].t - t0 : 0;
    const xOf = (t) => L + (total > 0 ? (t - t0) / total : 0) * (W - L - R);
    const yOf = (lane) => top + lanes.indexOf(lane) * laneH + laneH / 2;
    const kids = [];
    lanes.forEach((l, k) => {
      const y = top + k * laneH;
      kids.push(sv('rect', { x: 0, y, width: W, height: laneH, class: 'lane ' + (k % 2 ? 'odd' : 'even') }));
      kids.push(sv('text', { x: 6, y: y + laneH / 2 + 4, class: 'lane-label' }, l));
    });
    // axis
    const axisY = top + lanes.length * laneH;
    kids.push(sv('line', { x1: L, y1: axisY, x2: W - R, y2: axisY, class: 'axis' }));
    for (let k = 0; k <= 4; k++) {
      const x = L + k / 4 * (W - L - R);
      kids.push(sv('line', { x1: x, y1: top, x2: x, y2: axisY + 3, class: 'tick' }));
      kids.push(sv('text', { x, y: axisY + 14, class: 'tick-label', 'text-anchor': k === 0 ? 'start' : k === 4 ? 'end' : 'middle' },
        '+' + fmtDur(total * k / 4)));
    }
    // path through the events
    let prev = null;
    const marks = [];
    for (const { e, t } of evs) {
      const lane = laneOf(String(e.service || ''));
      const x = xOf(t), y = yOf(lane);
      const cls = eventClass(e);
      if (prev) kids.push(sv('line', { x1: prev[0], y1: prev[1], x2: x, y2: y, class: 'step ' + cls }));
      const gap = prev ? t - prev[2] : 0;
      const title = `+${fmtDur(t - t0)} (gap ${fmtDur(gap)}) ${e.service} ${e.event} attempt ${e.attempt}${e.detail ? ': ' + e.detail : ''}`;
      marks.push(sv('g', { class: 'mark ' + cls, transform: `translate(${x.toFixed(1)},${y})`, 'data-event': String(e.event || '') },
        sv('title', null, title), sv('circle', { r: cls === 'progress' ? 3 : 5 })));
      if (cls === 'retry' || cls === 'redeliver' || cls === 'replay' || (cls === 'bad' && e.event === 'mission_dead_lettered')) {
        const lbl = cls === 'redeliver' ? 'redelivery' : cls === 'retry' ? (e.event === 'mission_retry' ? 'retry' : 'backoff') : cls === 'replay' ? 'replay' : 'dead letter';
        const right = x > W - 90; // near the right edge: the label goes to the left
        marks.push(sv('text', { x: right ? x - 6 : x + 6, y: y - 6, class: 'mark-label ' + cls, 'text-anchor': right ? 'end' : 'start' }, lbl));
      }
      prev = [x, y, t];
    }
    svg.replaceChildren(...kids, ...marks);

    // the table: what `palantir trace` prints
    const rows = [];
    let pt = t0;
    for (const { e, t } of evs) {
      const cls = eventClass(e);
      rows.push(el('tr', { class: 'ev ' + cls, 'data-event': String(e.event || '') },
        el('td', { class: 'num' }, '+' + fmtDur(t - t0)),
        el('td', { class: 'num' }, fmtDur(t - pt)),
        el('td', null, String(e.service || '')),
        el('td', null, String(e.event || '')),
        el('td', { class: 'num' }, e.attempt != null ? String(e.attempt) : ''),
        el('td', { class: 'detail' }, e.detail ? String(e.detail) : '–')));
      pt = t;
    }
    if (!rows.length) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: 6 }, 'no events recorded for this mission')));
    $('timeline-events').replaceChildren(...rows);
  }

  // ---- the event stream -----------------------------------------------------
  let streamCtl = null;
  function streamAbort() {
    if (streamCtl) streamCtl.abort();
  }

  // SSEParser turns chunks of text into frames: {event, data}.
  class SSEParser {
    constructor(onFrame) {
      this.buf = '';
      this.data = [];
      this.event = '';
      this.onFrame = onFrame;
    }
    push(chunk) {
      this.buf += chunk;
      let start = 0;
      const b = this.buf;
      for (;;) {
        let i = start, end = -1, next = -1;
        // find the next line end: \n, \r\n or \r
        const n = b.indexOf('\n', i), r = b.indexOf('\r', i);
        if (n < 0 && r < 0) break;
        if (r >= 0 && (n < 0 || r < n)) {
          if (r === b.length - 1) break; // a \r at the end may be the half of \r\n
          end = r; next = b[r + 1] === '\n' ? r + 2 : r + 1;
        } else {
          end = n; next = n + 1;
        }
        this.line(b.slice(start, end));
        start = next;
      }
      this.buf = b.slice(start);
      if (this.buf.length > 1 << 20) { // a line of more than 1 MiB: not ours
        this.buf = '';
        this.data = [];
      }
    }
    line(l) {
      if (l === '') {
        if (this.data.length) this.onFrame({ event: this.event || 'message', data: this.data.join('\n') });
        this.data = [];
        this.event = '';
        return;
      }
      if (l[0] === ':') return; // comment: ping
      const c = l.indexOf(':');
      let field = l, value = '';
      if (c >= 0) {
        field = l.slice(0, c);
        value = l.slice(c + 1);
        if (value[0] === ' ') value = value.slice(1);
      }
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      // id and retry: not used
    }
  }

  function onFrame(f) {
    if (f.event === 'lagged') {
      // we missed events: the REST endpoints have the state
      let n = '';
      try { n = JSON.parse(f.data).dropped; } catch (_) { /* */ }
      setData($('connection'), 'lagged', n);
      refreshAll();
      return;
    }
    if (f.event !== 'message') return;
    let v;
    try { v = JSON.parse(f.data); } catch (_) { return; }
    if (Array.isArray(v)) for (const e of v) enqueue(e);
    else enqueue(v);
  }

  async function streamLoop() {
    let backoff = 1000;
    let everConnected = false;
    for (;;) {
      const ctl = new AbortController();
      streamCtl = ctl;
      let silence = null;
      const arm = () => {
        clearTimeout(silence);
        silence = setTimeout(() => ctl.abort(), STREAM_SILENCE_MS);
      };
      let unauthorized = false;
      let connectedAt = 0;
      try {
        arm();
        const res = await fetch('/api/events/stream', {
          headers: authHeaders({ Accept: 'text/event-stream' }), cache: 'no-store', signal: ctl.signal, credentials: 'same-origin',
        });
        if (res.status === 401) {
          unauthorized = true;
          needToken = true;
          showTokenForm();
          throw new Error('unauthorized');
        }
        if (!res.ok || !res.body) throw new Error(`stream: ${res.status}`);
        setConnection('connected', 'live');
        connectedAt = Date.now();
        if (everConnected) refreshAll(); // events went by while we were away
        everConnected = true;
        const parser = new SSEParser(onFrame);
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          arm();
          parser.push(dec.decode(value, { stream: true }));
        }
      } catch (_) {
        // fall through to reconnect
      } finally {
        clearTimeout(silence);
      }
      if (unauthorized) {
        setConnection('reconnecting', 'needs a token');
        await Promise.race([tokenArrived(), sleep(10000)]);
        continue;
      }
      // a stream that stayed up a while starts the backoff afresh; one that
      // ends at once (a server going down) keeps doubling it
      if (connectedAt && Date.now() - connectedAt > 5000) backoff = 1000;
      setConnection('reconnecting', `reconnecting in ${Math.round(backoff / 1000)}s`);
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 10000);
    }
  }

  // ---- start ----------------------------------------------------------------
  archInit();
  chartInit();
  renderCounts();
  layoutArchitecture();
  setInterval(chartSample, 1000);
  setInterval(() => updateStale(), 1000);
  refreshAll();
  streamLoop();

  // for tests and the curious: the parser, without the network
  window.palantirDashboard = { SSEParser, enqueue, state };
})();
