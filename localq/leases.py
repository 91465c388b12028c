"""Leases: the runs this process holds, kept alive while it holds them, and given up when it does not.

A claim gives its run a lease (storage.py: `lease_until`, `lease_timeout` seconds); a run whose
lease runs out is rescued by any worker's sweep (recovery.py). So a lease must be renewed for
exactly the runs this process can still finish, and no others:
  - `HeldRuns` is the process's list of them, {job id: attempt number}: a run is added by its
    claim and dropped once its outcome is written (or can never be). A job whose claim committed
    but whose thread never learned of it (the connection died on the way back), or whose outcome
    can never be written, is not in it, so its lease runs out and it is rescued.
  - `renew_held_runs()` renews them in one statement, fenced by attempt number, and learns from the
    rows it renewed both which runs were revoked and which are no longer this worker's: a worker
    frozen past its lease (SIGSTOP, a laptop lid, a VM pause) or cut off from the database wakes
    up to find another worker ran its jobs; it stops its own runs of them at once (`LeaseLost`)
    instead of running them to the end a second time, and their late outcomes match no row.
A thread worker's heartbeat calls it for the whole process; a `-P process` worker's children each
call it for themselves, since only they know what they hold and only they can reach the thread.
"""
import logging
import os
import threading

from . import lifecycle
from .errors import LeaseLost, Revoked
from .watchdog import interrupt

logger = logging.getLogger('localq.worker')


class HeldRuns:
    """The runs this process holds: {job id: attempt number}, from claim until the outcome is written."""

    def __init__(self):
        self._runs = {}
        self._lock = threading.Lock()

    def hold(self, job_id, attempt):
        with self._lock:
            self._runs[job_id] = attempt

    def let_go(self, job_id, attempt=None):
        """Drop a run (only if it is still that attempt, when one is given)."""
        with self._lock:
            if job_id in self._runs and (attempt is None or self._runs[job_id] == attempt):
                del self._runs[job_id]

    def items(self):
        with self._lock:
            return list(self._runs.items())

    def __len__(self):
        return len(self._runs)

    def __contains__(self, job_id):
        return job_id in self._runs

    def clear(self):
        """A forked worker process holds none of its parent's runs."""
        with self._lock:
            self._runs.clear()


def _fenced(held):
    """' OR '-joined (id, attempt) conditions and their parameters for these runs."""
    params = []
    for job_id, attempt in held:
        params += [job_id, attempt]
    return ' OR '.join(['(id = ? AND attempts = ?)'] * len(held)), params


def renew_held_runs(app, worker_id, now, running=None):
    """Renew the lease of each run this process holds (one UPDATE by primary key, whatever the
    table's size), stop those a user revoked, and give up those no longer this worker's.
    Returns the job ids given up."""
    held_runs = app.held
    held = held_runs.items()
    if not held:
        return []
    running = app.watchdog.running if running is None else running
    fences, params = _fenced(held)
    rows = lifecycle.renew(app, fences, params, now + app.config.lease_timeout, worker_id)
    renewed = dict(rows)
    stop_revoked(running, [job_id for job_id, revoked in rows if revoked])
    lost = []
    for job_id, attempt in held:
        if job_id in renewed or job_id not in held_runs:
            continue   # renewed, or its outcome was written while we renewed
        # The row no longer says this worker runs attempt n: its lease ran out and another
        # worker's sweep released it (and maybe another worker claimed it since).
        held_runs.let_go(job_id, attempt)
        lost.append(job_id)
        thread_id = running.get(job_id)
        logger.warning('%s: this worker (pid %d) no longer holds attempt %d: its lease ran out and another worker '
                       'took the job over; %s', job_id, os.getpid(), attempt,
                       'stopping its run here' if thread_id is not None else 'its outcome here is not recorded')
        if thread_id is not None:
            interrupt(thread_id, LeaseLost)
    return lost


def deliver_revokes(app, running=None):
    """Stop the runs of this process that a user revoked (Revoked raised in their thread): a read
    by primary key of the runs held, often (a thread worker's heartbeat, 4 times a second)."""
    running = app.watchdog.running if running is None else running
    held = [(job_id, attempt) for job_id, attempt in app.held.items() if job_id in running]
    if not held:
        return
    fences, params = _fenced(held)
    rows = app.query.sql('SELECT id FROM job WHERE (%s) AND revoke_requested = ?' % fences,
                         tuple(params) + (True,)).fetchall()
    stop_revoked(running, [job_id for job_id, in rows])


def stop_revoked(running, job_ids):
    for job_id in job_ids:
        thread_id = running.get(job_id)
        if thread_id is not None:
            logger.info('%s: revoked while running; stopping it', job_id)
            interrupt(thread_id, Revoked)
