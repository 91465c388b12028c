"""How a queued workflow moves (plan.py writes it); lifecycle.py makes the moves.

Every member of a chain, group or chord has its Job row from the start. A member that
needs other jobs' results is WAITING, with `parent_id` (the job whose result it takes, or
the group whose results it takes as a list) and `waits_for` (how many of them must still
succeed). lifecycle.py releases, cancels and re-arms them inside the transaction that writes
the parent's outcome, with the helpers here (the value a member takes, errbacks),
so a worker killed between the two loses neither: both commit or neither does.

Why not Huey's own pipelines (Task.then) and chords: Huey appends a result as the last
argument (and merges a dict result into the kwargs) where Celery prepends it as the
first; it queues the next step after the outcome is stored, in a separate step a crash
can cut; and its chord hands failed members' errors to the body, where Celery fails the
chord. Rows for all members also make the whole workflow visible and revocable.
"""
import json

from . import states
from .canvas import signature
from .plan import Member, errback_call, member_columns

MAX_REASON = 200   # job.wait_reason's length


def group_results(q, group_id):
    """The results of a group's members, in the order they were given."""
    return [json.loads(r) if r is not None else None for r, in q.sql(
        'SELECT result FROM job WHERE group_id = ? ORDER BY group_index', (group_id,))]


def with_parent_value(message_text, value):
    """A released member's message and arguments (as JSON text): the parents' value prepended to
    its arguments (unless immutable, .si()), and no eta of its own."""
    body = json.loads(message_text)
    m = body['m']
    if not (body.get('w') or {}).get('immutable'):
        m['args'] = [value] + list(m['args'])
    m['eta'] = None
    return json.dumps(body, separators=(',', ':')), json.dumps(m['args'])


def is_cancelled_member(state, wait_reason):
    """A member that never ran because a job it waited for failed or was revoked."""
    return state == states.REVOKED and (wait_reason or '').startswith('not run:')


def not_run_reason(task, job_id, state):
    return 'not run: %s %s %s' % (task, job_id, 'failed' if state == states.FAILURE else 'was revoked')


def queue_errback(app, errback, failed_id, root):
    """Queue a link_error for a failed job, in the transaction that records the failure."""
    errback = signature(errback)
    args, marker = errback_call(errback, failed_id)
    options = {k: v for k, v in errback.options.items() if k not in ('link', 'link_error')}
    columns = dict(member_columns(Member(errback, None, {}), root), parent_id=failed_id)
    return app.enqueue_call(errback.name, args, errback.kwargs, options, workflow=dict(marker, root=root),
                            member=columns, checked=True)
