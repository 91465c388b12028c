"""Rescue jobs whose worker vanished: acks_late ones run again, the others fail as lost."""
import logging
import time

from . import lifecycle
from .states import SQL_RUNNING

logger = logging.getLogger(__name__)


def recover_stale_jobs(app, now=None):
    """Release every running job whose lease ran out; returns {job id: new state}."""
    now = time.time() if now is None else now
    return release_stale_runs(app, find_stale_runs(app, now), now)


def find_stale_runs(app, now):
    """[(job id, attempt number)] of the running jobs whose lease ran out by now."""
    return app.query.sql('SELECT id, attempts FROM job WHERE %s AND lease_until < ?' % SQL_RUNNING,
                         (now,)).fetchall()


def release_stale_runs(app, runs, now):
    """Release these runs, each only if it is still the run found stale.

    Every worker sweeps, so two can find the same stale run. Each release is fenced on the
    run it found (its attempt number) and on its lease being still out: once one worker has
    released the job and another has claimed it again, a second sweeper's release matches
    nothing and the new run goes on. (Unfenced, it released the new run at once: the job
    ran twice, side by side.)"""
    outcome = {}
    for job_id, attempt in runs:
        try:
            new_state = lifecycle.release_lost(
                app, job_id, 'worker lost: no heartbeat since lease ran out', attempt=attempt, lease_ran_out_by=now)
        except Exception:
            logger.exception('%s: could not release lost job', job_id)
            continue
        if new_state:
            logger.warning('%s: worker lost; job is now %s', job_id, new_state)
            outcome[job_id] = new_state
    if outcome:
        app.wake_workers()
    return outcome
