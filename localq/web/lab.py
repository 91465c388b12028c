"""The lab pages: one page per scenario with Run, its buttons, Reset, and a live picture.

The picture is drawn from the scenario's real job, attempt and worker rows:
a timeline of attempts (one lane per job), queue length and finished jobs per
second, the scenario's own charts and tables, and its worker processes.
"""
import time

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for

from ..lab import LabError, get_lab, is_lab_app
from ..states import SQL_RUNNING, is_running
from ..lab.pool import LAB_WORKER_ENV

bp = Blueprint('lab', __name__)

LAB_LEASE = float(LAB_WORKER_ENV['LOCALQ_LEASE_TIMEOUT'])   # no heartbeat for this long: silent
TIMELINE_MAX_JOBS = 40   # more lanes than this are unreadable: the queue-length chart tells the story


def lab_or_404():
    app = current_app.extensions['localq']
    if not is_lab_app(app):
        abort(404, description="the lab's tasks are declared on localq's default app; start it without -A "
                               "(python run.py) to use the lab")
    return get_lab(app)


def partial():
    return request.args.get('partial') == '1'


@bp.get('/lab')
def index():
    lab = lab_or_404()
    statuses = lab.statuses()
    cards = [{'s': s, 'status': statuses[s.name]} for s in lab.scenarios.values()]
    return render_template('localq/lab_index.html', cards=cards, speed=lab.app.config.lab_speed)


@bp.get('/lab/<name>')
def scenario_page(name):
    lab = lab_or_404()
    scenario = lab.scenario(name)
    ctx = lab.context(name)
    picture = draw(lab, ctx) if ctx is not None else None
    if partial():
        return render_template('localq/_lab.html', s=scenario, p=picture)
    return render_template('localq/lab.html', s=scenario, p=picture, speed=lab.app.config.lab_speed)


@bp.get('/api/lab/<name>')
def scenario_json(name):
    """What the page shows, for scripts: done, figures, sentences and tables."""
    lab = lab_or_404()
    obs = lab.observe(lab.scenario(name).name)
    if obs is None:
        return jsonify(ok=True, scenario=name, started=False)
    return jsonify(ok=True, scenario=name, started=True, done=obs.done, data=obs.data, lines=obs.lines,
                   tables=[{'title': t, 'columns': c, 'rows': r} for t, c, r in obs.tables])


@bp.post('/lab/<name>/run')
def run(name):
    lab = lab_or_404()
    scenario = lab.scenario(name)
    params = {k: v for k, v in request.form.items() if k in scenario.params and v != ''}
    try:
        lab.start(name, **params)
        flash('Started "%s".' % scenario.title)
    except LabError as exc:   # a bad parameter: say so on the page, nothing started
        flash(str(exc))
    return redirect(url_for('localq.lab.scenario_page', name=name))


@bp.post('/lab/<name>/action/<action>')
def action(name, action):
    lab = lab_or_404()
    scenario = lab.scenario(name)
    try:
        flash(lab.action(scenario.name, action))
    except LabError as exc:   # e.g. "nothing to kill: already killed"
        flash(str(exc))
    return redirect(url_for('localq.lab.scenario_page', name=name))


@bp.post('/lab/reset')
def reset():
    lab = lab_or_404()
    lab.reset()
    flash('The lab is clean: its workers are stopped and its jobs and rows deleted.')
    back = request.form.get('next') or ''
    # Only a path on this site: an absolute or scheme-relative URL would make this an open redirect.
    local = back.startswith('/') and not back.startswith(('//', '/\\')) and '\\' not in back
    return redirect(back if local else url_for('localq.lab.index'))


# -- drawing ---------------------------------------------------------------------
def draw(lab, ctx):
    """Everything the live region shows for the scenario's latest run."""
    with ctx.snapshot():   # the scenario, the timeline and the charts share one read of the rows
        obs = lab.observe(ctx.scenario.name, ctx)
        jobs, attempts = ctx.jobs(), ctx.attempts()
    notes = ctx.notes
    now = time.time()
    t0 = ctx.run.started_at
    picture = {'obs': obs, 'jobs': len(jobs), 'started': t0, 'workers': workers(lab, ctx, now),
               'params': ctx.params, 'charts': [line_chart(title, unit, series) for title, unit, series in obs.series]}
    if 0 < len(jobs) <= TIMELINE_MAX_JOBS:
        picture['timeline'] = timeline(jobs, attempts, t0, now, notes.get('marks', []))
    picture['charts'].insert(0, line_chart('Queue: jobs waiting to start, and finished, per second', 'jobs',
                                           activity(jobs, attempts, t0, now)))
    return picture


def activity(jobs, attempts, t0, now):
    """Jobs waiting for their first start, and jobs finished, per second since the run started."""
    end = int(now - t0) + 1
    waiting, done = [0] * end, [0] * end
    for j in jobs:
        first = int(max(0, j['queued_at'] - t0))
        started = [a['started_at'] for a in attempts.get(j['id'], []) if a['started_at']] + (
            [j['started_at']] if j['started_at'] else [])
        start = int(min(started) - t0) if started else end
        for s in range(first, min(start, end)):
            waiting[s] += 1
        if j['finished_at'] and 0 <= int(j['finished_at'] - t0) < end:
            done[int(j['finished_at'] - t0)] += 1
    return {'waiting': list(enumerate(waiting)), 'finished/s': list(enumerate(done))}


def timeline(jobs, attempts, t0, now, marks=(), width=900, lane=22, left=170):
    """One lane per job: a thin line while it waits, a bar per attempt coloured by its outcome."""
    end = max([now] + [j['finished_at'] or now for j in jobs])
    span = max(1.0, end - t0)
    scale = (width - left - 10) / span

    def x(t):
        return round(left + (t - t0) * scale, 1)

    lanes = []
    for i, j in enumerate(jobs):
        bars = [{'x': x(a['started_at'] or a['finished_at']), 'w': max(2.0, x(a['finished_at']) - x(a['started_at']
                 or a['finished_at'])), 'outcome': a['outcome'], 'worker': a['worker'] or '',
                 'tip': '%s on %s, %.2f-%.2f s%s' % (a['outcome'], a['worker'] or '?', (a['started_at'] or 0) - t0,
                                                     a['finished_at'] - t0,
                                                     ': %s' % a['error_message'] if a['error_message'] else '')}
                for a in attempts.get(j['id'], [])]
        if is_running(j['state']) and j['started_at']:
            bars.append({'x': x(j['started_at']), 'w': max(2.0, x(now) - x(j['started_at'])), 'outcome': 'STARTED',
                         'worker': j['worker'] or '', 'tip': 'running on %s since %.2f s' % (
                             j['worker'], j['started_at'] - t0)})
        label = '%s(%s)' % (j['task'].split('.', 1)[-1], ', '.join(str(a)[:14] for a in (j['args'] or []))[:18])
        lanes.append({'y': 20 + i * lane, 'label': label, 'id': j['id'], 'state': j['state'],
                      'wait_x': x(j['queued_at']), 'bars': bars})
    ticks = [{'x': x(t0 + s), 'label': '%gs' % s} for s in nice_ticks(span)]
    return {'lanes': lanes, 'width': width, 'height': 30 + len(jobs) * lane, 'left': left, 'lane': lane,
            'ticks': ticks, 'now_x': x(now), 'marks': [{'x': x(t), 'label': label} for t, label in marks]}


def nice_ticks(span, count=6):
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 1e9)
                if span / s <= count)
    return [round(i * step, 1) for i in range(int(span / step) + 1)]


def line_chart(title, unit, series, width=600, height=150, left=44):
    """Polylines for a few named series of (x, y) points on shared axes."""
    points = [p for pts in series.values() for p in pts]
    max_x = max([1] + [p[0] for p in points])
    max_y = max([1] + [p[1] for p in points])
    lines = []
    for n, (name, pts) in enumerate(series.items()):
        coords = ' '.join('%.1f,%.1f' % (left + (px / max_x) * (width - left - 8), 10 + height - (py / max_y) * height)
                          for px, py in pts)
        lines.append({'name': name, 'points': coords, 'n': n, 'last': pts[-1][1] if pts else None})
    return {'title': title, 'unit': unit, 'lines': lines, 'width': width, 'height': height, 'left': left,
            'max_x': max_x, 'max_y': max_y}


def workers(lab, ctx, now):
    """The scenario's worker processes: alive, stopped or killed, and what they run."""
    storage = lab.app.huey.storage
    rows = storage.sql('SELECT id, pid, queues, started_at, last_seen, stopped_at FROM worker WHERE id LIKE ? '
                       'ORDER BY started_at', ('lab-%s-%%' % ctx.scenario.name,)).fetchall()
    sql, params = lab.queue_filter(ctx.scenario.name)
    running = dict(storage.sql('SELECT worker, COUNT(*) FROM job WHERE %s AND %s GROUP BY worker'
                               % (sql, SQL_RUNNING), params).fetchall())
    out = []
    for name, pid, queues, started, last_seen, stopped in rows:
        proc = lab.pool.procs.get(name)
        code = proc.poll() if proc is not None else None
        status = ('killed (SIGKILL)' if code == -9 else 'stopped' if stopped or code is not None
                  else 'running' if now - last_seen < LAB_LEASE else 'silent')
        out.append({'name': name, 'pid': pid, 'queues': queues, 'status': status, 'running': running.get(name, 0),
                    'beat': now - last_seen})
    return out
