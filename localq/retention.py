"""Prune finished jobs in small steps, often, so the table stays near its cap and no claim or
enqueue waits long for the write lock.

Why steps: a sweep every 5 minutes let the table reach twice its cap between sweeps, and the
sweep itself (an OFFSET read that sorted every finished job, then 500-row deletes back to back)
held a job up to 5 s past its start time. Here the worker that does the upkeep (upkeep.py) calls
`Pruner.step()` every second or so: each step deletes at most a few small batches, each in its
own short write transaction, with a pause between them for the queue's own writes, for at most
STEP_TIME seconds; the batch shrinks when a transaction took longer than STEP_BUDGET and grows
back when it is quick.

What goes: finished jobs past their age (failed ones are kept longer), and the oldest finished
jobs beyond keep_max_jobs. How many are beyond the cap comes from a count of the finished jobs
(a range of the job_finished index: 2 ms at 50k rows, 40 ms at 1M), made at most every
COUNT_EVERY seconds; in between, jobs finishing push the table at most that many seconds' worth of
jobs past the cap.

Also here: waiting jobs whose `expires` passed while no worker took them are revoked
(expire_unclaimed, every EXPIRE_EVERY seconds of the same upkeep).
"""
import time

from . import lifecycle, states

DAY = 86400.0
BATCH = 100           # jobs per write transaction to start with
MIN_BATCH, MAX_BATCH = 10, 1000
STEP_BUDGET = 0.008   # seconds a delete transaction should hold the write lock, at most
STEP_TIME = 0.5       # seconds a step may last, pauses included (a step runs every second)
BATCHES_PER_STEP = 1000
# Seconds between two batches: long enough for writers waiting in SQLite's busy handler (which
# sleeps up to 100 ms between tries) to find the lock free.
PAUSE = 0.02
COUNT_EVERY = 10.0    # seconds between counts of the finished jobs (the cap)
EXPIRE_EVERY = 5.0    # seconds between looks for waiting jobs past their expires

FINISHED = ('SUCCESS', 'REVOKED', 'FAILURE')

# The oldest finished jobs, read per state in the order of job_finished (state, finished_at),
# so only `limit` rows of each state are read and sorted, never every finished job.
OLDEST_FINISHED = ('SELECT id FROM (%s) AS oldest ORDER BY finished_at LIMIT ?' % ' UNION ALL '.join(
    "SELECT * FROM (SELECT id, finished_at FROM job WHERE state = '%s' AND finished_at IS NOT NULL "
    "ORDER BY finished_at LIMIT ?) AS s%d"
    % (state, n) for n, state in enumerate(FINISHED)))
# Finished jobs past their age: succeeded and revoked ones, then failed ones (kept longer).
EXPIRED = ("SELECT id FROM job WHERE state IN ('SUCCESS', 'REVOKED') AND finished_at < ? LIMIT ?",
           "SELECT id FROM job WHERE state = 'FAILURE' AND finished_at < ? LIMIT ?")
COUNT_FINISHED = 'SELECT COUNT(*) FROM job WHERE finished_at IS NOT NULL'   # every entry of job_finished


def delete_jobs(app, select, params, held=None):
    """Delete the jobs a select names (and their attempts) in one write transaction; returns how many.
    A select that finds nothing costs one read, and no write lock. `held`, a list, gets the seconds
    the write lock was held (not the wait for it)."""
    ids = [i for i, in app.query.sql(select, params).fetchall()]
    if not ids:
        return 0
    with app.write_transaction():   # the lifecycle's delete runs inside it
        started = time.perf_counter()
        # The lifecycle's delete checks each one is still finished: a job may have been re-queued meanwhile.
        n = lifecycle.delete_ids(app, ids, lifecycle.PRUNE)
        if held is not None:
            held.append(time.perf_counter() - started)
    return n


class Pruner:
    """The retention of one process's upkeep: see the module docstring."""

    def __init__(self, app):
        self.app = app
        self.batch = BATCH
        self.over_cap = 0          # finished jobs beyond keep_max_jobs at the last count, less those deleted since
        self.next_count = 0.0
        self.next_expire = 0.0

    def step(self, now=None, batches=BATCHES_PER_STEP, pause=PAUSE):
        """Delete up to `batches` small batches of jobs due to go; returns how many went."""
        cfg = self.app.config
        now = time.time() if now is None else now
        deleted, rounds = 0, 0
        stop_at = time.monotonic() + STEP_TIME
        if time.monotonic() >= self.next_expire:
            self.next_expire = time.monotonic() + EXPIRE_EVERY
            expire_unclaimed(self.app, now)
        for select, age in zip(EXPIRED, (cfg.keep_succeeded_days, cfg.keep_failed_days)):
            while rounds < batches and time.monotonic() < stop_at:
                if rounds:
                    time.sleep(pause)
                limit = self.batch
                n = self._delete(select, (now - age * DAY, limit))
                deleted += n
                if n < limit:
                    rounds += n > 0
                    break
                rounds += 1
        if time.monotonic() >= self.next_count:
            self.next_count = time.monotonic() + COUNT_EVERY
            finished = self.app.query.sql(COUNT_FINISHED).fetchone()[0]
            self.over_cap = finished - cfg.keep_max_jobs
        while self.over_cap > 0 and rounds < batches and time.monotonic() < stop_at:
            if rounds:
                time.sleep(pause)
            rounds += 1
            limit = min(self.batch, self.over_cap)
            n = self._delete(OLDEST_FINISHED, (limit,) * len(FINISHED) + (limit,))
            deleted += n
            self.over_cap = self.over_cap - n if n == limit else 0
        return deleted

    def _delete(self, select, params):
        """One batch; the next batch's size follows how long this one held the write lock."""
        # What the batch size follows is how long the lock was held: a wait for the write turn
        # behind busy writers is no reason to delete fewer (counted in, it could halve batches
        # down to 10 jobs, fewer than a busy queue adds between two steps).
        held = []
        n = delete_jobs(self.app, select, params, held)
        took = held[0] if held else 0.0
        if took > STEP_BUDGET:
            self.batch = max(MIN_BATCH, self.batch // 2)
        elif n >= self.batch and took < STEP_BUDGET / 4:
            self.batch = min(MAX_BATCH, self.batch * 2)
        return n


def prune_step(app, now=None):
    """One step of a fresh Pruner (counts the finished jobs first); returns how many jobs went."""
    return Pruner(app).step(now)


def prune_jobs(app, now=None):
    """Delete every finished job past its age or beyond the cap, step after step (the CLI, tests);
    returns how many went."""
    pruner, deleted = Pruner(app), 0
    while True:
        n = pruner.step(now, pause=0)
        deleted += n
        if not n:
            return deleted
        pruner.next_count = 0.0   # count again: the cap's excess is known exactly after each step


def expire_unclaimed(app, now=None):
    """Revoke waiting jobs past their `expires` (Celery's: not run after it). A claim expires
    the job it takes (Huey's check); this catches those no worker takes, such as a job of a task
    that no running worker has: it waits for one until it expires. Returns their ids."""
    now = time.time() if now is None else now
    if not app.query.sql('SELECT 1 FROM job WHERE %s AND expires_at < ? LIMIT 1' % states.SQL_CLAIMABLE,
                         (now,)).fetchone():
        return []   # the usual case: a read, and no write lock
    return lifecycle.revoke_waiting(app, 'expires_at < ?', (now,), 'expired before a worker took it')
