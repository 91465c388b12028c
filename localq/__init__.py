"""localq: Celery-style background jobs on Huey + SQLite, with nothing to install but Python."""
from huey import crontab

from . import states
from .app import LocalQ
from .current import current_app
from .errors import (ConfigError, InvalidTaskOptions, JobFailed, JobNotFound, LocalqError,
                     MaxRetriesExceededError, ResultTimeout, Retry, TaskArgumentError, TaskRevoked,
                     WorkerLost)
from .results import AsyncResult
from .watchdog import SoftTimeLimitExceeded, TimeLimitExceeded

Celery = LocalQ  # so `from localq import Celery` works for a course snippet too

__all__ = ['crontab', 'LocalQ', 'Celery', 'AsyncResult', 'current_app', 'states', 'ConfigError',
           'InvalidTaskOptions', 'JobFailed', 'JobNotFound', 'LocalqError', 'MaxRetriesExceededError',
           'ResultTimeout', 'Retry', 'TaskArgumentError', 'TaskRevoked', 'WorkerLost',
           'SoftTimeLimitExceeded', 'TimeLimitExceeded']
