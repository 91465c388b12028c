"""Prune old finished jobs in small batches, so workers never wait long for the write lock."""
import time

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
