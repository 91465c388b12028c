"""One decision per outcome: what a run did becomes what happens to its job.

A run returns, raises, asks to retry, times out, is revoked, loses its lease, waits for its
rate slot, or cannot store its value. `decide()` turns that into one `Outcome`: the job's next
state, the attempt row's outcome, the error, when it runs again, the result to store, and what
to log. It is a pure function of the run (no database, no clock but the run's `now`), so the
retry policy reads in one place and is tested as a table (tests/unit/test_outcome.py).

Who uses it: `Task._execute` decides as the function raises (Celery's on_retry/on_failure
handlers need to know which it is, and Huey's re-queue follows `huey_retry()`); the tracker
decides for a returned value and for what reached Huey outside the function (a hard time limit);
then the tracker logs it, and `lifecycle.record()` stores and counts it in one transaction.
"""
import dataclasses
import json
import random
import traceback as tb

from huey.exceptions import RateLimitExceeded, TaskTimeout

from . import errorgroups, states
from .errors import DatabaseUnavailable, DiskFull, Ignore, LeaseLost, Reject, Retry, Revoked

TRANSIENT_RETRY = 10.0   # seconds before a job that met a full disk or an unreachable database runs again
NO_ERROR = (None, None, None)


@dataclasses.dataclass(frozen=True)
class Run:
    """What a run did, as its worker saw it."""
    task: str
    now: float
    exception: BaseException = None   # None: it returned `value`
    value: object = None
    retries_left: int = 0          # Huey's count, when the run ended
    max_retries: int = 0
    autoretry_for: tuple = ()
    retry_backoff: object = False  # the task's options, for the next retry's delay
    retry_backoff_max: float = 600
    retry_jitter: bool = True
    default_retry_delay: float = 180
    ignore_result: bool = False

    @property
    def retries_done(self):
        return self.max_retries - self.retries_left

    @classmethod
    def of(cls, task_options, **facts):
        """A run of a task with these TaskOptions (None: a task this process does not have)."""
        if task_options is None:
            return cls(**facts)
        return cls(max_retries=task_options.max_retries, autoretry_for=task_options.autoretry_for,
                   retry_backoff=task_options.retry_backoff, retry_backoff_max=task_options.retry_backoff_max,
                   retry_jitter=task_options.retry_jitter, default_retry_delay=task_options.default_retry_delay,
                   ignore_result=task_options.ignore_result, **facts)


@dataclasses.dataclass(frozen=True)
class Outcome:
    state: str                     # the job's next state
    attempt: str = None            # the attempt row's outcome; None: not an attempt (a rate-limit wait)
    error: tuple = NO_ERROR        # (type, message, traceback) on the job and attempt rows
    eta: float = None              # when it may run again (RETRY, PENDING)
    wait_reason: str = None
    result: str = None             # the return value as JSON text (SUCCESS)
    retry_in: float = None         # Huey re-queues it after this many seconds; None: Huey does not
    log: str = None                # 'retry' (INFO), 'final' (ERROR + traceback), 'error' (ERROR), 'revoked' (INFO)
    cause: tuple = None            # the error a workflow's waiting members carry if it ends without a result
    group: str = None              # a final failure's error group (errorgroups.py), stored on the job row

    @property
    def finished(self):
        return self.state in states.TERMINAL

    @property
    def ends_without_result(self):
        """Members waiting on it are cancelled (and its errbacks queued, for a FAILURE)."""
        return self.state in (states.FAILURE, states.REVOKED)


SUCCEEDED = Outcome(states.SUCCESS, states.SUCCESS)   # a success whose value is not stored (ignore_result)


def error_fields(exc):
    """(type, message, traceback) as stored on a row; self.retry(exc=e) is stored as e."""
    if isinstance(exc, Retry) and exc.exc is not None:
        exc = exc.exc
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ('builtins', '__main__'):
        name = '%s.%s' % (module, name)
    return name, str(exc), ''.join(tb.format_exception(type(exc), exc, exc.__traceback__))


def backoff_delay(run, rng=random):
    """Seconds before the next automatic retry.

    retry_backoff=True starts at 1 s (a number starts there), doubles per retry, and stops at
    retry_backoff_max. Jitter keeps it between half and all of that ("equal jitter"): delays
    still visibly grow, yet workers that failed together do not retry together. Without
    retry_backoff it is default_retry_delay, as in Celery."""
    if not run.retry_backoff:
        return float(run.default_retry_delay)
    factor = 1.0 if run.retry_backoff is True else float(run.retry_backoff)
    delay = min(float(run.retry_backoff_max), factor * (2 ** run.retries_done))
    if run.retry_jitter:
        delay = rng.uniform(delay / 2.0, delay)
    return delay


def failure(error, log='final', attempt=states.FAILURE):
    return Outcome(states.FAILURE, attempt, error, log=log, cause=error, group=errorgroups.group_of(*error))


def returned(task, value, ignore_result=False):
    """The outcome of a run that returned `value`: decide()'s first case, callable without a Run,
    since every finished job passes here (the tracker's fast path)."""
    if ignore_result:
        return SUCCEEDED
    try:
        return Outcome(states.SUCCESS, states.SUCCESS, result=json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as why:
        return failure(('localq.errors.ResultNotSerializable',
                        'the return value of %s is not JSON-serialisable: %s' % (task, why), ''), 'error')


def retry(run, error, delay):
    delay = max(delay, 0.001)
    return Outcome(states.RETRY, states.RETRY, error, eta=run.now + delay,
                   wait_reason='retry %d of %d' % (run.retries_done + 1, run.max_retries), retry_in=delay, log='retry')


def revoked(why, error=NO_ERROR, log=None):
    return Outcome(states.REVOKED, states.REVOKED, error, wait_reason=why[:200], log=log,
                   cause=error if error != NO_ERROR else ('localq.errors.Revoked', why, ''))


def decide(run, rng=random):
    """The one outcome of a run (see the module docstring)."""
    exc = run.exception
    if exc is None:
        return returned(run.task, run.value, run.ignore_result)
    if isinstance(exc, RateLimitExceeded) and exc.retry:
        # Not an attempt: the job waits for the start slot it reserved (localq's rate_limit), or for
        # the window's end (Huey's rate_limit; with retry=False it is an error like any other).
        return Outcome(states.PENDING, None, eta=getattr(exc, 'slot', None) or run.now + exc.delay,
                       wait_reason='rate-limited', retry_in=0)
    if isinstance(exc, Reject) and exc.requeue:
        # Celery's Reject(requeue=True): back in its queue for any worker; this attempt counts.
        return Outcome(states.PENDING, 'REJECTED', error_fields(exc), eta=run.now,
                       wait_reason='rejected and requeued')
    if isinstance(exc, Ignore):
        return revoked('ignored (the task raised Ignore)')
    if isinstance(exc, Reject):
        return revoked('rejected: %s' % (exc.reason or 'the task raised Reject'))
    if isinstance(exc, Revoked):
        error = error_fields(exc)
        return Outcome(states.REVOKED, states.REVOKED, error, log='revoked', cause=error)
    if isinstance(exc, LeaseLost):
        # Another worker holds the job now: this write is fenced out (lifecycle.record), and
        # leases.py has said so in the log. Never retried.
        return failure(error_fields(exc), log=None)
    error = error_fields(exc)
    if isinstance(exc, (DiskFull, DatabaseUnavailable)):
        # Temporary: retried later while retries are left, whatever autoretry_for says.
        return retry(run, error, TRANSIENT_RETRY) if run.retries_left > 0 else failure(error, 'error')
    if isinstance(exc, Retry):
        # self.retry() raised this only because retries are left (task.py).
        return retry(run, error, exc.countdown)
    if isinstance(exc, TaskTimeout):
        return failure(error, attempt='TIMEOUT')   # a hard time limit is never retried
    if run.retries_left > 0 and run.autoretry_for and isinstance(exc, run.autoretry_for):
        return retry(run, error, backoff_delay(run, rng))
    # Celery retries an error only if autoretry_for names it (or the task calls self.retry()).
    return failure(error)


def huey_retry(task, outcome):
    """Make Huey's re-queue (after its post-execute hooks) follow the outcome: with retries left
    and this delay, or none."""
    if outcome.retry_in is None:
        task.retries = 0
    else:
        task.retry_delay, task.retry_backoff = outcome.retry_in, 0
