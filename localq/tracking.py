"""JobTracker: where each run's outcome is decided, logged and stored.

Huey calls post-execute hooks with (task, value, exception) after every execution, before it
requeues a retry; that is the one place an outcome is known whole. The tracker takes the one
decision about it (outcome.decide, or the one Task._execute took as the function raised), logs
it in one line, and hands it to lifecycle.record, which stores and counts it in one transaction.
Signals cover what never reaches a post-execute hook (interrupted, expired, immediate mode).
Bookkeeping never breaks a task: failures here are logged, never raised.
"""
import datetime
import json
import logging
import time

from huey import signals as S

from . import disk, lifecycle, states
from .db import is_connection_error, is_locked
from .errors import DatabaseUnavailable, DiskFull, Retry
from .outage import first_line, log_task_errors_once
from .outcome import Run, decide, failure, returned
from .storage import task_name

logger = logging.getLogger(__name__)


def log_outcome(task_id, name, attempt, outcome, exception):
    """One log record per failed attempt, in place of Huey's traceback for each
    (outage.TaskErrorsLoggedOnce): an expected retry is one INFO line (task, id, attempt, error,
    next try); a final failure one ERROR with its traceback; a revoke one INFO line."""
    if outcome.log is None:
        return
    if isinstance(exception, Retry) and exception.exc is not None:
        exception = exception.exc
    error = '%s: %s' % (type(exception).__name__, first_line(exception)) if exception is not None \
        else outcome.error[1]
    if outcome.log == 'revoked':
        logger.info('%s: %s attempt %s revoked while running', task_id, name, attempt)
    elif outcome.log == 'retry':
        logger.info('%s: %s attempt %s failed (%s); %s in %.1f s, at %s', task_id, name, attempt, error,
                    outcome.wait_reason, max(0.0, outcome.eta - time.time()),
                    time.strftime('%H:%M:%S', time.localtime(outcome.eta)))
    elif outcome.log == 'error' or isinstance(exception, (DiskFull, DatabaseUnavailable)) or exception is None:
        logger.error('%s: %s attempt %s failed, no retries left (%s)', task_id, name, attempt, error)
    else:
        logger.error('%s: %s attempt %s failed, no retries left (%s)', task_id, name, attempt, error,
                     exc_info=(type(exception), exception, exception.__traceback__))


class JobTracker:
    # Why a stopping worker interrupted its runs (LocalqConsumer's cold stop sets it): the error
    # of the runs it interrupts, on their job and attempt rows.
    interrupted_by = None
    OUTCOME_PATIENCE = 600.0   # seconds an outcome waits for a full disk or an unreachable database

    def __init__(self, app):
        self.app = app

    def connect(self, huey):
        log_task_errors_once()   # Huey's traceback per exception gives way to log_outcome's line
        huey.post_execute(name='localq-record-outcome')(self.record_outcome)
        huey.signal(S.SIGNAL_INTERRUPTED)(self.on_interrupted)
        huey.signal(S.SIGNAL_EXPIRED)(self.on_expired)
        huey.signal(S.SIGNAL_ENQUEUED)(self.on_enqueued)

    # -- from inside a task ------------------------------------------------
    def update_state(self, job_id, state, meta, attempt=None):
        if state in states.TERMINAL or state in states.READY_TO_CLAIM:
            raise ValueError('update_state() cannot set %s; return or raise instead' % state)
        meta_json = json.dumps(meta, default=repr) if meta is not None else None
        lifecycle.progress(self.app, job_id, state, meta_json, attempt)

    def reserved_slot(self, job_id):
        row = self.app.query.sql("SELECT eta FROM job WHERE id = ? AND wait_reason = 'rate-limited'",
                                 (job_id,)).fetchone()
        return row[0] if row else None

    # -- outcomes ------------------------------------------------------------
    def decide(self, task, value, exception, options):
        """The run's outcome: the one Task._execute decided as the function raised, or now.
        options: the task's TaskOptions (None: a task this process does not have)."""
        if exception is None:
            return returned(task.name, value, options is not None and options.ignore_result)
        decided = getattr(task, 'decided', None)
        if decided is not None and decided[0] is exception:
            return decided[1]
        return decide(Run.of(options, task=task.name, now=time.time(), exception=exception,
                             retries_left=task.retries))

    def record_outcome(self, task, value, exception):
        """Record what Huey reports. If the disk is full or the database cannot be reached, wait
        and try again (pauses growing to 5 s, up to OUTCOME_PATIENCE): the worker knows the outcome,
        and a job whose outcome was lost would sit STARTED while this live worker's heartbeat
        renews its lease. Anything else is logged, never raised."""
        attempt = getattr(task, 'attempt', None)   # the claim's fence (LocalHuey.dequeue)
        declared = self.app.tasks.get(task.name)
        options = declared.options if declared is not None else None
        try:
            outcome = self.decide(task, value, exception, options)
            if outcome.log is not None:
                shown = attempt if attempt is not None else (options.max_retries if options else 0) - task.retries + 1
                log_outcome(task.id, task.name, shown, outcome, exception)
        except Exception:
            logger.exception('%s: could not decide the outcome of %s', task.id, task.name)
            return
        self.store(task.id, task.name, attempt, outcome, getattr(task, 'workflow', None),
                   self.next_message(task, outcome))

    def next_message(self, task, outcome):
        """The message Huey re-sends for a retry (its _requeue_task, after this hook: retries one
        fewer, eta the retry's), written with the outcome. Why: the row is claimable as soon as the
        outcome commits and its eta passes (a countdown of 10 ms); a worker that claimed it before
        Huey's re-queue was written ran the old message, whose retries were not yet counted down,
        so the job got more attempts than max_retries (seen on PostgreSQL)."""
        if outcome.retry_in is None or outcome.state != states.RETRY or not task.retries:
            return None
        saved = task.retries, task.eta
        try:
            task.retries -= 1
            task.eta = datetime.datetime.fromtimestamp(outcome.eta, datetime.timezone.utc).replace(tzinfo=None)
            return self.app.huey.serialize_task(task).decode('utf-8')
        finally:
            task.retries, task.eta = saved

    def store(self, job_id, name, attempt, outcome, wf, next_message=None):
        give_up, pause, waiting = time.monotonic() + self.OUTCOME_PATIENCE, 0.25, False
        data_dir = self.app.config.data_dir
        while True:
            try:
                lifecycle.record(self.app, job_id, name, attempt, outcome, wf, next_message)
                if waiting:
                    logger.warning('%s: its outcome is recorded, after the wait', job_id)
                return
            except Exception as exc:
                # (A write lock held past busy_timeout by another process, too: it ends.)
                transient = disk.is_disk_full(exc, data_dir) or is_connection_error(exc) or is_locked(exc)
                if not transient or time.monotonic() > give_up:
                    logger.exception('%s: could not record the outcome of %s', job_id, name)
                    # Never written: stop renewing its lease, so that a sweep rescues the job.
                    self.app.held.let_go(job_id, attempt)
                    return
                if not waiting:
                    waiting = True
                    logger.warning('%s: cannot record its outcome yet (%s); trying again until it can', job_id,
                                   disk.describe(data_dir) if disk.is_disk_full(exc, data_dir) else
                                   'database locked by another process' if is_locked(exc) else 'database unreachable')
                time.sleep(pause)
                pause = min(5.0, pause * 2)

    def record_not_registered(self, data):
        """A claimed job whose task this worker does not have: FAILURE now, naming what it has."""
        storage = self.app.huey.storage
        message, wf = self.app.huey.serializer.load_message(data)
        name = task_name(message.name)
        err = ('localq.errors.NotRegistered', '%s (worker %s has: %s)' % (
            name, storage.worker_id or 'this process', ', '.join(sorted(self.app.tasks)) or 'no tasks'), '')
        logger.error('%s: task %s is not registered in this worker; failing the job', message.id, name)
        try:
            outcome = failure(err, log=None)
            lifecycle.record(self.app, message.id, name, storage.claimed_attempt(message.id), outcome, wf)
        except Exception:
            logger.exception('%s: could not record that its task is not registered', message.id)

    def on_interrupted(self, signal, task, *args):
        """A worker stopped mid-task: acks_late jobs go back now, others fail as lost."""
        lifecycle.release_lost(self.app, task.id, 'interrupted by %s' % (
            self.interrupted_by or 'a cold stop of its worker'), attempt=getattr(task, 'attempt', None))

    def on_expired(self, signal, task, *args):
        lifecycle.expire_at_claim(self.app, task.id, task.name, getattr(task, 'workflow', None))

    def on_enqueued(self, signal, task, *args):
        # Immediate mode runs the task inside enqueue() without the storage:
        # give it a row anyway, so tests of task logic see real records.
        if self.app.huey.immediate:
            self.app.huey.storage.enqueue(self.app.huey.serialize_task(task), task.priority)
            lifecycle.run_immediately(self.app, task.id)

