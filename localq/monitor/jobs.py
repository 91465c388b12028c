"""Reading jobs as plain dicts: what the web pages, the API and the CLI share (read-only: what a
user changes goes through localq.actions and the lifecycle)."""
import json
import time

from .. import replay, states
from ..errors import JobNotFound
from ..models import Attempt, Job
from . import redact


def _loads(text):
    return json.loads(text) if text else None


def progress_of(meta):
    """Percent done from update_state()'s meta: its 'progress', or Celery's documented idiom
    meta={'current': 3, 'total': 10}; None if it says neither."""
    if not isinstance(meta, dict):
        return None
    if isinstance(meta.get('progress'), (int, float)):
        return meta['progress']
    current, total = meta.get('current'), meta.get('total')
    if isinstance(current, (int, float)) and isinstance(total, (int, float)) and total > 0:
        return max(0, min(100, round(100.0 * current / total)))
    return None


def job_to_dict(job, app=None):
    """A job row as people see it. With the app, secret-looking arguments are masked (redact.py)."""
    meta = _loads(job.meta)
    progress = progress_of(meta)
    if job.state == states.SUCCESS:
        # Its last update_state() was a running step ("storing", 80): finished, it is done.
        progress = 100
        if isinstance(meta, dict) and ('progress' in meta or 'step' in meta):
            meta = dict(meta, progress=100, step='done')
    args, kwargs, result = _loads(job.args), _loads(job.kwargs), _loads(job.result)
    if app is not None:
        task = app.tasks.get(job.task)
        args, kwargs = redact.mask_arguments(task and task.func, args, kwargs,
                                             bound=bool(task and task.options.bind))
        meta, result = redact.mask_value(meta), redact.mask_value(result)
    return {
        'id': job.id, 'task': job.task, 'queue': job.queue, 'priority': job.priority,
        'state': job.state, 'args': args, 'kwargs': kwargs,
        'meta': meta, 'progress': progress, 'result': result,
        'error_type': job.error_type, 'error_message': job.error_message,
        'traceback': job.traceback,  # None in list rows, which do not select it
        'attempts': job.attempts, 'max_retries': job.max_retries, 'acks_late': job.acks_late,
        'queued_at': job.queued_at, 'eta': job.eta, 'started_at': job.started_at,
        'finished_at': job.finished_at, 'worker': job.worker, 'wait_reason': job.wait_reason,
        'idempotency_key': job.idempotency_key,
        'concurrency_key': job.concurrency_key, 'concurrency_limit': job.concurrency_limit,
        'root_id': job.root_id, 'parent_id': job.parent_id, 'group_id': job.group_id,
        'group_index': job.group_index, 'waits_for': job.waits_for,
    }


def get_job(job_id, with_attempts=False, app=None):
    """The job as a dict (with its attempts if asked); raises JobNotFound."""
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise JobNotFound(job_id)
    d = job_to_dict(job, app)
    if with_attempts:
        d['attempt_rows'] = [{
            'number': a.number, 'worker': a.worker, 'started_at': a.started_at,
            'finished_at': a.finished_at, 'outcome': a.outcome, 'error_type': a.error_type,
            'error_message': a.error_message, 'traceback': a.traceback,
        } for a in Attempt.select().where(Attempt.job == job_id).order_by(Attempt.number, Attempt.id)]
    return d


def export_job(app, job_id, masked=True):
    """The job as one JSON document to keep or share (the job page's download): its row and every
    attempt with its traceback, the task's options, the command that replays it, the versions.
    masked: secret-looking arguments hidden, as on every page."""
    job = get_job(job_id, with_attempts=True, app=app if masked else None)
    task = app.tasks.get(job['task'])
    return {'job': job, 'task_options': replay.task_options(task) if task else None,
            'replay': replay.command_line(getattr(app, 'import_spec', None), job_id), 'versions': replay.versions()}


def workflow_of(app, job):
    """The workflow a job belongs to, for its page: every member with its step, state and links.

    Steps follow the links: a member with no parent is step 1; one that waits for a job or a
    group comes one step after it. None for a job outside any workflow."""
    if not job['root_id']:
        return None
    rows = (Job.select(Job.id, Job.task, Job.state, Job.parent_id, Job.group_id, Job.group_index, Job.waits_for,
                       Job.wait_reason, Job.queued_at)
            .where(Job.root_id == job['root_id']).order_by(Job.queued_at, Job.group_index, Job.id))
    members = [{'id': r.id, 'task': r.task, 'state': r.state, 'parent_id': r.parent_id, 'group_id': r.group_id,
                'group_index': r.group_index, 'waits_for': r.waits_for, 'wait_reason': r.wait_reason} for r in rows]
    by_id = {m['id']: m for m in members}
    groups = {}
    for m in members:
        if m['group_id']:
            groups.setdefault(m['group_id'], []).append(m)
    names = {gid: 'group %d' % (n + 1) for n, gid in enumerate(groups)}

    def step(m, seen=()):
        if 'step' not in m:
            parents = [by_id[m['parent_id']]] if m['parent_id'] in by_id else groups.get(m['parent_id'], [])
            m['step'] = 1 + max([step(p, seen + (m['id'],)) for p in parents if p['id'] not in seen] or [0])
        return m['step']
    for m in members:
        step(m)
        m['group'] = names.get(m['group_id'])
        m['after'] = ('job %s' % m['parent_id'][:8] if m['parent_id'] in by_id
                      else names.get(m['parent_id']) if m['parent_id'] else None)
    members.sort(key=lambda m: (m['step'], m['group_index'] or 0, m['id']))
    return {'root_id': job['root_id'], 'members': members,
            'done': sum(m['state'] in states.TERMINAL for m in members)}


def running_states(app):
    """The custom progress states (PROCESSING, ...) running jobs report now (a few rows, by index)."""
    storage = app.query
    return [s for s, in storage.sql('SELECT DISTINCT state FROM %s WHERE %s' % (
        storage.table_by('job_active'), states.SQL_RUNNING)) if s not in states.BUILTIN]


def count_by_state(app):
    """{state: n} for every state present, custom progress states included.

    A GROUP BY over a million rows reads every index entry (~0.4 s). Instead,
    in one read snapshot: COUNT(*) of the table (SQLite counts b-tree pages
    without decoding rows), the small states through their indexes, and
    SUCCESS, usually the bulk, as the remainder."""
    storage = app.query
    with storage.database.atomic():
        total = storage.sql('SELECT COUNT(*) FROM job').fetchone()[0]
        counts = dict(storage.sql('SELECT state, COUNT(*) FROM job WHERE %s GROUP BY state' % states.SQL_CLAIMABLE)
                      .fetchall())
        counts.update(storage.sql('SELECT state, COUNT(*) FROM %s WHERE %s GROUP BY state' % (
            storage.table_by('job_active'), states.SQL_RUNNING)).fetchall())
        for state in (states.FAILURE, states.REVOKED):   # from the finished jobs' index (job_finished)
            counts[state] = storage.sql('SELECT COUNT(*) FROM job WHERE state = ? AND finished_at IS NOT NULL',
                                        (state,)).fetchone()[0]
        counts[states.WAITING] = storage.sql("SELECT COUNT(*) FROM job WHERE state = 'WAITING'").fetchone()[0]
    counts[states.SUCCESS] = total - sum(counts.values())
    return {s: n for s, n in counts.items() if n}


def list_workers(app, now=None, recent=86400.0):
    """Workers seen in the last day, online first: heartbeat age and what each one runs now."""
    from ..models import WorkerRecord
    now = time.time() if now is None else now
    lease_timeout = app.config.lease_timeout
    storage = app.query
    running = {}
    for job_id, task, state, worker, started in storage.sql(
            'SELECT id, task, state, worker, started_at FROM %s WHERE %s' % (
                storage.table_by('job_active'), states.SQL_RUNNING)):
        running.setdefault(worker, []).append({'id': job_id, 'task': task, 'state': state, 'started_at': started})
    workers = []
    for w in (WorkerRecord.select().where(WorkerRecord.last_seen > now - recent)
              .order_by(WorkerRecord.host, WorkerRecord.id)):
        online = w.stopped_at is None and now - w.last_seen < lease_timeout
        workers.append({'id': w.id, 'host': w.host, 'pid': w.pid, 'queues': w.queues.split(','),
                        'concurrency': w.concurrency, 'type': w.worker_type, 'last_seen': w.last_seen,
                        'heartbeat_age': round(now - w.last_seen, 1), 'started_at': w.started_at,
                        'stopped_at': w.stopped_at, 'online': online, 'stop_requested': w.stop_requested,
                        'running': running.get(w.id, []) if online else []})
    workers.sort(key=lambda w: not w['online'])
    return workers


def attempts_text(app, job):
    """How many times the job ran and what happens next, in words (the job page's Attempts row)."""
    n, most = job['attempts'], job['max_retries'] + 1
    state = job['state']
    if state == states.SUCCESS:
        return '%d (succeeded on attempt %d)' % (n, n)
    if state == states.RETRY:
        return '%d of up to %d: attempt %d comes next' % (n, most, n + 1)
    if state == states.REVOKED:
        return '%d: revoked, no more attempts' % n
    if state != states.FAILURE:
        return '%d of up to %d' % (n, most)
    if most == 1:
        return '%d: failed for good (the task allows no retries: max_retries=0)' % n
    if n >= most:
        return '%d of %d: every retry used, failed for good' % (n, most)
    error = job['error_type'] or ''
    if error == 'localq.errors.WorkerLost':
        return '%d: failed for good, not retried (its worker was lost, and the task is not acks_late)' % n
    if error == 'localq.errors.NotRegistered':
        return '%d: failed for good, not retried (no worker has this task)' % n
    task = app.tasks.get(job['task']) if app is not None else None
    retried_on = [e.__name__ for e in (task.options.autoretry_for if task else ())]
    if retried_on:
        return '%d: failed for good, not retried (%s is not one of autoretry_for: %s)' % (
            n, (error or 'its error').rsplit('.', 1)[-1], ', '.join(retried_on))
    if task is not None:
        return '%d: failed for good, not retried (the task has no autoretry_for, and did not call self.retry())' % n
    return '%d: failed for good, not retried (only autoretry_for errors and self.retry() retry a task)' % n


def wait_kind(job, paused, now):
    """Why an unfinished job is not running, as one word, in the order a worker meets the
    reasons: 'workflow', 'paused', 'rate-limited', 'retry', 'scheduled' or 'ready' (None for a
    job that runs or has finished). The job list, the API and the job page all start here."""
    if job['state'] == states.WAITING:
        return 'workflow'
    if job['state'] not in states.READY_TO_CLAIM:
        return None
    if job['queue'] in paused:
        return 'paused'
    if job['eta'] > now:
        if job['wait_reason'] == 'rate-limited':
            return 'rate-limited'
        return 'retry' if job['state'] == states.RETRY else 'scheduled'
    return 'ready'


def short_wait(job, paused, now):
    """wait_kind in a few words, for a row of the job list."""
    kind = wait_kind(job, paused, now)
    due = 'in %s' % human_seconds(job['eta'] - now) if job['eta'] > now else ''
    return {'workflow': 'waits for its workflow parent', 'paused': "queue '%s' is paused" % job['queue'],
            'rate-limited': 'rate-limited, next slot ' + due, 'retry': 'retry %d due %s' % (job['attempts'], due),
            'scheduled': 'scheduled, due ' + due, 'ready': 'ready, waiting for a worker'}.get(kind)


def explain_wait(app, job, now=None, paused=None):
    """Why a job that has not finished is not running yet, in a sentence, or None: wait_kind,
    and for a ready job whether any worker serves its queue and how many jobs are ahead."""
    from datetime import datetime
    now = time.time() if now is None else now
    kind = wait_kind(job, set(app.paused_queues()) if paused is None else paused, now)

    def at(ts):
        return datetime.fromtimestamp(ts).strftime('%H:%M:%S') + ' (in %s)' % human_seconds(ts - now)

    if kind is None:
        return None
    if kind == 'workflow':
        return waiting_for(app, job)
    if kind == 'paused':
        return "Queue '%s' is paused: no worker takes its jobs until it is resumed." % job['queue']
    if kind == 'rate-limited':
        return 'Rate-limited: its next start slot is at %s.' % at(job['eta'])
    if kind == 'retry':
        return 'Retry %d of %d is scheduled at %s, after %s.' % (
            job['attempts'], job['max_retries'], at(job['eta']), job['error_type'] or 'an error')
    if kind == 'scheduled':
        return 'Scheduled (countdown/eta) to run at %s.' % at(job['eta'])
    online = [w for w in list_workers(app, now) if w['online']]
    serving = [w for w in online if job['queue'] in w['queues']]
    # Whether a running worker has its task: one that lacks it never takes it (claim_filter).
    missing = app.missing_task_note(job['task'], now) if online else None
    if not serving:
        return "Ready, but no worker online serves queue '%s'. Start one: localq worker -Q %s%s" % (
            job['queue'], job['queue'], ('. ' + missing) if missing else '')
    if missing:
        return missing
    if job.get('concurrency_key'):
        holders = [r[0] for r in app.query.sql(
            "SELECT id FROM job WHERE concurrency_key = ? AND state = 'STARTED' AND lease_until > ? "
            'ORDER BY started_at', (job['concurrency_key'], now)).fetchall()]
        if len(holders) >= (job['concurrency_limit'] or 1):
            return "Waits for concurrency key '%s' (limit %d): held by job(s) %s." % (
                job['concurrency_key'], job['concurrency_limit'], ', '.join(holders))
    ahead = app.query.sql(
        'SELECT COUNT(*) FROM job WHERE %s AND queue = ? AND eta <= ? AND id != ? '
        'AND (priority > ? OR (priority = ? AND eta < ?))' % states.SQL_CLAIMABLE,
        (job['queue'], now, job['id'], job['priority'], job['priority'], job['eta'])).fetchone()[0]
    return 'Ready: %d job(s) ahead of it in queue %s, %d worker(s) serving it.' % (
        ahead, job['queue'], len(serving))


def waiting_for(app, job):
    """Why a WAITING workflow member waits, in a sentence."""
    parent = Job.get_or_none(Job.id == job['parent_id'])
    if parent is not None:
        return 'Waits for job %s (%s, now %s): it runs once that job has succeeded, given its result.' % (
            parent.id, parent.task, parent.state)
    members = Job.select().where(Job.group_id == job['parent_id']).count()
    return ('Waits for %d of the %d jobs of its group: it runs once all have succeeded, given the list '
            'of their results.' % (job['waits_for'], members))


def human_seconds(seconds):
    seconds = max(0.0, seconds)
    if seconds < 1:
        return '%d ms' % (seconds * 1000)
    if seconds < 120:
        return '%.1f s' % seconds
    if seconds < 7200:
        return '%d min' % (seconds // 60)
    return '%.1f h' % (seconds / 3600)


def revoke_reason(job):
    """Why a REVOKED job ended, in words. A job revoked while it ran carries the bare exception
    that stopped it (`localq.errors.Revoked`, no message); the page said only that, and a traceback."""
    if job['error_message']:
        return job['error_message']
    if job['wait_reason']:
        return job['wait_reason']
    if job['attempts']:
        return 'revoked by a user while it ran on %s: its worker stopped it' % (job['worker'] or 'a worker')
    return 'revoked before it ran'


def attempt_story(job, now=None):
    """Every attempt of a job, the running one too, each with the wait before it: in the queue
    before the first, a retry's delay (or a lost run's way back to the queue) before the others.

    A lost attempt's time runs to its worker's last heartbeat (its death, as near as is known), not
    to the moment another worker noticed, a lease later."""
    now = time.time() if now is None else now
    rows = [dict(a) for a in job.get('attempt_rows', [])]
    if states.is_running(job['state']) and job['started_at']:
        rows.append({'number': job['attempts'], 'worker': job['worker'], 'started_at': job['started_at'],
                     'finished_at': None, 'outcome': job['state'], 'error_type': None, 'error_message': None,
                     'traceback': None, 'running': True})
    lost_workers = {a['worker'] for a in rows if a['outcome'] == 'LOST' and a['worker']}
    last_seen = {}
    if lost_workers:
        from ..models import WorkerRecord
        last_seen = dict(WorkerRecord.select(WorkerRecord.id, WorkerRecord.last_seen)
                         .where(WorkerRecord.id.in_(list(lost_workers))).tuples())
    waited_since = job['queued_at']
    for n, a in enumerate(rows):
        start = a['started_at'] or a['finished_at']
        a['wait'] = max(0.0, start - waited_since)
        before = rows[n - 1]['outcome'] if n else None
        a['wait_kind'] = ('in the queue' if n == 0 else 'for the retry' if before == states.RETRY
                          else 'back in the queue after it was lost' if before == 'LOST'
                          else 'in the queue again')   # re-queued by a user
        a['running'] = a.get('running', False)
        end = now if a['running'] else a['finished_at']
        if a['outcome'] == 'LOST':
            seen = last_seen.get(a['worker'])
            if seen is not None and start <= seen < end:
                a['died_at'] = end = seen
        a['took'] = max(0.0, end - start) if a['started_at'] else None
        waited_since = a['finished_at'] or now
    return rows


def timeline(job, story=None):
    """The job's events, oldest first: queued, scheduled, each attempt's start (with the wait before
    it: in the queue, or for a retry) and end, the running one, what comes next."""
    story = attempt_story(job) if story is None else story
    events = [{'at': job['queued_at'], 'what': 'queued', 'detail': 'on queue %s, priority %d' % (
        job['queue'], job['priority']), 'kind': 'PENDING'}]
    if job['eta'] and job['eta'] > job['queued_at'] + 0.5 and not story:
        events.append({'at': job['eta'], 'what': 'due', 'detail': job['wait_reason'] or 'scheduled',
                       'kind': 'PENDING'})
    for a in story:
        if a['started_at']:
            events.append({'at': a['started_at'], 'what': 'attempt %d started' % a['number'],
                           'detail': 'on %s, after %s %s' % (a['worker'] or '?', human_seconds(a['wait']),
                                                              a['wait_kind']), 'kind': 'STARTED'})
        if a['running']:
            events.append({'at': a['started_at'], 'what': 'attempt %d running for %s' % (
                a['number'], human_seconds(a['took'])), 'detail': 'now %s' % a['outcome'], 'kind': 'STARTED'})
            events[-1]['at'] += 1e-6   # after its start
            continue
        if 'died_at' in a:
            events.append({'at': a['died_at'], 'what': 'attempt %d lost after %s' % (a['number'], human_seconds(
                a['took'])), 'detail': "the last heartbeat of %s: it died" % a['worker'], 'kind': 'LOST'})
            events.append({'at': a['finished_at'], 'what': 'declared lost', 'detail': 'its lease ran out, %s later'
                           % human_seconds(a['finished_at'] - a['died_at']), 'kind': 'LOST'})
            continue
        detail = '%s: %s' % (a['error_type'], a['error_message']) if a['error_type'] else ''
        if a['outcome'] == states.REVOKED:
            detail = revoke_reason(job)
        took = ' after %s' % human_seconds(a['took']) if a['took'] is not None else ''
        events.append({'at': a['finished_at'], 'what': 'attempt %d %s%s' % (a['number'], a['outcome'].lower(), took),
                       'detail': detail, 'kind': a['outcome']})
    if job['state'] == states.RETRY and job['eta']:
        events.append({'at': job['eta'], 'what': 'next attempt due', 'detail': job['wait_reason'] or '',
                       'kind': 'RETRY'})
    ended = [a for a in story if not a['running']]
    if job['state'] in states.TERMINAL and job['finished_at'] and (
            job['state'] == states.REVOKED and not any(a['outcome'] == states.REVOKED for a in ended) or not ended):
        events.append({'at': job['finished_at'], 'what': job['state'].lower(),
                       'detail': revoke_reason(job) if job['state'] == states.REVOKED else job['wait_reason'] or '',
                       'kind': job['state']})
    events.sort(key=lambda e: e['at'])
    for e in events:
        e['offset'] = '+' + human_seconds(e['at'] - job['queued_at'])
    return events
