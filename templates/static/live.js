// Live regions: every element with data-live="url" is re-rendered from that
// URL (the same template, without the page around it) every 2 s, unless the
// user paused live updates (remembered per browser) or the tab is hidden.
// A region whose content holds [data-final] (a finished job) stops updating.
//
// The server may go away (restarted, or stopped with Ctrl-C) while a page is
// open: then every live request waits and tries again with backoff (0.5 s,
// doubling to 8 s), a banner says "reconnecting…", and once the server answers
// the page goes on from where it is, so a job that ended meanwhile shows its
// outcome without a reload. localq.fetchJSON gives pages' own loops (the
// upload page's) the same behaviour.
(function () {
  const KEY = 'localq.live.paused';
  const FIRST_WAIT = 500, LONGEST_WAIT = 8000;
  let paused = localStorage.getItem(KEY) === '1';
  let busy = false;
  let failing = 0;          // requests now waiting for the server
  let retryAt = 0;          // the live regions' next try while the server is away
  let wait = FIRST_WAIT;

  function showToggle() {
    for (const b of document.querySelectorAll('[data-live-toggle]')) {
      b.setAttribute('aria-pressed', String(paused));
      b.querySelector('.label').textContent = paused ? 'Paused' : 'Live';
      b.title = paused ? 'Live updates paused: click to resume' : 'Updating every 2 s: click to pause';
    }
  }

  function banner() {
    let el = document.getElementById('connection');
    if (!el) {
      el = document.createElement('div');
      el.id = 'connection';
      el.className = 'connection';
      el.setAttribute('role', 'status');
      el.textContent = 'Server unreachable: reconnecting…';
      el.hidden = true;
      document.body.append(el);
    }
    return el;
  }

  function setFailing(delta) {
    failing = Math.max(0, failing + delta);
    banner().hidden = failing === 0;
  }

  // A GET that outlives a server restart. A network error or an answer of 502-504 (a proxy in
  // front of a server that is not back yet) is tried again with backoff, and onWait(true) is
  // called while waiting, onWait(false) once it is through. Other answers are the caller's.
  async function fetchRetrying(url, options, onWait) {
    let delay = FIRST_WAIT, waiting = false;
    try {
      while (true) {
        let r = null;
        try { r = await fetch(url, options); } catch (e) { /* no server: wait below */ }
        if (r && ![502, 503, 504].includes(r.status)) return r;
        if (!waiting) { waiting = true; setFailing(1); if (onWait) onWait(true); }
        await new Promise(ok => setTimeout(ok, delay));
        delay = Math.min(delay * 2, LONGEST_WAIT);
      }
    } finally {
      if (waiting) { setFailing(-1); if (onWait) onWait(false); }
    }
  }

  window.localq = {
    fetchRetrying,
    fetchJSON: async (url, onWait) => (await fetchRetrying(url, {headers: {'Accept': 'application/json'}}, onWait)).json(),
  };

  async function refresh() {
    if (paused || busy || document.hidden || Date.now() < retryAt) return;
    busy = true;
    let lost = false;
    for (const el of document.querySelectorAll('[data-live]')) {
      if (el.querySelector('[data-final]')) { delete el.dataset.live; continue; }
      try {
        const r = await fetch(el.dataset.live, {headers: {'Accept': 'text/html'}});
        if ([502, 503, 504].includes(r.status)) { lost = true; break; }
        if (r.ok && !paused) el.innerHTML = await r.text();
      } catch (e) { lost = true; break; }
    }
    if (lost) {
      if (!retryAt) setFailing(1);
      retryAt = Date.now() + wait;
      wait = Math.min(wait * 2, LONGEST_WAIT);
    } else if (retryAt) {
      retryAt = 0; wait = FIRST_WAIT; setFailing(-1);
    }
    busy = false;
  }

  document.addEventListener('click', e => {
    const b = e.target.closest('[data-live-toggle]');
    if (!b) return;
    paused = !paused;
    localStorage.setItem(KEY, paused ? '1' : '0');
    showToggle();
  });
  // Bulk actions ask first.
  document.addEventListener('submit', e => {
    const msg = e.target.dataset.confirm;
    if (msg && !confirm(msg)) e.preventDefault();
  });
  document.addEventListener('DOMContentLoaded', showToggle);
  // Each tick tries at most once; while the server is away, retryAt spaces the tries out.
  setInterval(refresh, 2000);
  setInterval(() => { if (retryAt && Date.now() >= retryAt) refresh(); }, 250);
})();
