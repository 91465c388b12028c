"""What a running task sees: Celery's `self.request`, `self.update_state()`, `self.retry()`.

A bind=True task's function gets an ExecutionContext as `self`; `current_context()` finds the
one of the task running in this thread (Task.request). An errback gets (request, exc,
traceback) of the job that failed, rebuilt from its row.
"""
import json
import threading
import time
import traceback as tb

from .errors import MaxRetriesExceededError, Retry

_local = threading.local()


def set_context(context):
    """The ExecutionContext of the task this thread runs now (None: none)."""
    _local.context = context


def current_context():
    """The ExecutionContext of the task running in this thread, or None."""
    return getattr(_local, 'context', None)


def traceback_text(exc):
    return ''.join(tb.format_exception(type(exc), exc, exc.__traceback__))


def errback_arguments(app, failed_id):
    """(request, exc, traceback) of a failed job, rebuilt from its row, for a Celery-style errback."""
    from .results import rebuild_exception
    row = app.query.sql('SELECT task, args, kwargs, attempts, error_type, error_message, traceback '
                               'FROM job WHERE id = ?', (failed_id,)).fetchone()
    if row is None:
        return (Request(failed_id, None, (), {}, 0), None, None)
    name, args, kwargs, attempts, error_type, message, traceback = row
    request = Request(failed_id, name, tuple(json.loads(args)), json.loads(kwargs), max(0, attempts - 1))
    return (request, rebuild_exception(failed_id, error_type, message, traceback), traceback)


class Request:
    """Celery's self.request: facts about the running attempt."""

    def __init__(self, id, task, args, kwargs, retries, hostname=None, is_eager=False):
        self.id, self.task, self.args, self.kwargs = id, task, args, kwargs
        self.retries, self.hostname, self.is_eager = retries, hostname, is_eager
        self.root_id = self.parent_id = self.group = None   # a workflow member's links (canvas.py)
        self.rate_slot = None   # a rate-limited call's start slot (UNIX time); it never starts before it

    @property
    def called_directly(self):
        """True when the task's function was called as a plain function, not run for a job."""
        return self.id is None

    def __repr__(self):
        return '<Request %s %s retries=%s>' % (self.task, self.id, self.retries)


class ExceptionInfo:
    """Celery's einfo, passed to on_failure/on_retry/after_return: the exception and its traceback text."""

    def __init__(self, exc):
        self.exception, self.type = exc, type(exc)
        self.traceback = traceback_text(exc)

    def __str__(self):
        return self.traceback


class ExecutionContext:
    """The `self` of a bind=True task: request, update_state(), retry()."""

    def __init__(self, task, request, huey_task=None):
        self.task, self.request, self._huey_task = task, request, huey_task
        self.name = task.name
        self.max_retries = task.options.max_retries
        self.app = task.app

    def update_state(self, task_id=None, state=None, meta=None):
        """Record progress: a state such as "PROCESSING" and its meta dict."""
        job_id = task_id or self.request.id
        if job_id is None or self.request.is_eager:  # called directly or by apply(), not through a worker
            return
        attempt = getattr(self._huey_task, 'attempt', None) if job_id == self.request.id else None
        self.app.tracker.update_state(job_id, state or 'PROGRESS', meta, attempt=attempt)

    def retry(self, exc=None, countdown=None, eta=None, max_retries=None, **_ignored):
        """Schedule another attempt (raises); past max_retries re-raise exc."""
        if self._huey_task is not None:
            remaining = self._huey_task.retries
        elif self.request.id is not None:   # apply(): retries run at once, in this process
            remaining = self.max_retries - self.request.retries
        else:                               # a direct call of the function
            remaining = 0
        if max_retries is not None and self.request.retries >= max_retries:
            remaining = 0
        if remaining <= 0:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError("can't retry %s[%s]: max_retries (%s) reached" % (
                self.name, self.request.id, self.max_retries))
        if eta is not None:
            countdown = max(0.0, eta.timestamp() - time.time())
        raise Retry(exc=exc, countdown=self.task.options.default_retry_delay if countdown is None else countdown)

    def AsyncResult(self, job_id):
        return self.app.AsyncResult(job_id)
