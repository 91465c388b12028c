"""The lab plug-in's pages: one page per scenario with Run, its buttons, Reset, and a live picture.
Mounted by the web app inside localq's blueprint for an app that called lab.init_app.

The picture is drawn from the scenario's real job, attempt and worker rows:
a timeline of attempts (one lane per job), queue length and finished jobs per
second, the scenario's own charts and tables, and its worker processes.
"""
import time

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for

from ..states import SQL_RUNNING, TERMINAL, is_running
from ..web import error_response
from . import LabError, get_lab, is_lab_app
from .base import Chart
from .pool import LAB_WORKER_ENV

bp = Blueprint('lab', __name__)
# An unknown scenario is a 404, anything else the lab refuses (a bad parameter, a button at the wrong time) a 400.
bp.register_error_handler(LabError, lambda exc: error_response(404 if isinstance(exc, KeyError) else 400, str(exc)))

LAB_LEASE = float(LAB_WORKER_ENV['LOCALQ_LEASE_TIMEOUT'])   # no heartbeat for this long: silent
LINE_COLOURS = 6   # .line0-.line5 in localq.css
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
    return render_template('localq/lab.html', s=scenario, p=picture,
                           speed=ctx.speed if ctx is not None else lab.app.config.lab_speed)


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
        lab.start(name, speed=request.form.get('speed'), **params)
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
def draw(lab, ctx, now=None):
    """Everything the live region shows for the scenario's latest run."""
    with ctx.snapshot():   # the scenario, the timeline and the charts share one read of the rows
        obs = lab.observe(ctx.scenario.name, ctx)
        jobs, attempts = ctx.jobs(), ctx.attempts()
    notes = ctx.notes
    now = time.time() if now is None else now
    t0 = ctx.run.started_at
    marks = notes.get('marks', [])
    # A finished run's axes stop where it ended: drawn a minute later, it must not shrink to the left.
    end = ctx.ended_at(jobs, attempts, marks) if obs.done else now
    # A worker the run killed stays "killed" after the app restarts, when the pool no longer knows it.
    procs = workers(lab, ctx, now, killed={m[2] for m in marks if len(m) > 2 and m[1].startswith('SIGKILL')})
    charts = [Chart('Queue: jobs waiting to start (a first run, a retry, a rate-limit slot), and finished per second',
                    'jobs',
                    activity(jobs, attempts, t0, end))] + list(obs.series)
    colours = {}   # one colour per series name on the whole page, so "finished/s" is green in every chart
    for chart in charts:
        for name in chart.series:
            colours.setdefault(name, len(colours))
    run_s = round(end - t0, 2)   # the one figure the header, the timeline and every time axis show
    picture = {'obs': obs, 'jobs': len(jobs), 'started': t0, 'workers': procs, 'params': ctx.params,
               'ended': run_s if obs.done else None,
               # The page stops refreshing only once the workers have stopped too, so none is left "running".
               'settled': obs.done and not any(w['status'] == 'running' for w in procs),
               'charts': [line_chart(c, run_s, colours) for c in charts]}
    if 0 < len(jobs) <= TIMELINE_MAX_JOBS:
        deaths = {w['name']: w['last_seen'] for w in procs if w['status'] != 'running'}
        deaths.update({m[2]: m[0] for m in marks if len(m) > 2})   # a kill's own moment beats the last beat
        picture['timeline'] = timeline(jobs, attempts, t0, end, marks, deaths)
    return picture


def activity(jobs, attempts, t0, end):
    """Jobs waiting to start, sampled at each whole second since the run started and at `end` (the
    live figure, which the legend prints), and jobs finished in each second.

    A job waits from its queueing until it ends, except while an attempt runs: waiting for its
    first run, for a retry's delay or for a rate limit's slot alike. Only the attempt rows and a
    running job's own claim count as runs. A rate-limited call is claimed, finds its slot ahead
    and goes back to the queue, but its claim left `started_at` on the row: read as a start, it
    made the lesson say "waiting 0" while 28 calls waited, and the curve's past changed each
    time such a call was claimed again."""
    changes = []   # (moment, +1 or -1 job waiting), applied to every sample at or after the moment
    for j in jobs:
        changes.append((j['queued_at'], 1))
        if j['state'] in TERMINAL and j['finished_at']:
            changes.append((j['finished_at'], -1))
        for a in attempts.get(j['id'], []):
            start = a['started_at'] or a['finished_at']
            changes += [(start, -1), (a['finished_at'], 1)]
        if is_running(j['state']) and j['started_at']:
            changes.append((j['started_at'], -1))
    changes.sort()
    span = max(0.0, end - t0)
    moments = [(s, t0 + s) for s in range(int(span) + 1)] + ([(round(span, 2), end)] if span > int(span) else [])
    waiting, count, i = [], 0, 0
    for x, moment in moments:
        while i < len(changes) and changes[i][0] <= moment:
            count += changes[i][1]
            i += 1
        waiting.append((x, count))
    done = [0] * (int(span) + 1)
    for j in jobs:
        if j['finished_at'] and 0 <= j['finished_at'] - t0 < len(done):
            done[int(j['finished_at'] - t0)] += 1
    return {'waiting': waiting, 'finished/s': list(enumerate(done))}


def lane_label(n, job, size=30):
    """'#2 flaky_api(failures=3)': the number tells apart jobs with the same arguments."""
    parts = [repr(a) if isinstance(a, str) else str(a) for a in job['args'] or []]
    parts += ['%s=%s' % (k, repr(v) if isinstance(v, str) else v) for k, v in (job['kwargs'] or {}).items()]
    label = '#%d %s(%s)' % (n, job['task'].split('.', 1)[-1], ', '.join(p[:14] for p in parts))
    return label if len(label) <= size else label[:size - 1] + '\u2026'


def timeline(jobs, attempts, t0, end, marks=(), deaths=None, width=900, lane=24, left=250):
    """One lane per job: a dashed line while it waits (for its first run, and between attempts), a bar
    per attempt coloured by its outcome. A lost attempt is solid until its worker died, then hatched
    while nobody knew yet (until its lease ran out)."""
    deaths = deaths or {}
    span = max(0.1, end - t0)
    scale = (width - left - 10) / span

    def x(t):
        return round(left + (min(t, end) - t0) * scale, 1)

    def bar(start, stop, outcome, worker, tip):
        return {'x': x(start), 'w': max(2.0, x(stop) - x(start)), 'outcome': outcome, 'worker': worker or '',
                'tip': tip}

    lanes = []
    for i, j in enumerate(jobs):
        bars, waits, waiting_since = [], [], j['queued_at']
        for a in attempts.get(j['id'], []):
            start, stop, worker = a['started_at'] or a['finished_at'], a['finished_at'], a['worker']
            waits.append((waiting_since, start))
            waiting_since = stop
            tip = '%s on %s, %.2f-%.2f s%s' % (a['outcome'], worker or '?', start - t0, stop - t0,
                                               ': %s' % a['error_message'] if a['error_message'] else '')
            died = deaths.get(worker)
            if a['outcome'] == 'LOST' and died is not None and start < died < stop:
                bars.append(bar(start, died, 'LOST', worker, 'ran on %s until it died at %.2f s' % (worker, died - t0)))
                bars.append(bar(died, stop, 'UNHEARD', worker, 'no heartbeat from %s since %.2f s; declared lost at '
                                '%.2f s, when its lease ran out' % (worker, died - t0, stop - t0)))
            else:
                bars.append(bar(start, stop, a['outcome'], worker, tip))
        if is_running(j['state']) and j['started_at']:
            waits.append((waiting_since, j['started_at']))
            bars.append(bar(j['started_at'], end, 'STARTED', j['worker'], 'running on %s since %.2f s' % (
                j['worker'], j['started_at'] - t0)))
        elif j['state'] not in TERMINAL:
            waits.append((waiting_since, end))   # waiting now: for a worker, a retry's delay or its slot
        elif not attempts.get(j['id']) and j['finished_at']:
            waits.append((waiting_since, j['finished_at']))   # revoked before it ran
        lanes.append({'y': 20 + i * lane, 'label': lane_label(i + 1, j), 'id': j['id'], 'state': j['state'],
                      'waits': [{'x1': x(a), 'x2': x(b)} for a, b in waits if b > a], 'bars': bars})
    ticks = [{'x': x(t0 + s), 'label': '%g s' % s} for s in nice_ticks(span)]
    return {'lanes': lanes, 'width': width, 'height': 30 + len(jobs) * lane, 'left': left, 'lane': lane,
            'ticks': ticks, 'end': round(span, 2), 'end_x': x(end),
            'unheard': any(b['outcome'] == 'UNHEARD' for lane in lanes for b in lane['bars']),
            'marks': [{'x': x(m[0]), 'label': m[1]} for m in marks]}


def nice_ticks(span, count=6):
    step = next(s for s in (0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 1e9)
                if span / s <= count)
    return [round(i * step, 2) for i in range(int(span / step) + 1)]


def line_chart(chart, run_s, colours, width=600, height=150, left=60):
    """Polylines for a chart's series on shared axes; a time axis ends at run_s (the run's end, or now)."""
    right = 60 if chart.right else 10
    points = [p for pts in chart.series.values() for p in pts]
    max_x = run_s if chart.x_unit == 's' else max([1] + [p[0] for p in points])
    max_x = max(max_x, 0.1)

    def top(names):
        return max([1] + [p[1] for n in names for p in chart.series[n]])

    max_y = top([n for n in chart.series if n not in chart.right])
    max_r = top(chart.right)
    lines = []
    for name, pts in chart.series.items():
        ceiling = max_r if name in chart.right else max_y
        coords = ' '.join('%.1f,%.1f' % (left + (min(px, max_x) / max_x) * (width - left - right),
                                          10 + height - (py / ceiling) * height) for px, py in pts)
        lines.append({'name': name, 'points': coords, 'n': colours[name] % LINE_COLOURS,
                      'style': chart.styles.get(name, ''), 'right': name in chart.right,
                      'last': pts[-1][1] if pts else None})
    x_label = 'seconds since the run started' if chart.x_unit == 's' else chart.x_unit
    return {'title': chart.title, 'unit': chart.unit, 'lines': lines, 'width': width, 'height': height,
            'left': left, 'right_edge': width - right, 'max_x': round(max_x, 2), 'max_y': max_y, 'max_r': max_r,
            'right_unit': chart.right_unit if chart.right else '', 'x_label': x_label,
            'x_max_label': ('%.1f s' % max_x) if chart.x_unit == 's' else '%g' % max_x}


def workers(lab, ctx, now, killed=()):
    """The scenario's worker processes: alive, stopped or killed (by the pool now, or in the
    run's marks), and what they run."""
    storage = lab.app.query
    rows = storage.sql('SELECT id, pid, queues, started_at, last_seen, stopped_at FROM worker WHERE id LIKE ? '
                       'ORDER BY started_at', ('lab-%s-%%' % ctx.scenario.name,)).fetchall()
    sql, params = lab.queue_filter(ctx.scenario.name)
    running = dict(storage.sql('SELECT worker, COUNT(*) FROM job WHERE %s AND %s GROUP BY worker'
                               % (sql, SQL_RUNNING), params).fetchall())
    out = []
    for name, pid, queues, started, last_seen, stopped in rows:
        proc = lab.pool.procs.get(name)
        code = proc.poll() if proc is not None else None
        status = ('killed (SIGKILL)' if code == -9 or name in killed and code is None and proc is None else 'stopped' if stopped or code is not None
                  else 'running' if now - last_seen < LAB_LEASE else 'silent')
        out.append({'name': name, 'pid': pid, 'queues': queues, 'status': status, 'running': running.get(name, 0),
                    'beat': now - last_seen, 'last_seen': last_seen})
    return out
