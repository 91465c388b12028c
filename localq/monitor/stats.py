"""The dashboard's overview numbers: counts, queues, a per-minute throughput series, workers.

All read from the job rows through indexes, so the numbers survive restarts
and need no counters on the workers' hot path.
"""
import math
import time

from .. import plugins, states
from ..models import QueuePause
from . import errors, jobs
from .listing import BadFilter


def queue_table(app):
    """One row per queue (configured, served by a worker seen today, or holding jobs): waiting
    now, scheduled, running, failed, paused; an empty queue has a row of zeros."""
    storage = app.query
    now = time.time()
    rows = {}

    def row(name):
        return rows.setdefault(name, {'name': name, 'ready': 0, 'scheduled': 0, 'running': 0, 'failed': 0,
                                      'paused': False})

    for name in app.served_queues():   # the queries below add the queues that hold jobs
        row(name)
    for queue, ready, scheduled in storage.sql(
            'SELECT queue, SUM(CASE WHEN eta <= ? THEN 1 ELSE 0 END), SUM(CASE WHEN eta > ? THEN 1 ELSE 0 END) '
            'FROM %s WHERE %s GROUP BY queue' % (storage.table_by('job_claim'), states.SQL_CLAIMABLE), (now, now)):
        row(queue).update(ready=int(ready), scheduled=int(scheduled))
    for queue, n in storage.sql('SELECT queue, COUNT(*) FROM %s WHERE %s GROUP BY queue' % (
            storage.table_by('job_active'), states.SQL_RUNNING)):
        row(queue)['running'] = n
    for queue, n in storage.sql("SELECT queue, COUNT(*) FROM job WHERE state = 'FAILURE' "
                                     'AND finished_at IS NOT NULL GROUP BY queue'):
        row(queue)['failed'] = n
    for pause in QueuePause.select():
        row(pause.name)['paused'] = True
    return sorted(rows.values(), key=lambda r: r['name'])


def throughput(app, minutes=60, now=None, hidden=()):
    """Jobs finished per minute over the last `minutes`: [{'t': minute_start, 'SUCCESS': n, 'FAILURE': n}];
    without the jobs of the hidden queue groups given (plugins.HiddenQueues)."""
    now = time.time() if now is None else now
    end = int(now // 60) * 60 + 60
    start = end - minutes * 60
    series = {start + 60 * i: {'t': start + 60 * i, states.SUCCESS: 0, states.FAILURE: 0} for i in range(minutes)}
    # A range on the (state, finished_at) index per state: cheap however long the history.
    # (CAST truncates on SQLite but rounds on PostgreSQL, hence FLOOR there.)
    to_minute = ('CAST(finished_at / 60 AS INTEGER)' if app.query.is_sqlite else 'FLOOR(finished_at / 60)')
    # The queue is in that index too, so leaving hidden queues out reads no row.
    lab = ''.join(' AND NOT %s' % group.sql for group in hidden)
    for state in (states.SUCCESS, states.FAILURE):
        for minute, n in app.query.sql(
                'SELECT %s * 60, COUNT(*) FROM job ' % to_minute +
                'WHERE state = ? AND finished_at >= ?%s GROUP BY 1' % lab, (state, start)):
            if int(minute) in series:
                series[int(minute)][state] = n
    return [series[t] for t in sorted(series)]


WINDOWS = {'5m': 300, '1h': 3600, '24h': 86400}   # the task statistics' time windows
TASK_STATS_ROWS = 100000   # newest finished jobs read per state: bounded work however busy the window


def percentile(ordered, p):
    """Nearest-rank percentile of an ascending list (None for an empty one)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100.0 * len(ordered)) - 1))]


def task_stats(app, window='1h', now=None):
    """Per task, the jobs finished in the window ('5m', '1h', '24h'): how many, the share that
    succeeded, and the runtime of their last attempt (p50, p95, max), as Flower's task types."""
    if window not in WINDOWS:
        raise BadFilter('window must be one of %s, got %r' % (', '.join(WINDOWS), window))
    now = time.time() if now is None else now
    tasks = {}
    for state in (states.SUCCESS, states.FAILURE):
        # A range on the (state, finished_at) index, newest first.
        for task, runtime in app.query.sql(
                'SELECT task, finished_at - started_at FROM job WHERE state = ? AND finished_at >= ? '
                'ORDER BY finished_at DESC LIMIT ?', (state, now - WINDOWS[window], TASK_STATS_ROWS)):
            t = tasks.setdefault(task, {states.SUCCESS: 0, states.FAILURE: 0, 'runtimes': []})
            t[state] += 1
            if runtime is not None:
                t['runtimes'].append(runtime)
    out = []
    for task, t in sorted(tasks.items()):
        runtimes, finished = sorted(t['runtimes']), t[states.SUCCESS] + t[states.FAILURE]
        out.append({'task': task, 'finished': finished, 'succeeded': t[states.SUCCESS],
                    'failed': t[states.FAILURE], 'success_rate': round(t[states.SUCCESS] / finished, 4),
                    'runtime_p50': percentile(runtimes, 50), 'runtime_p95': percentile(runtimes, 95),
                    'runtime_max': runtimes[-1] if runtimes else None})
    return out


def hidden_counts(app, group):
    """{state: n} of a hidden queue group's jobs (the lab's: a few thousand at most), from its partial index."""
    storage = app.query
    return dict(storage.sql('SELECT state, COUNT(*) FROM %s WHERE %s GROUP BY state' % (
        storage.table_by(group.index), group.sql)).fetchall())


def overview(app, show=()):
    """Everything the overview page shows, as one JSON-able dict. The queues, workers and jobs of
    the plug-ins' hidden queue groups (the lab's) are left out unless the group's name is in show:
    a class's runs would bury the app's own ("1 of 11 online", a batching run's 10,000 jobs
    flattening the app's own bars to the chart's floor). Each group says what was left out
    under its name ('lab': {'shown', 'queues', 'workers', 'jobs'})."""
    queues, workers = queue_table(app), jobs.list_workers(app)
    counts = jobs.count_by_state(app)
    groups, hidden = {}, []
    for group in plugins.hidden_queues(app):
        in_group = hidden_counts(app, group)
        group_queues = [q for q in queues if group.holds(q['name'])]
        group_workers = [w for w in workers if w['queues'] and all(group.holds(q) for q in w['queues'])]
        groups[group.name] = {'shown': group.name in show, 'queues': len(group_queues),
                              'workers': len(group_workers), 'jobs': sum(in_group.values())}
        if group.name not in show:
            hidden.append(group)
            queues = [q for q in queues if q not in group_queues]
            workers = [w for w in workers if w not in group_workers]
            counts = {s: n - in_group.get(s, 0) for s, n in counts.items() if n > in_group.get(s, 0)}
    custom = {s: n for s, n in counts.items() if s not in states.BUILTIN}
    series = throughput(app, hidden=hidden)
    last = series[-1] if series else {}
    return dict(groups, **{
        'counts': {s: counts.get(s, 0) for s in states.BUILTIN},
        'running_states': custom,
        'running_total': counts.get(states.STARTED, 0) + sum(custom.values()),
        'total': sum(counts.values()),
        'queues': queues,
        'throughput': series,
        'last_minute': {'succeeded': last.get(states.SUCCESS, 0), 'failed': last.get(states.FAILURE, 0)},
        'workers': workers,
        'error_groups': errors.error_groups(app, limit=3),   # the top three: the /errors page has the rest
        'hidden': [dict(groups[g.name], name=g.name, label=g.label, short=g.short) for g in plugins.hidden_queues(app)],
        'now': time.time(),
    })
