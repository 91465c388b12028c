"""Database outages (server restarting, unreachable, disk full) reported in a few lines.

A worker keeps going through an outage: its loops pause and try again, and a job that
meets one is retried later. What the operator needs is to know that it started and
that it ended, not a traceback for every try.
"""
import logging
import os
import time

from . import disk
from .errors import DatabaseUnavailable, DiskFull

logger = logging.getLogger('localq.worker')


class Outage:
    """A spell of failing database work: logged once when it starts and once when it ends,
    with a pause that grows from 0.1 s to 5 s between tries."""

    def __init__(self, who, data_dir):
        self.who, self.data_dir = who, data_dir
        self.since = None
        self.tries = 0

    def failed(self, exc):
        self.tries += 1
        if self.since is None:
            self.since = time.monotonic()
            what = disk.describe(self.data_dir) if disk.is_disk_full(exc, self.data_dir) else '%s: %s' % (
                type(exc).__name__, first_line(exc))
            logger.warning('%s %d: cannot use the database (%s); retrying until it can', self.who, os.getpid(), what)

    def pause(self):
        return min(5.0, 0.1 * 2 ** min(self.tries, 6))

    def over(self):
        if self.since is not None:
            logger.warning('%s %d: the database answers again after %.1f s', self.who, os.getpid(),
                           time.monotonic() - self.since)
            self.since, self.tries = None, 0


def first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else ''


class TransientErrorsInOneLine(logging.Filter):
    """Huey logs every exception a task raises with its traceback ("Unhandled exception in
    task ..."). For DiskFull and DatabaseUnavailable, which localq retries later, that is a
    screen of driver frames per job running at the time; this filter keeps one line."""

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (DiskFull, DatabaseUnavailable)):
            record.msg, record.args = '%s: %s (%s)', (record.getMessage(), type(exc).__name__, first_line(exc))
            record.exc_info = record.exc_text = None
        return True


def quiet_transient_task_errors():
    """Install the filter on Huey's logger once per process."""
    huey_logger = logging.getLogger('huey')
    if not any(isinstance(f, TransientErrorsInOneLine) for f in huey_logger.filters):
        huey_logger.addFilter(TransientErrorsInOneLine())
