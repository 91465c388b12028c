"""HTML pages: overview, jobs list, job detail (the forms that change jobs post to web/actions.py).

Live regions are the same templates rendered without the page around them
(?partial=1): static/live.js swaps them in every few seconds unless paused.
"""
import time

from flask import Blueprint, abort, current_app, render_template, request

from .. import replay, states
from ..monitor import data, errors, jobs, stats
from ..monitor.listing import RUNNING, JobFilter, page_jobs

bp = Blueprint('pages', __name__)

TABS = (states.WAITING, states.PENDING, RUNNING, states.RETRY, states.SUCCESS, states.FAILURE, states.REVOKED)


def localq_app():
    return current_app.extensions['localq']


def partial():
    return request.args.get('partial') == '1'


@bp.get('/')
def overview():
    """Counts, queues, throughput and failures per minute, workers: the page Flower would be."""
    data = stats.overview(localq_app(), show=[k for k, v in request.args.items() if v == '1'])
    return render_template('localq/_overview.html' if partial() else 'localq/overview.html', o=data)


def chart(series, width=600, height=130, left=40):
    """Bar geometry for the throughput chart: succeeded stacked on failed, per minute."""
    peak = max([1] + [p[states.SUCCESS] + p[states.FAILURE] for p in series])
    peak_label = '{:,}/min'.format(peak)
    left = max(left, 10 * len(peak_label) + 10)   # room for the y-axis label (16 px digits), however many
    step = (width - left) / max(1, len(series))
    bars = []
    for i, p in enumerate(series):
        h_bad = height * p[states.FAILURE] / peak
        h_ok = height * p[states.SUCCESS] / peak
        base = height + 10
        bars.append({'t': p['t'], 'ok': p[states.SUCCESS], 'bad': p[states.FAILURE], 'x': round(left + i * step, 1),
                     'w': round(max(1.0, step - 2), 1), 'y_bad': round(base - h_bad, 1), 'h_bad': round(h_bad, 1),
                     'y_ok': round(base - h_bad - h_ok, 1), 'h_ok': round(h_ok, 1)})
    return {'bars': bars, 'peak': peak, 'peak_label': peak_label, 'width': width, 'height': height, 'left': left,
            'start': series[0]['t'] if series else 0}


@bp.get('/jobs')
def job_list():
    """State tabs with counts, filters, keyset pages, bulk actions."""
    app = localq_app()
    job_filter = JobFilter.from_args(request.args, jobs.running_states(app))
    page = page_jobs(job_filter, cursor=request.args.get('cursor'), limit=50)
    rows = [jobs.job_to_dict(row, app) for row in page.rows]
    paused, now = set(app.paused_queues()), time.time()
    for job in rows:
        job['why'] = jobs.short_wait(job, paused, now)
    context = dict(rows=rows, page=page, f=job_filter, first_page=not request.args.get('cursor'))
    if partial():  # a live refresh redraws the rows only: no counts to compute
        return render_template('localq/_job_rows.html', **context)
    counts = jobs.count_by_state(app)
    tab_counts = {tab: counts.get(tab, 0) for tab in TABS}
    tab_counts[RUNNING] = sum(n for s, n in counts.items() if states.is_running(s))
    context.update(counts=tab_counts, total=sum(counts.values()), tabs=TABS, task_names=sorted(app.tasks),
                   queue_names=app.config.queue_list)
    return render_template('localq/jobs.html', **context)


@bp.get('/errors')
def error_groups():
    """Failures in groups: one bug is one row, with its count, trend, tasks and an example."""
    group = request.args.get('group') or None
    found = errors.error_groups(localq_app(), group=group)
    if group and not found:
        abort(404, description='no failed job is in error group %r (retried, discarded or pruned?)' % group)
    return render_template('localq/errors.html', groups=found, one=bool(group), now=time.time())


@bp.get('/task-stats')
def task_stats():
    """Per task: finished, success rate, runtime p50/p95/max over 5 minutes, an hour or a day."""
    window = request.args.get('window', '1h')
    return render_template('localq/task_stats.html', rows=stats.task_stats(localq_app(), window),
                           window=window, windows=list(stats.WINDOWS))


@bp.get('/data')
def data_tables():
    """The app's registered Peewee models: row counts, each a link to its rows."""
    return render_template('localq/data.html', tables=data.list_tables(localq_app()))


@bp.get('/data/<table>')
def data_rows(table):
    """One table's rows, newest first, filtered by ?column=...&value=..., paged by ?before=."""
    args = request.args
    page = data.table_rows(localq_app(), table, args.get('column'), args.get('value'), args.get('before'))
    return render_template('localq/data_rows.html', page=page, column=args.get('column') or '',
                           value=args.get('value') or '')


@bp.get('/jobs/<job_id>')
def job_detail(job_id):
    """One job: arguments, result, progress, why it waits, its timeline and every attempt."""
    app = localq_app()
    job = jobs.get_job(job_id, with_attempts=True, app=app)
    story = jobs.attempt_story(job)
    context = dict(job=job, why=jobs.explain_wait(app, job), tries=jobs.attempts_text(app, job),
                   story=story, events=jobs.timeline(job, story), workflow=jobs.workflow_of(app, job),
                   revoked=jobs.revoke_reason(job) if job['state'] == states.REVOKED else None,
                   guarded=data.guarded_rows(app, job),
                   replay_command=replay.command_line(getattr(app, 'import_spec', None), job_id))
    return render_template('localq/_job.html' if partial() else 'localq/job_detail.html', **context)


