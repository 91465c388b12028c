"""Every failure localq raises on purpose, one class each."""


class LocalqError(Exception):
    """Base class of localq's own errors."""


class ConfigError(LocalqError):
    """Raised when a setting has a value localq cannot use."""


class InvalidTaskOptions(LocalqError):
    """Raised when @app.task(...) is given an unknown or ill-typed option."""


class InvalidCallOptions(LocalqError, ValueError, TypeError):
    """Raised when a call's options (countdown, queue, priority, ...) are unknown or out of range."""


class TaskArgumentError(LocalqError, TypeError):
    """Raised in the caller when a call cannot bind to the task's parameters or be sent as JSON."""


class JobNotFound(LocalqError, KeyError):
    """Raised when a job id names no job."""

    def __str__(self):
        return 'no job with id %r' % (self.args[0] if self.args else None)


class WorkerNotFound(LocalqError, KeyError):
    """Raised when a worker id names no running worker."""

    def __str__(self):
        return 'no running worker with id %r' % (self.args[0] if self.args else None)


class QueueNotFound(LocalqError, KeyError):
    """Raised when a queue name names no queue: none configured, served by a worker, or holding jobs."""

    def __init__(self, name, known=()):
        super().__init__(name)
        self.name, self.known = name, list(known)

    def __str__(self):
        return 'no queue named %r; queues: %s' % (self.name, ', '.join(self.known) or 'none')


class ResultTimeout(LocalqError, TimeoutError):
    """Raised by AsyncResult.get() when the job is not ready in time."""


class JobFailed(LocalqError):
    """Raised by AsyncResult.get() when the task's own exception type cannot be rebuilt."""

    def __init__(self, job_id, error_type, message, traceback=None):
        super().__init__('%s: %s' % (error_type, message))
        self.job_id, self.error_type, self.message, self.traceback = (
            job_id, error_type, message, traceback)


class TaskRevoked(LocalqError):
    """Raised by AsyncResult.get() for a job that was revoked."""


class Retry(LocalqError):
    """Raised by self.retry() inside a task to schedule the next attempt."""

    def __init__(self, exc=None, countdown=None):
        super().__init__('retry in %ss%s' % (countdown, ': %r' % exc if exc else ''))
        self.exc, self.countdown = exc, countdown


class MaxRetriesExceededError(LocalqError):
    """Raised by self.retry() when no retries are left and no exc was given."""


class NotRegistered(LocalqError, KeyError):
    """Recorded on a job whose worker has no task of that name (the job fails at once, never runs)."""

    def __str__(self):
        return str(self.args[0]) if self.args else 'task not registered'


class CanvasError(LocalqError, ValueError):
    """Raised when a workflow (chain, group, chord) cannot be built as given."""


class DiskFull(LocalqError, OSError):
    """Raised when the data folder's disk (or the database's) is full: a write was refused,
    nothing committed is lost; retried later where it can be."""


class DatabaseUnavailable(LocalqError, ConnectionError):
    """Raised when the database server could not be reached (a restart, a network blip):
    temporary; retried later where it can be."""


class WorkerLost(LocalqError):
    """Recorded on a job whose worker died or stopped while running it."""


class Revoked(LocalqError):
    """Raised inside a running task that was revoked, to stop it."""


class LeaseLost(LocalqError):
    """Raised inside a running task whose run this worker no longer holds: its lease ran out
    (the worker was frozen, or cut off from the database) and another worker took the job over."""


class Ignore(LocalqError):
    """Raised by a task to end its job with no outcome of its own (Celery's Ignore): the job
    ends REVOKED "ignored", no retry, no error recorded as a failure."""


class Reject(LocalqError):
    """Raised by a task to refuse its job (Celery's Reject): requeue=True puts it back in its
    queue for any worker (the attempt counts); otherwise it ends REVOKED "rejected"."""

    def __init__(self, reason=None, requeue=False):
        super().__init__(reason)
        self.reason, self.requeue = reason, requeue
