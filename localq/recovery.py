"""Rescue jobs whose worker vanished: acks_late ones run again, the others fail as lost."""
import logging
import time

from .states import SQL_RUNNING

logger = logging.getLogger(__name__)



def recover_stale_jobs(app, now=None):
    """Release every running job whose lease ran out; returns {job id: new state}."""
    now = time.time() if now is None else now
    storage = app.huey.storage
    stale = [job_id for job_id, in storage.sql(
        'SELECT id FROM job WHERE %s AND lease_until < ?' % SQL_RUNNING, (now,))]
    outcome = {}
    for job_id in stale:
        try:
            new_state = app.tracker.release_lost_job(
                job_id, 'worker lost: no heartbeat since lease ran out')
        except Exception:
            logger.exception('%s: could not release lost job', job_id)
            continue
        if new_state:
            logger.warning('%s: worker lost; job is now %s', job_id, new_state)
            outcome[job_id] = new_state
    if outcome:
        app.wake_workers()
    return outcome
