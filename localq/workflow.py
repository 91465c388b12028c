"""How a queued workflow moves (plan.py writes it): release, cancel, errbacks, re-arm.

Every member of a chain, group or chord has its Job row from the start. A member that
needs other jobs' results is WAITING, with `parent_id` (the job whose result it takes, or
the group whose results it takes as a list) and `waits_for` (how many of them must still
succeed). These functions run inside the transaction that writes the parent's outcome,
so a worker killed between the two loses neither: both commit or neither does.

Why not Huey's own pipelines (Task.then) and chords: Huey appends a result as the last
argument (and merges a dict result into the kwargs) where Celery prepends it as the
first; it queues the next step after the outcome is stored, in a separate step a crash
can cut; and its chord hands failed members' errors to the body, where Celery fails the
chord. Rows for all members also make the whole workflow visible and revocable.
"""
import json

from . import counters, states
from .canvas import signature
from .plan import Member, errback_call, member_columns

MAX_REASON = 200   # job.wait_reason's length


def release_dependents(storage, job_id, group_id, result_text, now):
    """job_id succeeded: members waiting for it get its result as their first argument, and
    members waiting for its group get the group's results (in order) once all have succeeded.
    Returns the ids released (now PENDING)."""
    rows = storage.sql(
        "UPDATE job SET waits_for = waits_for - 1 WHERE state = 'WAITING' AND parent_id IN (?, ?) "
        'RETURNING id, parent_id, waits_for, message', (job_id, group_id or job_id)).fetchall()
    released = []
    for child_id, parent_id, left, message in rows:
        if left > 0:
            continue
        if parent_id == job_id:
            value = json.loads(result_text) if result_text is not None else None
        else:
            value = group_results(storage, parent_id)
        release(storage, child_id, message, value, now)
        released.append(child_id)
    return released


def group_results(storage, group_id):
    """The results of a group's members, in the order they were given."""
    return [json.loads(r) if r is not None else None for r, in storage.sql(
        'SELECT result FROM job WHERE group_id = ? ORDER BY group_index', (group_id,))]


def release(storage, job_id, message_text, value, now):
    """WAITING -> PENDING, with the parents' value prepended to its arguments (unless immutable, .si())."""
    body = json.loads(message_text)
    m = body['m']
    if not (body.get('w') or {}).get('immutable'):
        m['args'] = [value] + list(m['args'])
    m['eta'] = None
    storage.sql("UPDATE job SET state = 'PENDING', eta = ?, message = ?, args = ?, wait_reason = NULL "
                "WHERE id = ? AND state = 'WAITING'",
                (now, json.dumps(body, separators=(',', ':')), json.dumps(m['args']), job_id))


def cancel_dependents(storage, job_id, group_id, why, error, now):
    """job_id ended without a result (FAILURE, REVOKED): every member waiting on it, directly or
    through other members, ends REVOKED carrying the cause, so its .get() raises that error.
    Returns the ids cancelled."""
    frontier = [p for p in (job_id, group_id) if p]
    cancelled = []
    error_type, message, traceback = error
    while frontier:
        rows = storage.sql(
            "UPDATE job SET state = 'REVOKED', finished_at = ?, wait_reason = ?, error_type = ?, "
            "error_message = ?, traceback = ? WHERE state = 'WAITING' AND parent_id IN (%s) "
            'RETURNING id, group_id, task' % ','.join('?' * len(frontier)),
            (now, why[:MAX_REASON], error_type, message, traceback) + tuple(frontier)).fetchall()
        counters.count_unrun(storage, [r[2] for r in rows], states.REVOKED)
        cancelled += [r[0] for r in rows]
        frontier = sorted({r[0] for r in rows} | {r[1] for r in rows if r[1]})
    return cancelled


def is_cancelled_member(state, wait_reason):
    """A member that never ran because a job it waited for failed or was revoked."""
    return state == states.REVOKED and (wait_reason or '').startswith('not run:')


def not_run_reason(task, job_id, state):
    return 'not run: %s %s %s' % (task, job_id, 'failed' if state == states.FAILURE else 'was revoked')


def after_final(app, job_id, task, state, workflow, error, now):
    """In the transaction that ends a workflow member without a result: cancel what waits on it;
    for a FAILURE also queue its errbacks (link_error). Returns the ids cancelled."""
    workflow = workflow or {}
    cancelled = cancel_dependents(app.huey.storage, job_id, workflow.get('group'),
                                  not_run_reason(task, job_id, state), error, now)
    if state == states.FAILURE:
        for errback in workflow.get('errbacks') or ():
            queue_errback(app, errback, job_id, workflow.get('root') or job_id)
    return cancelled


def rearm_dependents(storage, job_id, group_id):
    """job_id is queued again by a user: the members it left cancelled wait for it again
    (and for their other parents). Returns the ids re-armed."""
    frontier = [p for p in (job_id, group_id) if p]
    rearmed = []
    while frontier:
        rows = storage.sql(
            "SELECT id, parent_id, group_id FROM job WHERE state = 'REVOKED' AND substr(wait_reason, 1, 8) = "
            "'not run:' AND parent_id IN (%s)" % ','.join('?' * len(frontier)), tuple(frontier)).fetchall()
        for member_id, parent_id, _ in rows:
            waits = storage.sql("SELECT COUNT(*) FROM job WHERE group_id = ? AND state != 'SUCCESS'",
                                (parent_id,)).fetchone()[0] or 1   # a group's unfinished members, or 1 job
            storage.sql("UPDATE job SET state = 'WAITING', waits_for = ?, finished_at = NULL, wait_reason = NULL, "
                        'error_type = NULL, error_message = NULL, traceback = NULL WHERE id = ?', (waits, member_id))
            rearmed.append(member_id)
        frontier = sorted({r[0] for r in rows} | {r[2] for r in rows if r[2]})
    return rearmed


def queue_errback(app, errback, failed_id, root):
    """Queue a link_error for a failed job, in the transaction that records the failure."""
    errback = signature(errback)
    args, marker = errback_call(errback, failed_id)
    options = {k: v for k, v in errback.options.items() if k not in ('link', 'link_error')}
    columns = dict(member_columns(Member(errback, None, {}), root), parent_id=failed_id)
    return app.enqueue_call(errback.name, args, errback.kwargs, options, workflow=dict(marker, root=root),
                            member=columns, checked=True)
