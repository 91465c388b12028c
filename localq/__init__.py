"""localq: Celery-style background jobs on Huey + SQLite, with nothing to install but Python."""
from . import states
from .app import LocalQ
from .beat import crontab
from .canvas import Signature, chain, chord, group, maybe_signature, signature
from .current import current_app
from .errors import (CanvasError, ConfigError, Ignore, InvalidTaskOptions, JobFailed, JobNotFound, LocalqError,
                     MaxRetriesExceededError, NotRegistered, Reject, ResultTimeout, Retry, TaskArgumentError,
                     TaskRevoked, WorkerLost)
from .results import AsyncResult, EagerResult, GroupResult, allow_join_result
from .task import Task
from .shared import shared_task
from .watchdog import SoftTimeLimitExceeded, TimeLimitExceeded

Celery = LocalQ  # so `from localq import Celery` works for a course snippet too

__all__ = ['crontab', 'LocalQ', 'Celery', 'AsyncResult', 'GroupResult', 'EagerResult', 'current_app', 'states',
           'Signature', 'signature', 'maybe_signature', 'chain', 'group', 'chord', 'shared_task',
           'CanvasError', 'ConfigError', 'InvalidTaskOptions', 'JobFailed', 'JobNotFound', 'LocalqError',
           'MaxRetriesExceededError', 'NotRegistered', 'ResultTimeout', 'Retry', 'TaskArgumentError', 'TaskRevoked',
           'WorkerLost', 'SoftTimeLimitExceeded', 'TimeLimitExceeded', 'Task', 'Ignore', 'Reject', 'allow_join_result']
