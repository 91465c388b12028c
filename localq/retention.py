"""Prune old finished jobs in small batches, so workers never wait long for the write lock; and
revoke waiting jobs whose `expires` passed while no worker took them."""
import json
import time

from . import counters, states, workflow

BATCH = 500
DAY = 86400.0


def _delete_batch(app, where, params):
    storage = app.huey.storage
    with app.write_transaction():
        ids = [i for i, in storage.sql('SELECT id FROM job WHERE %s LIMIT %d' % (where, BATCH), params)]
        if ids:
            marks = ','.join('?' * len(ids))
            storage.sql('DELETE FROM attempt WHERE job_id IN (%s)' % marks, ids)
            storage.sql('DELETE FROM job WHERE id IN (%s)' % marks, ids)
    return len(ids)


def prune_jobs(app, now=None):
    """Delete finished jobs past their age (failed ones are kept longer) or past the count cap.

    Returns how many jobs were deleted."""
    cfg = app.config
    now = time.time() if now is None else now
    expire_unclaimed(app, now)
    deleted = 0
    rules = [
        ("state IN ('SUCCESS', 'REVOKED') AND finished_at < ?", (now - cfg.keep_succeeded_days * DAY,)),
        ("state = 'FAILURE' AND finished_at < ?", (now - cfg.keep_failed_days * DAY,)),
    ]
    for where, params in rules:
        while True:
            n = _delete_batch(app, where, params)
            deleted += n
            if n < BATCH:
                break
    # Count cap: keep the newest keep_max_jobs finished jobs.
    storage = app.huey.storage
    row = storage.sql("SELECT finished_at FROM job WHERE state IN ('SUCCESS', 'REVOKED', 'FAILURE') "
                      'ORDER BY finished_at DESC LIMIT 1 OFFSET ?', (cfg.keep_max_jobs,)).fetchone()
    if row is not None:
        while True:
            n = _delete_batch(app, "state IN ('SUCCESS', 'REVOKED', 'FAILURE') AND finished_at <= ?", (row[0],))
            deleted += n
            if n < BATCH:
                break
    return deleted


def expire_unclaimed(app, now=None):
    """Revoke waiting jobs past their `expires` (Celery's: not run after it). A claim expires
    the job it takes (Huey's check); this catches those no worker takes, such as a job of a task
    that no running worker has: it waits for one until it expires. Returns their ids."""
    now = time.time() if now is None else now
    storage = app.huey.storage
    error = ('localq.errors.Revoked', 'expired before a worker took it', '')
    with app.write_transaction():
        rows = storage.sql("UPDATE job SET state = 'REVOKED', finished_at = ?, wait_reason = ? "
                           'WHERE %s AND expires_at < ? RETURNING id, task, root_id, message'
                           % states.SQL_CLAIMABLE, (now, error[1], now)).fetchall()
        counters.count_unrun(storage, [task for _, task, _, _ in rows], states.REVOKED)
        for job_id, task, root_id, message in rows:
            if root_id:
                workflow.after_final(app, job_id, task, states.REVOKED, json.loads(message).get('w'), error, now)
    return [job_id for job_id, _, _, _ in rows]
