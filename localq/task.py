"""Task: what @app.task returns. Celery's calling API on top of a Huey task.

A Task wraps the user's function in `_execute`, the function Huey actually
registers. Huey retries on any exception while Celery (and the course) retries only on
`autoretry_for` and `self.retry()`: `_execute` asks outcome.decide, the one place that
policy lives, and tells Huey's task object whether and when to retry.
"""
import datetime
import inspect
import logging
import threading
import time
import uuid

from huey.exceptions import RateLimitExceeded
from huey.utils import normalize_time

from . import storage as storage_mod
from . import disk
from .db import is_connection_error
from .errors import DatabaseUnavailable, DiskFull, Ignore, LeaseLost, MaxRetriesExceededError, Reject, Retry, Revoked, \
    TaskArgumentError
from .outcome import Run, decide, huey_retry
from . import request as request_mod
from .request import ExceptionInfo, ExecutionContext, Request, current_context, errback_arguments, traceback_text

logger = logging.getLogger(__name__)

# A rate-limited call whose slot is this close waits in its thread rather than going back to the queue.
RATE_SLEEP = 0.05


def run_function(func, args, kwargs, eager=False):
    """Call a task's function; an `async def` one runs to its end on this worker thread's
    event loop (eager: on a loop of its own)."""
    result = func(*args, **kwargs)
    if inspect.iscoroutine(result):
        from . import aio
        return aio.run_once(result) if eager else aio.run_coroutine(result)
    return result


class Task:
    """A declared task: call it to run in-process, delay() to queue it.

    Also Celery's base class for handlers: `class MyTask(Task)` overriding before_start,
    on_success, on_retry, on_failure, after_return, then `@app.task(base=MyTask)`. They run on
    the worker around each attempt; one that raises is logged and changes nothing."""

    # Celery's handlers: no-ops unless a base class overrides them.
    def before_start(self, task_id, args, kwargs):
        pass

    def on_success(self, retval, task_id, args, kwargs):
        pass

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        pass

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        pass

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        pass

    @property
    def request(self):
        """The running attempt's Request in this thread (Celery's task.request), or one saying it
        was called directly."""
        context = current_context()
        if context is not None and context.task is self:
            return context.request
        return Request(None, self.name, (), {}, 0, is_eager=True)

    def _handler(self, name, *args):
        try:
            getattr(self, name)(*args)
        except Exception:
            logger.exception('%s: the task\'s %s handler raised; ignored', self.name, name)

    def __init__(self, app, func, options, given=None):
        self.app, self.func = app, func
        self.given = dict(given or {})   # the options the decorator was given (the rest follow app defaults)
        self.name = options.name
        self.__doc__, self.__name__ = func.__doc__, func.__name__
        self.__wrapped__ = func
        self.huey_task = app.huey.task(context=True, name=options.name)(self._execute)
        self.set_options(options)

    def set_options(self, options):
        """Apply resolved options: to Huey's task class (retries, time limit, priority) and to the
        route the storage writes rows by. Called again when an app-wide default changes
        (app.conf.task_acks_late = True)."""
        self.options = options
        task_class = self.huey_task.task_class
        task_class.default_retries, task_class.default_timeout = options.max_retries, options.time_limit
        task_class.default_priority = options.priority
        # Huey names a task by module and class; the storage writes our name.
        self.app.routes[self.app.huey._registry.task_to_string(task_class)] = storage_mod.TaskRoute(
            options.name, options.queue, options.max_retries, options.acks_late, options.ignore_result,
            keyed=options.concurrency_key is not None)

    def __repr__(self):
        return '<@task %s>' % self.name

    # -- calling ----------------------------------------------------------
    def __call__(self, *args, **kwargs):
        """Run the logic here and now, as a plain function (the course's "test it directly")."""
        if self.options.bind:
            request = Request(None, self.name, args, kwargs, 0, is_eager=True)
            return self.func(ExecutionContext(self, request), *args, **kwargs)
        return self.func(*args, **kwargs)

    def _signature_of_func(self):
        signature = self.__dict__.get('_signature')
        if signature is None:
            signature = self._signature = inspect.signature(self.func)
        return signature

    def check_call(self, args, kwargs):
        """Raise TaskArgumentError, in the caller, for a call that cannot bind to the function's
        parameters (as Celery does), rather than fail later on a worker."""
        signature = self._signature_of_func()
        try:
            if self.options.bind:
                signature.bind(None, *args, **kwargs)
            else:
                signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TaskArgumentError('%s%s: %s' % (self.name, signature, exc)) from None

    def param_names(self):
        """The function's parameter names, without bind's self (for a concurrency_key naming one)."""
        return list(self._signature_of_func().parameters)[1 if self.options.bind else 0:]

    def positional_parameters(self):
        """How many positional arguments the function takes (without bind's self); -1: any number."""
        params = list(self._signature_of_func().parameters.values())[1 if self.options.bind else 0:]
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            return -1
        return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)

    def delay(self, *args, **kwargs):
        """Queue a call; returns an AsyncResult at once."""
        return self.apply_async(args, kwargs)

    def apply_async(self, args=None, kwargs=None, link=None, link_error=None, **options):
        """Queue a call with options (countdown, eta, expires, queue, priority, task_id,
        idempotency_key; link= and link_error= signatures); returns an AsyncResult at once."""
        if link is not None or link_error is not None:
            from .canvas import apply_linked
            return apply_linked(self.signature(args, kwargs, **options), link, link_error)
        return self.app.enqueue_call(self.name, args, kwargs, options)

    def make_huey_task(self, args, kwargs, task_id=None, countdown=None, eta=None, expires=None, priority=None):
        """The Huey task object of one call (not queued)."""
        if isinstance(eta, datetime.datetime) and eta.tzinfo is not None:
            eta = eta.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        elif isinstance(eta, datetime.datetime):  # naive means local time, as in Celery
            eta = eta.astimezone().astimezone(datetime.timezone.utc).replace(tzinfo=None)
        expires = self.options.expires if expires is None else expires
        if isinstance(expires, datetime.datetime):
            # Seconds from now; negative for an expiry already past, which must expire the job
            # (clamped to 0 it read as "no expiry", and the job ran).
            expires = (expires.timestamp() - time.time()) or -0.001
        # Not TaskWrapper.s(): it reads eta, id, priority, ... out of the
        # call's own kwargs, so a task argument named `id` would become the job id.
        return self.huey_task.task_class(
            tuple(args), dict(kwargs), id=str(task_id) if task_id else None,
            eta=normalize_time(eta, countdown, True) if countdown is not None or eta is not None else None,
            priority=priority, expires=expires or None)

    # -- Celery's canvas and results ------------------------------------------
    def s(self, *args, **kwargs):
        """A signature with partial arguments; in a chain it gets the previous result first."""
        from .canvas import Signature
        return Signature(self, args, kwargs, app=self.app)

    def map(self, iterable):
        """Celery's task.map(items): one call per item, as a group (its .get() is the list of values)."""
        from .canvas import group
        return group(self.s(item) for item in iterable)

    def starmap(self, iterable):
        """Celery's task.starmap([(x, y), ...]): one call per tuple of arguments, as a group."""
        from .canvas import group
        return group(self.s(*item) for item in iterable)

    def chunks(self, items, n):
        """Celery's task.chunks(items, n): the calls cut into jobs of n calls each, as a group."""
        from .chunks import chunks
        return chunks(self, items, n)

    def si(self, *args, **kwargs):
        """An immutable signature: in a chain it does not get the previous result."""
        from .canvas import Signature
        return Signature(self, args, kwargs, immutable=True, app=self.app)

    def signature(self, args=None, kwargs=None, **options):
        """A signature with options: task.signature((2, 3), countdown=10)."""
        from .canvas import Signature
        return Signature(self, args, kwargs, options, immutable=options.pop('immutable', False), app=self.app)

    subtask = signature

    def apply(self, args=None, kwargs=None, task_id=None, **_options):
        """Run it here and now, as a worker would: retries at once, no rows written; returns an EagerResult."""
        from .results import EagerResult
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        self.check_call(args, kwargs)
        job_id = task_id or str(uuid.uuid4())
        retries = 0
        while True:   # Celery's handlers run around each attempt, as on a worker (its eager trace does too)
            context = ExecutionContext(self, Request(job_id, self.name, args, kwargs, retries, is_eager=True))
            self._handler('before_start', job_id, args, kwargs)
            try:
                value = run_function(self.func, (context,) + args if self.options.bind else args, kwargs, eager=True)
            except Retry as exc:
                error = exc.exc or MaxRetriesExceededError('retry without exc')
                retryable = True
            except Exception as exc:
                error = exc
                retryable = bool(self.options.autoretry_for) and isinstance(exc, self.options.autoretry_for)
            else:
                self._handler('on_success', value, job_id, args, kwargs)
                self._handler('after_return', 'SUCCESS', value, job_id, args, kwargs, None)
                return EagerResult(job_id, 'SUCCESS', value)
            status = 'RETRY' if retryable and retries < self.options.max_retries else 'FAILURE'
            info = ExceptionInfo(error)
            self._handler('on_retry' if status == 'RETRY' else 'on_failure', error, job_id, args, kwargs, info)
            self._handler('after_return', status, error, job_id, args, kwargs, info)
            if status == 'FAILURE':
                return EagerResult(job_id, 'FAILURE', error, traceback_text(error))
            retries += 1

    def AsyncResult(self, task_id):
        return self.app.AsyncResult(task_id)

    # -- running (in a worker) --------------------------------------------
    def _execute(self, *args, task=None, **kwargs):
        """What Huey runs: the user's function, and Celery's handlers around it. If it raises, the
        outcome is decided here (outcome.decide), so that on_retry or on_failure runs as it will
        be, and Huey's re-queue follows it; the tracker logs and stores the same decision."""
        options = self.options
        retries_done = options.max_retries - task.retries
        request = Request(task.id, self.name, args, kwargs, retries_done,
                          hostname=self.app.huey.storage.worker_id)
        workflow = getattr(task, 'workflow', None) or {}
        request.root_id, request.parent_id, request.group = (
            workflow.get('root'), workflow.get('parent'), workflow.get('group'))
        if workflow.get('errback_of'):   # Celery's errback(request, exc, traceback) of a failed job
            args = errback_arguments(self.app, workflow['errback_of']) + tuple(args)
        context = ExecutionContext(self, request, task)
        request_mod.set_context(context)
        self.app.watchdog.running[task.id] = threading.get_ident()
        status, retval, exc_info = None, None, None
        try:
            if options.rate_limit:
                request.rate_slot = self._take_rate_slot(task)
            self._handler('before_start', task.id, args, kwargs)
            with self.app.watchdog.limit(options.soft_time_limit):
                retval = run_function(self.func, ((context,) if options.bind else ()) + tuple(args), kwargs)
            status = 'SUCCESS'
            self._handler('on_success', retval, task.id, args, kwargs)
            return retval
        except Exception as exc:
            named = self._named(exc)
            outcome = decide(Run.of(options, task=self.name, now=time.time(), exception=named,
                                    retries_left=task.retries))
            task.decided = (named, outcome)
            huey_retry(task, outcome)
            if self._has_handlers(named):
                status = 'RETRY' if outcome.state == 'RETRY' else 'FAILURE'
                exc_info = ExceptionInfo(named)
                error = (named.exc or named) if isinstance(named, Retry) else named   # self.retry(exc=e): e
                self._handler('on_retry' if status == 'RETRY' else 'on_failure', error, task.id, args, kwargs, exc_info)
            if named is exc:
                raise
            raise named from exc
        finally:
            if status is not None:
                self._handler('after_return', status, retval if status == 'SUCCESS' else exc_info.exception,
                              task.id, args, kwargs, exc_info)
            request_mod.set_context(None)
            self.app.watchdog.running.pop(task.id, None)

    def _named(self, exc):
        """A full disk, or a database server that cannot be reached, is named as such (not as the
        error that happened to surface): both are temporary, and retried later (outcome.py)."""
        if disk.is_disk_full(exc, self.app.config.data_dir) and not isinstance(exc, DiskFull):
            return DiskFull(disk.describe(self.app.config.data_dir))
        if is_connection_error(exc) and not isinstance(exc, DatabaseUnavailable):
            return DatabaseUnavailable('the database could not be reached: %s' % str(exc).strip().splitlines()[0])
        return exc

    @staticmethod
    def _has_handlers(exc):
        """Celery's on_retry/on_failure run for the task's own errors and retries, not for a stop from
        outside (revoke, a lost lease), a rate-limit wait, Ignore/Reject, or a full disk."""
        if isinstance(exc, RateLimitExceeded):
            return not exc.retry   # Huey's rate_limit(retry=False) is an error like any other
        return not isinstance(exc, (Ignore, Reject, DiskFull, DatabaseUnavailable, Revoked, LeaseLost))

    def _take_rate_slot(self, task):
        """Wait for this call's start slot, shared by every worker; returns the slot.

        Slots are one interval apart (reserve_rate_slot), and a call never starts before its
        own: one due within RATE_SLEEP waits here, a later one goes back to the queue until its
        slot (not counted as an attempt)."""
        slot = self.app.tracker.reserved_slot(task.id)
        if slot is None:
            slot = reserve_rate_slot(self.app.query, 'task:' + self.name, self.options.rate_interval)
        wait = slot - time.time()
        if wait > RATE_SLEEP:
            exc = RateLimitExceeded(self.name, wait)
            exc.slot = slot   # the job's eta, exactly (outcome.py)
            raise exc
        if wait > 0:
            time.sleep(wait)
        return slot


def reserve_rate_slot(q, key, interval, now=None):
    """Reserve the next start slot of a rate-limited task; returns its time.

    One atomic statement, so every worker process shares the pace."""
    now = time.time() if now is None else now
    (next_at,) = q.sql(
        'INSERT INTO rate_slot (key, next_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE '
        'SET next_at = %s(rate_slot.next_at, ?) + ? RETURNING next_at' % ('MAX' if q.is_sqlite else 'GREATEST'),
        (key, now + interval, now, interval)).fetchone()
    return next_at - interval
