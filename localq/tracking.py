"""JobTracker: writes each outcome Huey reports onto the Job row and its Attempt rows.

Huey calls post-execute hooks with (task, value, exception) after every
execution, before it requeues a retry; that is the one place an outcome is
known whole, so it is the one place it is stored. Signals cover what never
reaches a post-execute hook (interrupted, expired, revoked).
Bookkeeping never breaks a task: failures here are logged, never raised.
"""
import json
import logging
import time
import traceback as tb

from huey import signals as S
from huey.exceptions import RateLimitExceeded, TaskTimeout

from . import counters, disk, states, workflow
from .db import is_connection_error, is_locked
from .errors import DatabaseUnavailable, DiskFull, Ignore, Reject, Retry, Revoked
from .outage import first_line, log_task_errors_once
from .states import SQL_RUNNING
from .storage import task_name

logger = logging.getLogger(__name__)



def fence_of(attempt):
    """(' AND attempts = ?', (n,)): a write about a running job applies only to the run that claimed
    it (attempt n). If its lease ran out and another worker took it over, attempts moved on, and a
    late write by the first holder matches no row: one outcome per run, never two. None: no fence."""
    return ('', ()) if attempt is None else (' AND attempts = ?', (attempt,))


def error_fields(exc):
    """(type, message, traceback) as stored on a row."""
    if isinstance(exc, Retry) and exc.exc is not None:
        exc = exc.exc
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ('builtins', '__main__'):
        name = '%s.%s' % (module, name)
    text = ''.join(tb.format_exception(type(exc), exc, exc.__traceback__))
    return name, str(exc), text


def log_attempt_end(task, exception, attempt, retry_at=None, retries=None):
    """One log record per failed attempt, in place of Huey's traceback for each
    (outage.TaskErrorsLoggedOnce): an expected retry is one INFO line (task, id, attempt, error,
    next try); a final failure one ERROR with its traceback; a revoke one INFO line."""
    if isinstance(exception, Retry) and exception.exc is not None:
        exception = exception.exc
    error = '%s: %s' % (type(exception).__name__, first_line(exception))
    if isinstance(exception, Revoked):
        logger.info('%s: %s attempt %s revoked while running', task.id, task.name, attempt)
    elif retry_at is not None:
        logger.info('%s: %s attempt %s failed (%s); retry %s in %.1f s, at %s', task.id, task.name, attempt, error,
                    retries, max(0.0, retry_at - time.time()), time.strftime('%H:%M:%S', time.localtime(retry_at)))
    elif isinstance(exception, (DiskFull, DatabaseUnavailable)):
        logger.error('%s: %s attempt %s failed, no retries left (%s)', task.id, task.name, attempt, error)
    else:
        logger.error('%s: %s attempt %s failed, no retries left (%s)', task.id, task.name, attempt, error,
                     exc_info=(type(exception), exception, exception.__traceback__))


class JobTracker:
    # Why a stopping worker interrupted its runs (LocalqConsumer's cold stop sets it): the error
    # of the runs it interrupts, on their job and attempt rows.
    interrupted_by = None

    def __init__(self, app):
        self.app = app

    @property
    def storage(self):
        return self.app.huey.storage

    def connect(self, huey):
        log_task_errors_once()   # Huey's traceback per exception gives way to log_attempt_end's line
        huey.post_execute(name='localq-record-outcome')(self.record_outcome)
        huey.signal(S.SIGNAL_INTERRUPTED)(self.on_interrupted)
        huey.signal(S.SIGNAL_EXPIRED)(self.on_expired)
        huey.signal(S.SIGNAL_ENQUEUED)(self.on_enqueued)

    # -- from inside a task ------------------------------------------------
    def update_state(self, job_id, state, meta, attempt=None):
        if state in states.TERMINAL or state in states.READY_TO_CLAIM:
            raise ValueError('update_state() cannot set %s; return or raise instead' % state)
        meta_json = json.dumps(meta, default=repr) if meta is not None else None
        fence, params = fence_of(attempt)
        self.storage.sql('UPDATE job SET state = ?, meta = ? WHERE id = ? AND %s%s' % (SQL_RUNNING, fence),
                         (state, meta_json, job_id) + params)

    def reserved_slot(self, job_id):
        row = self.storage.sql("SELECT eta FROM job WHERE id = ? AND wait_reason = 'rate-limited'",
                               (job_id,)).fetchone()
        return row[0] if row else None

    # -- outcomes ------------------------------------------------------------
    OUTCOME_PATIENCE = 600.0   # seconds an outcome waits for a full disk or an unreachable database

    def record_outcome(self, task, value, exception):
        """Record what Huey reports. If the disk is full or the database cannot be reached, wait
        and try again (pauses growing to 5 s, up to OUTCOME_PATIENCE): the worker knows the outcome,
        and a job whose outcome was lost would sit STARTED while this live worker's heartbeat
        renews its lease. Anything else is logged, never raised."""
        give_up, pause, waiting = time.monotonic() + self.OUTCOME_PATIENCE, 0.25, False
        while True:
            try:
                self._record(task, value, exception)
                if waiting:
                    logger.warning('%s: its outcome is recorded, after the wait', task.id)
                return
            except Exception as exc:
                # (A write lock held past busy_timeout by another process, too: it ends.)
                transient = disk.is_disk_full(exc, self.app.config.data_dir) or is_connection_error(exc) \
                    or is_locked(exc)
                if not transient or time.monotonic() > give_up:
                    logger.exception('%s: could not record the outcome of %s', task.id, task.name)
                    # Never written: stop renewing its lease, so that a sweep rescues the job.
                    self.storage.held.let_go(task.id, getattr(task, 'attempt', None))
                    return
                if not waiting:
                    waiting = True
                    logger.warning('%s: cannot record its outcome yet (%s); trying again until it can', task.id,
                                   disk.describe(self.app.config.data_dir)
                                   if disk.is_disk_full(exc, self.app.config.data_dir) else
                                   'database locked by another process' if is_locked(exc) else 'database unreachable')
                time.sleep(pause)
                pause = min(5.0, pause * 2)

    def _finish(self, job_id, sets, params, outcome, error=(None, None, None), defer=False, then=None, attempt=None):
        """Update a running job, add its attempt row and count it (counters.py: one upsert), in one
        short write transaction.

        With defer, the three statements ride on this worker thread's next claim
        (JobStorage.defer_until_next_claim). then(now), if given, runs in the same
        transaction (a workflow member releasing or cancelling what waits for it)."""
        now = time.time()
        fence, fence_params = fence_of(attempt)
        statements = [
            ('UPDATE job SET %s, lease_until = NULL, updated_at = ? WHERE id = ? AND %s%s' % (sets, SQL_RUNNING, fence),
             tuple(params) + (now, job_id) + fence_params),
            # Counted only if the update above applied (it stamped updated_at with this `now`), and
            # once (counters.NOT_YET_RECORDED): the runtime histogram, finished jobs, retries.
            counters.after_attempt(self.storage, job_id, outcome, now),
            # The attempt's row, under the same two conditions.
            # (The casts: PostgreSQL prepares this statement, and types a bare parameter in a select list as text.)
            ('INSERT INTO attempt (job_id, number, worker, started_at, finished_at, outcome, '
             'error_type, error_message, traceback) '
             'SELECT id, attempts, worker, started_at, CAST(? AS DOUBLE PRECISION), CAST(? AS TEXT), CAST(? AS TEXT), '
             'CAST(? AS TEXT), CAST(? AS TEXT) FROM job WHERE id = ? AND updated_at = ? ' + counters.NOT_YET_RECORDED,
             (now, outcome) + tuple(error) + (job_id, now)),
        ]
        if defer and then is None and not self.app.huey.immediate:
            self.storage.defer_until_next_claim(statements, job_id)
            return
        with self.app.write_transaction():
            applied = self.storage.sql(*statements[0]).rowcount
            self.storage.sql(*statements[1])
            self.storage.sql(*statements[2])
            if then is not None and applied:
                self.move_workflow(job_id, then, now)
        self.storage.held.let_go(job_id, attempt)
        if then is not None:
            self.app.wake_workers()

    def move_workflow(self, job_id, step, now):
        """Run a workflow step (release, cancel, errbacks) inside the outcome's transaction, in a
        savepoint: if it fails, the job's own outcome is still written, and the error logged."""
        try:
            with self.app.database.atomic():
                step(now)
        except Exception:
            logger.exception('%s: its outcome is recorded, but its workflow could not move on', job_id)

    def _record(self, task, value, exception):
        now = time.time()
        route = self.route(task)
        wf = getattr(task, 'workflow', None)
        attempt = getattr(task, 'attempt', None)   # the claim's fence (LocalHuey.dequeue)
        shown = attempt if attempt is not None else self._retries_done(task) + 1   # in log lines

        def final(state, err):
            """For a workflow member ending without a result: cancel what waits on it, queue errbacks."""
            if not wf:
                return None
            return lambda at: workflow.after_final(self.app, task.id, task.name, state, wf, err, at)

        if exception is None:
            if route is not None and route.ignore_result:
                result = None
            else:
                try:
                    result = json.dumps(value, allow_nan=False)
                except (TypeError, ValueError) as exc:
                    err = ('localq.errors.ResultNotSerializable',
                           'the return value of %s is not JSON-serialisable: %s' % (task.name, exc), '')
                    logger.error('%s: %s attempt %s failed: %s', task.id, task.name, shown, err[1])
                    self._finish(task.id, "state = 'FAILURE', finished_at = ?, error_type = ?, "
                                 'error_message = ?, traceback = ?', (now,) + err, states.FAILURE, err,
                                 then=final(states.FAILURE, err), attempt=attempt)
                    return
            release = None
            if wf and wf.get('next'):
                release = (lambda at: workflow.release_dependents(self.storage, task.id, wf.get('group'), result, at))
            self._finish(task.id, "state = 'SUCCESS', finished_at = ?, result = ?, wait_reason = NULL, "
                         'error_type = NULL, error_message = NULL, traceback = NULL',
                         (now, result), states.SUCCESS, defer=True, then=release, attempt=attempt)
        elif isinstance(exception, RateLimitExceeded) and exception.retry:
            # Not an attempt: the job waits for the start slot it reserved (localq's rate_limit), or
            # for the window's end (Huey's rate_limit; with retry=False it is an error like any other).
            # The eta is set here too: Huey writes it only after this hook, and
            # in between another worker could claim the job with its old eta.
            fence, fence_params = fence_of(getattr(task, 'attempt', None))
            self.storage.sql("UPDATE job SET state = 'PENDING', attempts = attempts - 1, eta = ?, "
                             "wait_reason = 'rate-limited', lease_until = NULL WHERE id = ? AND %s%s" % (
                                 SQL_RUNNING, fence),
                             (getattr(exception, 'slot', None) or now + exception.delay, task.id) + fence_params)
            self.storage.held.let_go(task.id, getattr(task, 'attempt', None))
        elif isinstance(exception, Reject) and exception.requeue:
            # Celery's Reject(requeue=True): back in its queue for any worker; this attempt counts.
            err = error_fields(exception)
            self._finish(task.id, "state = 'PENDING', eta = ?, wait_reason = 'rejected and requeued', "
                         'error_type = ?, error_message = ?, traceback = ?', (now,) + err, 'REJECTED', err,
                         attempt=attempt)
            self.app.wake_workers()
        elif isinstance(exception, (Ignore, Reject)):
            # Celery's Ignore, or Reject without requeue: no outcome of the task's own; never retried.
            why = 'ignored (the task raised Ignore)' if isinstance(exception, Ignore) else \
                'rejected: %s' % (exception.reason or 'the task raised Reject')
            self._finish(task.id, "state = 'REVOKED', finished_at = ?, wait_reason = ?", (now, why[:200]),
                         states.REVOKED, then=final(states.REVOKED, ('localq.errors.Revoked', why, '')),
                         attempt=attempt)
        elif isinstance(exception, Revoked):
            log_attempt_end(task, exception, shown)
            err = error_fields(exception)
            self._finish(task.id, "state = 'REVOKED', finished_at = ?, error_type = ?, error_message = ?, "
                         'traceback = ?', (now,) + err, states.REVOKED, err, then=final(states.REVOKED, err),
                         attempt=attempt)
        elif task.retries > 0:
            # Huey requeues it right after this hook, with the eta _execute chose.
            err = error_fields(exception)
            eta = now + (task.retry_delay or 0)
            which = '%d of %d' % (self._retries_done(task) + 1, route.max_retries if route else 0)
            log_attempt_end(task, exception, shown, retry_at=eta, retries=which)
            self._finish(task.id, "state = 'RETRY', eta = ?, wait_reason = ?, error_type = ?, "
                         'error_message = ?, traceback = ?', (eta, 'retry ' + which) + err, states.RETRY, err,
                         attempt=attempt)
        else:
            log_attempt_end(task, exception, shown)
            err = error_fields(exception)
            outcome = 'TIMEOUT' if isinstance(exception, TaskTimeout) else states.FAILURE
            self._finish(task.id, "state = 'FAILURE', finished_at = ?, wait_reason = NULL, error_type = ?, "
                         'error_message = ?, traceback = ?', (now,) + err, outcome, err,
                         then=final(states.FAILURE, err), attempt=attempt)

    def record_not_registered(self, data):
        """A claimed job whose task this worker does not have: FAILURE now, naming what it has."""
        message, wf = self.app.huey.serializer.load_message(data)
        name = task_name(message.name)
        err = ('localq.errors.NotRegistered', '%s (worker %s has: %s)' % (
            name, self.storage.worker_id or 'this process', ', '.join(sorted(self.app.tasks)) or 'no tasks'), '')
        logger.error('%s: task %s is not registered in this worker; failing the job', message.id, name)
        try:
            self._finish(message.id, "state = 'FAILURE', finished_at = ?, wait_reason = NULL, error_type = ?, "
                         'error_message = ?, traceback = ?', (time.time(),) + err, states.FAILURE, err,
                         then=(lambda at: workflow.after_final(self.app, message.id, name, states.FAILURE, wf, err, at))
                         if wf else None, attempt=self.storage.claimed_attempt(message.id))
        except Exception:
            logger.exception('%s: could not record that its task is not registered', message.id)

    def route(self, task):
        return self.app.routes.get(self.app.huey._registry.task_to_string(type(task)))

    def _retries_done(self, task):
        route = self.route(task)
        return (route.max_retries if route else 0) - task.retries

    def on_interrupted(self, signal, task, *args):
        """A worker stopped mid-task: acks_late jobs go back now, others fail as lost."""
        self.release_lost_job(task.id, 'interrupted by %s' % (self.interrupted_by or 'a cold stop of its worker'),
                              attempt=getattr(task, 'attempt', None))

    def release_lost_job(self, job_id, why, attempt=None, lease_ran_out_by=None):
        """acks_late jobs go back to PENDING, others end FAILURE (REVOKED if asked); one LOST attempt.

        One conditional UPDATE decides, so two callers (Huey can report one
        interruption from the worker thread and from the consumer) release a
        job once: on PostgreSQL the second waits for the row and finds it
        no longer running. lease_ran_out_by (a sweep's clock): only if the lease still ran out
        by then, so a heartbeat that renewed it in the meantime wins."""
        now = time.time()
        err = ('localq.errors.WorkerLost', why, '')
        fence, fence_params = fence_of(attempt)
        if lease_ran_out_by is not None:
            fence, fence_params = fence + ' AND lease_until < ?', fence_params + (lease_ran_out_by,)
        with self.app.write_transaction():
            row = self.storage.sql(
                "UPDATE job SET state = CASE WHEN revoke_requested THEN 'REVOKED' WHEN acks_late THEN 'PENDING' "
                "ELSE 'FAILURE' END, "
                'eta = CASE WHEN acks_late AND NOT revoke_requested THEN ? ELSE eta END, '
                'finished_at = CASE WHEN acks_late AND NOT revoke_requested THEN NULL ELSE ? END, '
                "wait_reason = CASE WHEN acks_late AND NOT revoke_requested THEN 'rescued after worker loss' "
                'ELSE wait_reason END, '
                'error_type = CASE WHEN acks_late AND NOT revoke_requested THEN error_type ELSE ? END, '
                'error_message = CASE WHEN acks_late AND NOT revoke_requested THEN error_message ELSE ? END, '
                'traceback = CASE WHEN acks_late AND NOT revoke_requested THEN traceback ELSE ? END, '
                'lease_until = NULL WHERE id = ? AND %s%s RETURNING state, attempts, worker, started_at, task, '
                'root_id, message' % (SQL_RUNNING, fence),
                (now, now) + err + (job_id,) + fence_params).fetchone()
            if row is None:
                return None
            self.storage.held.let_go(job_id, row[1])   # if this process held it (a stop, or frozen past its lease)
            state, attempts, worker, started_at, name, root_id, message = row
            self.storage.sql(
                'INSERT INTO attempt (job_id, number, worker, started_at, finished_at, outcome, '
                "error_type, error_message, traceback) VALUES (?, ?, ?, ?, ?, 'LOST', ?, ?, ?)",
                (job_id, attempts, worker, started_at, now) + err)
            self.storage.sql(*counters.untimed(self.storage, name, state, 'LOST'))
            if root_id and state in states.TERMINAL:
                self.move_workflow(job_id, lambda at: workflow.after_final(
                    self.app, job_id, name, state, json.loads(message).get('w'), err, at), now)
            return state

    def on_expired(self, signal, task, *args):
        now = time.time()
        with self.app.write_transaction():
            expired = self.storage.sql(
                "UPDATE job SET state = 'REVOKED', finished_at = ?, lease_until = NULL, "
                "attempts = attempts - 1, wait_reason = 'expired before it started' WHERE id = ? RETURNING task",
                (now, task.id)).fetchone()
            self.storage.held.let_go(task.id)
            if expired:   # finished without an attempt
                self.storage.sql(*counters.untimed(self.storage, expired[0], states.REVOKED))
            wf = getattr(task, 'workflow', None)
            if wf:
                self.move_workflow(task.id, lambda at: workflow.after_final(
                    self.app, task.id, task.name, states.REVOKED, wf,
                    ('localq.errors.Revoked', 'expired before it started', ''), at), now)

    def on_enqueued(self, signal, task, *args):
        # Immediate mode runs the task inside enqueue() without the storage:
        # give it a row anyway, so tests of task logic see real records.
        if self.app.huey.immediate:
            self.storage.enqueue(self.app.huey.serialize_task(task), task.priority)
            self.storage.sql("UPDATE job SET state = 'STARTED', started_at = ?, attempts = attempts + 1, "
                             "worker = 'immediate' WHERE id = ?", (time.time(), task.id))
