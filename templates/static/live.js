// Live regions: every element with data-live="url" is re-rendered from that
// URL (the same template, without the page around it) every 2 s, unless the
// user paused live updates (remembered per browser) or the tab is hidden.
// A region whose content holds [data-final] (a finished job) stops updating.
(function () {
  const KEY = 'localq.live.paused';
  let paused = localStorage.getItem(KEY) === '1';
  let busy = false;

  function showToggle() {
    for (const b of document.querySelectorAll('[data-live-toggle]')) {
      b.setAttribute('aria-pressed', String(paused));
      b.querySelector('.label').textContent = paused ? 'Paused' : 'Live';
      b.title = paused ? 'Live updates paused: click to resume' : 'Updating every 2 s: click to pause';
    }
  }

  async function refresh() {
    if (paused || busy || document.hidden) return;
    busy = true;
    try {
      for (const el of document.querySelectorAll('[data-live]')) {
        if (el.querySelector('[data-final]')) { delete el.dataset.live; continue; }
        const r = await fetch(el.dataset.live, {headers: {'Accept': 'text/html'}});
        if (r.ok && !paused) el.innerHTML = await r.text();
      }
    } catch (e) { /* server restarting: try again next tick */ }
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
  setInterval(refresh, 2000);
})();
