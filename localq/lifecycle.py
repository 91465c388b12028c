"""The lifecycle: every change of a job's row after it is queued, in one module.

Each write below belongs to a `Move` declared at the top with the states it starts from and the
states it leads to. Importing this module checks every move against `states.TRANSITIONS` (the
one written statement of the lifecycle), and each statement's condition on `state` is the
move's `where`, written from its sources. Outside this module only the storage adapter writes
the job table: Huey's enqueue (an INSERT) and claim (`CLAIM` below), on the hot path.

A write about a running job is *fenced* by its attempt number (`fence()`): if the run's lease
ran out and another worker claimed the job since, the late write matches no row.

A workflow moves in the transaction of the outcome that moves it: a member that succeeds
releases what waits for it (`release_dependents`), one that ends without a result cancels it
(`end_member`: REVOKED "not run: ...") and queues its errbacks; a user's re-queue re-arms it.
"""
import json
import logging
import time

from . import counters, states, workflow
from .states import CUSTOM, FAILURE, PENDING, REVOKED, RUNNING, RETRY, STARTED, SUCCESS, TERMINAL, WAITING

logger = logging.getLogger(__name__)

READY, NOT_STARTED = states.READY_TO_CLAIM, states.NOT_STARTED
ANY = set(states.TRANSITIONS)


class Move:
    """A kind of write: from which states, to which (none: the state stays)."""

    def __init__(self, name, sources, targets=()):
        refused = [(s, t) for s in sources for t in targets if not states.allowed(s, t)]
        if refused:
            raise AssertionError('move %r is not in states.TRANSITIONS: %s' % (
                name, ', '.join('%s -> %s' % pair for pair in refused)))
        self.name, self.sources, self.targets = name, frozenset(sources), frozenset(targets)
        self.where = states.where(sources)
        # For rows named by a list of ids: on `state` SQLite's planner takes the state index and walks every
        # finished row for 50 ids (pruning fell to ~50 rows/s at 400k rows); on an expression, the key.
        self.where_ids = states.where(sources, "(state || '')")
        MOVES[name] = self

    def __repr__(self):
        return '<Move %s: %s -> %s>' % (self.name, sorted(self.sources), sorted(self.targets) or 'same')


MOVES = {}
CLAIM = Move('claim', READY, {STARTED})                                   # storage.py
RESEND = Move('re-send a running job', RUNNING, {PENDING})                # storage.py (Huey's retry)
PROGRESS = Move('report progress', RUNNING, {CUSTOM})
RECORD = Move('record an outcome', RUNNING, {SUCCESS, RETRY, FAILURE, REVOKED, PENDING})
RELEASE_LOST = Move('release a lost run', RUNNING, {PENDING, FAILURE, REVOKED})
EXPIRE_AT_CLAIM = Move('expire at its claim', RUNNING, {REVOKED})
RUN_IMMEDIATELY = Move('run in immediate mode', READY, {STARTED})
REVOKE = Move('revoke before it runs', NOT_STARTED, {REVOKED})
EXPIRE = Move('expire unclaimed', READY, {REVOKED})
FLUSH = Move("flush (Huey's flush_queue)", READY, {REVOKED})
RELEASE = Move('release a workflow member', {WAITING}, {PENDING})
CANCEL = Move('cancel a workflow member', {WAITING}, {REVOKED})
REARM = Move('re-arm a cancelled member', {REVOKED}, {WAITING})
REQUEUE = Move('re-queue', {FAILURE, REVOKED}, {PENDING})
# Writes that leave the state as it is.
RENEW = Move('renew a lease', RUNNING)
ASK_TO_STOP = Move('ask a running job to stop', RUNNING)
RUN_NOW = Move('run now', READY)
COUNT_DOWN = Move('count a parent done', {WAITING})
GIVE_UP_KEY = Move('give up an idempotency key', {REVOKED})
DELETE = Move('delete', set(NOT_STARTED) | TERMINAL)
PRUNE = Move('prune', TERMINAL)
CLEAR = Move('clear (the lab)', ANY)


def fence(attempt):
    """(' AND attempts = ?', (n,)): a write about a running job applies only to the run that claimed
    it (attempt n). None: no fence."""
    return ('', ()) if attempt is None else (' AND attempts = ?', (attempt,))


# -- a running job --------------------------------------------------------------------
def progress(app, job_id, state, meta_json, attempt=None):
    """update_state(): a custom state and its meta."""
    f, fp = fence(attempt)
    app.query.write('UPDATE job SET state = ?, meta = ? WHERE id = ? AND %s%s' % (PROGRESS.where, f),
                    (state, meta_json, job_id) + fp)


# One statement for every outcome that is an attempt (fixed SQL; on PostgreSQL, one prepared statement).
# A retry's row gets its next run's message here: it is claimable before Huey's reschedule is written.
RECORD_SQL = ('UPDATE job SET state = ?, finished_at = ?, eta = COALESCE(?, eta), message = COALESCE(?, message), '
              'result = ?, wait_reason = ?, error_type = ?, error_message = ?, traceback = ?, error_group = ?, '
              'lease_until = NULL, updated_at = ? '
              'WHERE id = ? AND %s' % RECORD.where)
# The attempt's row: only if the update above applied (it stamped updated_at with this `now`), and
# once (counters.NOT_YET_RECORDED). The casts: PostgreSQL types a bare parameter in a select list as text.
ATTEMPT_SQL = ('INSERT INTO attempt (job_id, number, worker, started_at, finished_at, outcome, '
               'error_type, error_message, traceback) '
               'SELECT id, attempts, worker, started_at, CAST(? AS DOUBLE PRECISION), CAST(? AS TEXT), CAST(? AS TEXT), '
               'CAST(? AS TEXT), CAST(? AS TEXT) FROM job WHERE id = ? AND updated_at = ? ' + counters.NOT_YET_RECORDED)
WAIT_FOR_SLOT_SQL = ("UPDATE job SET state = 'PENDING', attempts = attempts - 1, eta = ?, wait_reason = ?, "
                     'lease_until = NULL WHERE id = ? AND %s' % RECORD.where)


def record(app, job_id, task, attempt, outcome, wf=None, next_message=None):   # next: a retry's message
    """Store a decided outcome (outcome.py): job row, attempt row, counter (and a workflow's move) in one
    short transaction; a SUCCESS nothing waits on rides on the thread's next claim (defer_until_next_claim)."""
    q, now = app.query, time.time()
    f, fp = fence(attempt)
    if outcome.attempt is None:   # waiting for its rate slot: not an attempt, not counted
        q.sql(WAIT_FOR_SLOT_SQL + f, (outcome.eta, outcome.wait_reason, job_id) + fp)
        app.held.let_go(job_id, attempt)
        return
    finished_at = now if outcome.finished else None
    statements = [
        (RECORD_SQL + f, (outcome.state, finished_at, outcome.eta, next_message, outcome.result, outcome.wait_reason)
         + tuple(outcome.error) + (outcome.group, now, job_id) + fp),
        counters.after_attempt(q, job_id, outcome.attempt, now),
        (ATTEMPT_SQL, (now, outcome.attempt) + tuple(outcome.error) + (job_id, now)),
    ]
    step = None
    if wf and outcome.state == SUCCESS and wf.get('next'):
        step = lambda at: release_dependents(app, job_id, wf.get('group'), outcome.result, at)  # noqa: E731
    elif wf and outcome.ends_without_result:
        step = lambda at: end_member(app, job_id, task, outcome.state, wf, outcome.cause, at)  # noqa: E731
    if outcome.state == SUCCESS and step is None and not app.huey.immediate:
        app.huey.storage.defer_until_next_claim(statements, job_id)
        return
    with app.write_transaction():
        applied = q.sql(*statements[0]).rowcount
        q.sql(*statements[1])
        q.sql(*statements[2])
        if step is not None and applied:
            move_workflow(app, job_id, step, now)
    app.held.let_go(job_id, attempt)
    if step is not None or outcome.state == PENDING:
        app.wake_workers()


def move_workflow(app, job_id, step, now):
    """Run a workflow step inside the outcome's transaction, in a savepoint: if it fails, the
    job's own outcome is still written, and the error logged."""
    try:
        with app.database.atomic():
            step(now)
    except Exception:
        logger.exception('%s: its outcome is recorded, but its workflow could not move on', job_id)


def release_lost(app, job_id, why, attempt=None, lease_ran_out_by=None):
    """A run that will never report (its worker stopped, died or lost its lease): acks_late jobs go
    back to PENDING, others end FAILURE (REVOKED if asked); one LOST attempt. Returns the new state.

    One conditional UPDATE decides, so two callers (Huey can report one interruption from the
    worker thread and from the consumer) release a job once: on PostgreSQL the second waits for
    the row and finds it no longer running. lease_ran_out_by (a sweep's clock): only if the
    lease still ran out by then, so a heartbeat that renewed it in the meantime wins."""
    q, now = app.query, time.time()
    err = ('localq.errors.WorkerLost', why, '')
    f, fp = fence(attempt)
    if lease_ran_out_by is not None:
        f, fp = f + ' AND lease_until < ?', fp + (lease_ran_out_by,)
    back = 'acks_late AND NOT revoke_requested'
    with app.write_transaction():
        row = q.sql(
            "UPDATE job SET state = CASE WHEN revoke_requested THEN 'REVOKED' WHEN acks_late THEN 'PENDING' "
            "ELSE 'FAILURE' END, eta = CASE WHEN {b} THEN ? ELSE eta END, "
            'finished_at = CASE WHEN {b} THEN NULL ELSE ? END, '
            "wait_reason = CASE WHEN {b} THEN 'rescued after worker loss' ELSE wait_reason END, "
            'error_type = CASE WHEN {b} THEN error_type ELSE ? END, '
            'error_message = CASE WHEN {b} THEN error_message ELSE ? END, '
            'traceback = CASE WHEN {b} THEN traceback ELSE ? END, '
            'lease_until = NULL WHERE id = ? AND {w}{f} RETURNING state, attempts, worker, started_at, task, '
            'root_id, message'.format(b=back, w=RELEASE_LOST.where, f=f),
            (now, now) + err + (job_id,) + fp).fetchone()
        if row is None:
            return None
        app.held.let_go(job_id, row[1])   # if this process held it (a stop, or frozen past its lease)
        state, attempts, worker, started_at, name, root_id, message = row
        q.sql('INSERT INTO attempt (job_id, number, worker, started_at, finished_at, outcome, '
              "error_type, error_message, traceback) VALUES (?, ?, ?, ?, ?, 'LOST', ?, ?, ?)",
              (job_id, attempts, worker, started_at, now) + err)
        q.sql(*counters.untimed(q, name, state, 'LOST'))
        if root_id and state in TERMINAL:
            move_workflow(app, job_id, lambda at: end_member(
                app, job_id, name, state, json.loads(message).get('w'), err, at), now)
    return state


def expire_at_claim(app, job_id, task, wf):
    """Huey found the claimed job past its `expires`: REVOKED, without an attempt."""
    q, now = app.query, time.time()
    with app.write_transaction():
        expired = q.sql("UPDATE job SET state = 'REVOKED', finished_at = ?, lease_until = NULL, "
                        "attempts = attempts - 1, wait_reason = 'expired before it started' WHERE id = ? AND %s "
                        'RETURNING task' % EXPIRE_AT_CLAIM.where, (now, job_id)).fetchone()
        app.held.let_go(job_id)
        if expired:
            q.sql(*counters.untimed(q, expired[0], REVOKED))
            if wf:
                move_workflow(app, job_id, lambda at: end_member(
                    app, job_id, task, REVOKED, wf, ('localq.errors.Revoked', 'expired before it started', ''), at),
                    now)


def run_immediately(app, job_id):
    """Immediate mode runs a task inside enqueue(): its row reads as a run of this process."""
    app.query.sql("UPDATE job SET state = 'STARTED', started_at = ?, attempts = attempts + 1, "
                  "worker = 'immediate' WHERE id = ? AND %s" % RUN_IMMEDIATELY.where, (time.time(), job_id))


def renew(app, fences, params, until, worker_id):
    """Renew the leases of the runs this process holds; returns (id, revoke_requested) of each renewed."""
    return app.query.write('UPDATE job SET lease_until = ? WHERE worker = ? AND (%s) AND %s '
                           'RETURNING id, revoke_requested' % (fences, RENEW.where),
                           (until, worker_id) + tuple(params), rows=True)


def reschedule(q, job_id, message, eta, attempt):
    """Huey's re-queue of a retry (add_to_schedule), after record(); fenced: a late run's is void."""
    f, fp = fence(attempt)
    q.write("UPDATE job SET message = ?, eta = ?, state = CASE WHEN %s THEN 'PENDING' ELSE state END "
            'WHERE id = ?%s' % (RESEND.where, f), (message, eta, job_id) + fp)


# -- a user's actions -----------------------------------------------------------------
def revoke(app, job_id):
    """Cancel a job: a waiting one becomes REVOKED (with whatever in its workflow waits for it), a
    running one is asked to stop. Revoking a workflow's root also revokes every member that has
    not started. Returns the state the job is in afterwards; None for an unknown job."""
    q, now = app.query, time.time()
    with app.write_transaction():
        row = q.sql('SELECT state, task, root_id, message FROM job WHERE id = ?', (job_id,)).fetchone()
        if row is None:
            return None
        state, task, root_id, message = row
        if state in REVOKE.sources:
            q.sql("UPDATE job SET state = 'REVOKED', finished_at = ?, wait_reason = 'revoked by a user' "
                  'WHERE id = ? AND %s' % REVOKE.where, (now, job_id))
            counters.count_unrun(q, [task], REVOKED)
            if root_id:
                end_member(app, job_id, task, REVOKED, json.loads(message).get('w'),
                           ('localq.errors.Revoked', 'job %s was revoked' % job_id, ''), now)
            state = REVOKED
        elif states.is_running(state):
            q.sql('UPDATE job SET revoke_requested = ? WHERE id = ? AND %s' % ASK_TO_STOP.where, (True, job_id))
        if root_id == job_id:
            members = q.sql(
                "UPDATE job SET state = 'REVOKED', finished_at = ?, wait_reason = ?, error_type = ?, "
                'error_message = ? WHERE root_id = ? AND %s RETURNING task' % REVOKE.where,
                (now, workflow.not_run_reason(task, job_id, REVOKED), 'localq.errors.Revoked',
                 'its workflow was revoked', job_id)).fetchall()
            counters.count_unrun(q, [t for t, in members], REVOKED)
    app.wake_workers()
    return state


def give_up_key(q, key):
    """A REVOKED job gives its idempotency key up, so the work can be asked for again."""
    q.sql('UPDATE job SET idempotency_key = NULL WHERE idempotency_key = ? AND %s' % GIVE_UP_KEY.where, (key,))


def requeue(app, job_ids):
    """Run finished (failed, revoked) jobs again from scratch; returns the ids re-queued.

    A workflow member's dependents that it left cancelled wait for it again; a member that
    never ran (cancelled) is not re-queued itself: it runs once what it waits for succeeds."""
    q, now, done = app.query, time.time(), []
    ids = list(job_ids)
    if not ids:
        return done
    with app.write_transaction():
        rows = q.sql('SELECT id, state, wait_reason, message, max_retries, root_id, group_id FROM job '
                     'WHERE id IN (%s) AND %s' % (','.join('?' * len(ids)), REQUEUE.where_ids), ids).fetchall()
        for job_id, state, wait_reason, message, max_retries, root_id, group_id in rows:
            if workflow.is_cancelled_member(state, wait_reason):
                continue
            # The message still carries the retries left when it failed: give them back in the same statement.
            body = json.loads(message)
            body['m'].update(retries=max_retries, eta=None)
            q.sql("UPDATE job SET state = 'PENDING', eta = ?, finished_at = NULL, wait_reason = 're-queued by a user', "
                  'revoke_requested = ?, error_type = NULL, error_message = NULL, traceback = NULL, error_group = NULL, '
                  'message = ? WHERE id = ? AND %s' % REQUEUE.where, (now, False, json.dumps(body), job_id))
            if root_id:
                rearm_dependents(app, job_id, group_id)
            done.append(job_id)
    app.wake_workers()
    return done


def run_now(app, job_id):
    """Make a scheduled (or retry-waiting) job claimable at once; returns True if it was waiting."""
    q = app.query
    with app.write_transaction():
        row = q.sql('SELECT message FROM job WHERE id = ? AND %s' % RUN_NOW.where, (job_id,)).fetchone()
        if row is None:
            return False
        # Huey re-schedules a message whose own eta is still ahead: clear it too.
        body = json.loads(row[0])
        body['m']['eta'] = None
        q.sql("UPDATE job SET eta = ?, message = ?, wait_reason = 'run now by a user' WHERE id = ? AND %s"
              % RUN_NOW.where, (time.time(), json.dumps(body), job_id))
    app.wake_workers()
    return True


def delete(app, where, params, move=DELETE, check=None):
    """Delete the jobs matching `where` that the move may delete (no running one but by CLEAR), with
    their attempts, in one write transaction; returns how many. check: the move's state condition."""
    q, check = app.query, check or move.where
    with app.write_transaction():
        # The state is checked in each DELETE: a worker may claim one meanwhile.
        q.sql('DELETE FROM attempt WHERE job_id IN (SELECT id FROM job WHERE (%s) AND %s)' % (where, check), params)
        return q.sql('DELETE FROM job WHERE (%s) AND %s' % (where, check), params).rowcount


def delete_ids(app, ids, move=DELETE):
    return delete(app, 'id IN (%s)' % ','.join('?' * len(ids)), ids, move, move.where_ids) if ids else 0


# -- upkeep ---------------------------------------------------------------------------
def revoke_waiting(app, where, params, reason, error=None, move=EXPIRE):
    """Revoke the ready jobs matching `where` (past their `expires`, flushed); a workflow's members
    waiting on them are cancelled too. Returns their ids."""
    q, now = app.query, time.time()
    with app.write_transaction():
        rows = q.sql("UPDATE job SET state = 'REVOKED', finished_at = ?, wait_reason = ? WHERE %s AND (%s) "
                     'RETURNING id, task, root_id, message' % (move.where, where), (now, reason) + tuple(params)
                     ).fetchall()
        counters.count_unrun(q, [task for _, task, _, _ in rows], REVOKED)
        for job_id, task, root_id, message in rows:
            if root_id:
                end_member(app, job_id, task, REVOKED, json.loads(message).get('w'),
                           error or ('localq.errors.Revoked', reason, ''), now)
    return [job_id for job_id, _, _, _ in rows]


# -- how a workflow moves (plan.py wrote its rows; workflow.py says how) -------------
def release_dependents(app, job_id, group_id, result_text, now):
    """job_id succeeded: members waiting for it get its result as their first argument, and
    members waiting for its group get the group's results (in order) once all have succeeded.
    Returns the ids released (now PENDING)."""
    q = app.query
    rows = q.sql('UPDATE job SET waits_for = waits_for - 1 WHERE %s AND parent_id IN (?, ?) '
                 'RETURNING id, parent_id, waits_for, message' % COUNT_DOWN.where,
                 (job_id, group_id or job_id)).fetchall()
    released = []
    for child_id, parent_id, left, message in rows:
        if left > 0:
            continue
        value = (json.loads(result_text) if result_text is not None else None) if parent_id == job_id \
            else workflow.group_results(q, parent_id)
        body, args = workflow.with_parent_value(message, value)
        q.sql("UPDATE job SET state = 'PENDING', eta = ?, message = ?, args = ?, wait_reason = NULL "
              'WHERE id = ? AND %s' % RELEASE.where, (now, body, args, child_id))
        released.append(child_id)
    return released


def end_member(app, job_id, task, state, wf, error, now):
    """In the transaction that ends a workflow member without a result: every member waiting on it,
    directly or through other members, ends REVOKED carrying the cause (its .get() raises that
    error); for a FAILURE its errbacks (link_error) are queued. Returns the ids cancelled."""
    wf = wf or {}
    q = app.query
    frontier = [p for p in (job_id, wf.get('group')) if p]
    why = workflow.not_run_reason(task, job_id, state)[:workflow.MAX_REASON]
    cancelled = []
    while frontier:
        rows = q.sql("UPDATE job SET state = 'REVOKED', finished_at = ?, wait_reason = ?, error_type = ?, "
                     'error_message = ?, traceback = ? WHERE %s AND parent_id IN (%s) RETURNING id, group_id, task'
                     % (CANCEL.where, ','.join('?' * len(frontier))), (now, why) + tuple(error) + tuple(frontier)
                     ).fetchall()
        counters.count_unrun(q, [r[2] for r in rows], REVOKED)
        cancelled += [r[0] for r in rows]
        frontier = sorted({r[0] for r in rows} | {r[1] for r in rows if r[1]})
    if state == FAILURE:
        for errback in wf.get('errbacks') or ():
            workflow.queue_errback(app, errback, job_id, wf.get('root') or job_id)
    return cancelled


def rearm_dependents(app, job_id, group_id):
    """job_id is queued again by a user: the members it left cancelled wait for it again (and for
    their other parents). Returns the ids re-armed."""
    q = app.query
    frontier = [p for p in (job_id, group_id) if p]
    rearmed = []
    while frontier:
        rows = q.sql("SELECT id, parent_id, group_id FROM job WHERE %s AND substr(wait_reason, 1, 8) = 'not run:' "
                     'AND parent_id IN (%s)' % (REARM.where, ','.join('?' * len(frontier))), tuple(frontier)
                     ).fetchall()
        for member_id, parent_id, _ in rows:
            waits = q.sql("SELECT COUNT(*) FROM job WHERE group_id = ? AND state != 'SUCCESS'",
                          (parent_id,)).fetchone()[0] or 1   # a group's unfinished members, or 1 job
            q.sql("UPDATE job SET state = 'WAITING', waits_for = ?, finished_at = NULL, wait_reason = NULL, "
                  'error_type = NULL, error_message = NULL, traceback = NULL WHERE id = ? AND %s' % REARM.where,
                  (waits, member_id))
            rearmed.append(member_id)
        frontier = sorted({r[0] for r in rows} | {r[2] for r in rows if r[2]})
    return rearmed
