"""What a user does to jobs, queues and workers (the dashboard's buttons, the API, the CLI).

Each action checks its input and hands the change to lifecycle.py (jobs) or writes the one row
it owns (a worker's stop request); the web layer only translates the answer into HTML or JSON.
"""
import time

from . import lifecycle, states
from .errors import JobNotFound, QueueNotFound, WorkerNotFound
from .lifecycle import requeue, run_now

__all__ = ['requeue', 'run_now', 'bulk_retry', 'bulk_discard', 'delete_job', 'empty_queue', 'request_worker_stop']


def bulk_retry(app, job_filter):
    """Re-queue every failed or revoked job matching the filter; returns how many."""
    from .monitor.listing import matching_ids
    return sum(len(requeue(app, ids)) for ids in matching_ids(job_filter, sorted(lifecycle.REQUEUE.sources)))


def bulk_discard(app, job_filter):
    """Delete every job matching the filter that is not running (waiting ones never run); returns how many.
    Running jobs are left alone: revoke them instead."""
    from .monitor.listing import matching_ids
    return sum(lifecycle.delete_ids(app, ids) for ids in matching_ids(
        job_filter, states.READY_TO_CLAIM + tuple(states.TERMINAL)))


def delete_job(app, job_id):
    """Delete one job that is not running, with its attempts (RQ's and Flower's "delete");
    True if it was deleted, False if it is running (revoke it first). JobNotFound if unknown."""
    if lifecycle.delete_ids(app, [job_id]) == 1:
        return True
    if app.query.sql('SELECT 1 FROM job WHERE id = ?', (job_id,)).fetchone() is None:
        raise JobNotFound(job_id)
    return False


def empty_queue(app, name):
    """Delete every job waiting in a queue (ready or scheduled; running ones finish, workflow
    members waiting for a parent stay); returns how many. QueueNotFound for an unknown queue."""
    known = app.known_queues()
    if name not in known:
        raise QueueNotFound(name, known)
    return lifecycle.delete(app, 'queue = ? AND %s' % states.SQL_CLAIMABLE, (name,))


def request_worker_stop(app, worker_id):
    """Ask a running worker to stop gracefully (its next heartbeat, within heartbeat_interval,
    stops it as Ctrl-C would: running jobs finish). WorkerNotFound unless it is running."""
    now = time.time()
    done = app.query.sql('UPDATE worker SET stop_requested = ? WHERE id = ? AND stopped_at IS NULL '
                         'AND last_seen > ?', (now, worker_id, now - app.config.lease_timeout))
    if done.rowcount != 1:
        raise WorkerNotFound(worker_id)
