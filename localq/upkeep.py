"""The database's upkeep, done by one worker for all: pruning in small steps (retention.py) and,
on SQLite, checkpoints that keep the WAL file small.

Why one worker: every worker process pruned on its own, so they counted the same excess and
deleted it twice over, and took turns at the write lock for it. The worker that does the upkeep
is the longest-running live one (its row in the worker table); when it stops or dies, the next
one takes over at its next heartbeat.

Why checkpoints here: SQLite can start the WAL file over only when no reader still reads an
older snapshot; with five processes reading and writing all the time, one nearly always does,
and the WAL grew to 1.4 GB in a 20-minute soak. Each heartbeat tick looks at the file's size (a
stat); past WAL_LIMIT, db.checkpoint_wal() copies its pages into the database (PASSIVE, beside
the writers), then TRUNCATE checkpoints, tried for a short while (WAIT) until no reader is on an
old snapshot, empty the file.
"""
import logging
import os
import time

from .db import WAL_LIMIT, checkpoint_wal, is_sqlite
from .retention import Pruner

logger = logging.getLogger(__name__)

PRUNE_EVERY = 1.0      # seconds between pruning steps
ELECT_EVERY = 2.0      # seconds between looks at which worker does the upkeep
WAIT = 0.05            # seconds a checkpoint keeps trying to empty the WAL (a try never waits for readers)


class Upkeep:
    """One worker process's share of the upkeep: all of it if it is the elected one, else none."""

    def __init__(self, app, worker_id):
        self.app, self.worker_id = app, worker_id
        self.pruner = Pruner(app)
        self.elected = False
        self.next_elect = self.next_prune = 0.0
        self.checkpoints = self.checkpoints_busy = 0

    def is_mine(self, now):
        """True if this worker is the longest-running live one (read every ELECT_EVERY seconds)."""
        if now >= self.next_elect:
            self.next_elect = now + ELECT_EVERY
            row = self.app.query.sql(
                'SELECT id FROM worker WHERE stopped_at IS NULL AND last_seen > ? ORDER BY started_at, id LIMIT 1',
                (now - self.app.config.lease_timeout,)).fetchone()
            elected = row is not None and row[0] == self.worker_id
            if elected and not self.elected:
                logger.info('worker %s: does the database upkeep (pruning, checkpoints)', self.worker_id)
            self.elected = elected
        return self.elected

    def tick(self, now=None):
        """Called by the heartbeat thread a few times a second."""
        now = time.time() if now is None else now
        if not self.is_mine(now):
            return
        self.checkpoint_if_large()
        if now >= self.next_prune:
            self.next_prune = now + PRUNE_EVERY
            self.pruner.step(now)
            self.checkpoint_if_large()

    def checkpoint_if_large(self):
        db = self.app.query.database
        if not is_sqlite(db):
            return None
        try:
            size = os.stat(db.database + '-wal').st_size
        except OSError:
            return None
        if size <= WAL_LIMIT:
            return None
        busy, _, _ = checkpoint_wal(db, WAIT, int(self.app.config.busy_timeout * 1000))
        self.checkpoints += 1
        if busy:
            self.checkpoints_busy += 1
            logger.debug('WAL checkpoint: a reader kept an old snapshot (%d of %d busy)', self.checkpoints_busy,
                         self.checkpoints)
        return busy
