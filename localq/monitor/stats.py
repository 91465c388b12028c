"""The dashboard's overview numbers: counts, queues, a per-minute throughput series, workers.

All read from the job rows through indexes, so the numbers survive restarts
and need no counters on the workers' hot path.
"""
import math
import time

from .. import states
from ..models import SQL_LAB_QUEUES, QueuePause
from . import jobs
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
    for queue, n in storage.sql("SELECT queue, COUNT(*) FROM job WHERE state = 'FAILURE' GROUP BY queue"):
        row(queue)['failed'] = n
    for pause in QueuePause.select():
        row(pause.name)['paused'] = True
    return sorted(rows.values(), key=lambda r: r['name'])


def throughput(app, minutes=60, now=None, with_lab=True):
    """Jobs finished per minute over the last `minutes`: [{'t': minute_start, 'SUCCESS': n, 'FAILURE': n}];
    without the lab's jobs unless with_lab."""
    now = time.time() if now is None else now
    end = int(now // 60) * 60 + 60
    start = end - minutes * 60
    series = {start + 60 * i: {'t': start + 60 * i, states.SUCCESS: 0, states.FAILURE: 0} for i in range(minutes)}
    # A range on the (state, finished_at) index per state: cheap however long the history.
    # (CAST truncates on SQLite but rounds on PostgreSQL, hence FLOOR there.)
    to_minute = ('CAST(finished_at / 60 AS INTEGER)' if app.query.is_sqlite else 'FLOOR(finished_at / 60)')
    # The queue is in that index too, so leaving the lab out reads no row.
    lab = '' if with_lab else ' AND NOT %s' % SQL_LAB_QUEUES
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


def is_lab_queue(name):
    """The classroom lab's queues (lab.<scenario>, served only by the lab's own workers)."""
    return name == 'lab' or name.startswith('lab.')


def lab_counts(app):
    """{state: n} of the classroom lab's jobs (a few thousand at most: each run clears the last)."""
    storage = app.query
    return dict(storage.sql('SELECT state, COUNT(*) FROM %s WHERE %s GROUP BY state' % (
        storage.table_by('job_lab'), SQL_LAB_QUEUES)).fetchall())


def overview(app, with_lab=False):
    """Everything the overview page shows, as one JSON-able dict. The lab's queues, workers and
    jobs are left out unless with_lab: a class's runs would bury the app's own ("1 of 11 online",
    a batching run's 10,000 jobs flattening the app's own bars to the chart's floor)."""
    queues, workers = queue_table(app), jobs.list_workers(app)
    lab_queues = [q for q in queues if is_lab_queue(q['name'])]
    lab_workers = [w for w in workers if w['queues'] and all(is_lab_queue(q) for q in w['queues'])]
    counts, in_lab = jobs.count_by_state(app), lab_counts(app)
    if not with_lab:
        queues = [q for q in queues if q not in lab_queues]
        workers = [w for w in workers if w not in lab_workers]
        counts = {s: n - in_lab.get(s, 0) for s, n in counts.items() if n > in_lab.get(s, 0)}
    custom = {s: n for s, n in counts.items() if s not in states.BUILTIN}
    series = throughput(app, with_lab=with_lab)
    last = series[-1] if series else {}
    return {
        'counts': {s: counts.get(s, 0) for s in states.BUILTIN},
        'running_states': custom,
        'running_total': counts.get(states.STARTED, 0) + sum(custom.values()),
        'total': sum(counts.values()),
        'queues': queues,
        'throughput': series,
        'last_minute': {'succeeded': last.get(states.SUCCESS, 0), 'failed': last.get(states.FAILURE, 0)},
        'workers': workers,
        'lab': {'shown': with_lab, 'queues': len(lab_queues), 'workers': len(lab_workers),
                'jobs': sum(in_lab.values())},
        'now': time.time(),
    }
