"""Database outages (server restarting, unreachable, disk full) reported in a few lines.

A worker keeps going through an outage: its loops pause and try again, and a job that
meets one is retried later. What the operator needs is to know that it started and
that it ended, not a traceback for every try. Likewise a task's error is logged once per
attempt, by localq, in one line unless it is final (TaskErrorsLoggedOnce).
"""
import logging
import os
import time

from . import disk
from .db import is_locked
from .errors import DatabaseUnavailable, DiskFull

logger = logging.getLogger('localq.worker')


class Outage:
    """A spell of failing database work: logged once when it starts and once when it ends,
    with a pause that grows from 0.1 s to 5 s between tries.

    Except for SQLite's "database is locked": the try itself already waited busy_timeout for the
    lock, and waiting in SQLite's busy handler is what takes the lock the moment its holder lets
    go; a growing pause outside it left a worker idle for seconds after a long lock ended, with
    a finished job's outcome unwritten (tests/faults/test_sqlite_lock.py)."""
    LOCKED_PAUSE = 0.05

    def __init__(self, who, data_dir):
        self.who, self.data_dir = who, data_dir
        self.since = None
        self.tries = 0
        self.locked = False

    def failed(self, exc):
        self.tries += 1
        self.locked = is_locked(exc)
        if self.since is None:
            self.since = time.monotonic()
            what = disk.describe(self.data_dir) if disk.is_disk_full(exc, self.data_dir) else '%s: %s' % (
                type(exc).__name__, first_line(exc))
            logger.warning('%s %d: cannot use the database (%s); retrying until it can', self.who, os.getpid(), what)

    def pause(self):
        if self.locked:
            return self.LOCKED_PAUSE
        return min(5.0, 0.1 * 2 ** min(self.tries, 6))

    def over(self):
        if self.since is not None:
            logger.warning('%s %d: the database answers again after %.1f s', self.who, os.getpid(),
                           time.monotonic() - self.since)
            self.since, self.tries = None, 0


def first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else ''


# Huey's record of every exception a task raises (huey/api.py, Huey._execute).
HUEY_TASK_ERROR = 'Unhandled exception in task %s.'


class TaskErrorsLoggedOnce(logging.Filter):
    """Huey logs every exception a task raises at ERROR with its traceback ("Unhandled exception
    in task ..."), a retry as much as a final failure: 7,821 tracebacks for 8 failed jobs in a
    20-minute soak, 22 MB of log an hour. localq knows which it is (tracking.py decides retries)
    and logs each attempt's end itself: a retry in one INFO line, a final failure in one ERROR
    with its traceback. So Huey's record is dropped. Any other Huey record about DiskFull or
    DatabaseUnavailable, which localq retries later, is cut to one line (a screen of driver
    frames per job running at the time says nothing more)."""

    def filter(self, record):
        if record.msg == HUEY_TASK_ERROR:
            return False
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (DiskFull, DatabaseUnavailable)):
            record.msg, record.args = '%s: %s (%s)', (record.getMessage(), type(exc).__name__, first_line(exc))
            record.exc_info = record.exc_text = None
        return True


def log_task_errors_once():
    """Install the filter on Huey's logger once per process (inherited by forked workers)."""
    huey_logger = logging.getLogger('huey')
    if not any(isinstance(f, TaskErrorsLoggedOnce) for f in huey_logger.filters):
        huey_logger.addFilter(TaskErrorsLoggedOnce())
