"""SQLite: another process (a backup script, a sqlite3 shell left in a transaction) holds the
write lock for longer than the workers' busy_timeout while they are busy, then lets go: first for
less than a lease, then for longer than one (nobody can renew a lease meanwhile, nor rescue)."""
import os
import subprocess
import sys

import pytest

from tests.faults.conftest import sqlite_pass

pytestmark = sqlite_pass

BUSY_TIMEOUT = 1.0
# Holds the write lock (BEGIN IMMEDIATE) for argv[2] seconds: the fault's length, not a wait.
HOLD_THE_LOCK = ('import sqlite3, sys, time\n'
                 'db = sqlite3.connect(sys.argv[1], isolation_level=None)\n'
                 'db.execute("BEGIN IMMEDIATE")\n'
                 'print("locked", flush=True)\n'
                 'time.sleep(float(sys.argv[2]))\n'
                 'db.execute("COMMIT")\n')


@pytest.mark.parametrize('hold', [3.0, 8.0], ids=['shorter-than-lease', 'longer-than-lease'])
def test_a_write_lock_held_past_busy_timeout(open_app, workers, fault_run, hold):
    app = open_app('')
    run = fault_run(app)
    # Given a worker (busy_timeout 1 s) draining jobs of 50 ms
    worker = workers('locked-out', dict(run.env, LOCALQ_BUSY_TIMEOUT=str(BUSY_TIMEOUT)), concurrency=2)
    run.enqueue(200)
    run.wait_done_at_least(30, timeout=30)
    # When another process holds the write lock for longer than busy_timeout, then commits
    holder = subprocess.Popen([sys.executable, '-c', HOLD_THE_LOCK, os.path.join(app.config.data_dir, 'localq.db'),
                               str(hold)], stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b'locked\n'
    run.fault_starts()
    run.unusable_from_now()
    assert holder.wait(timeout=hold + 30) == 0
    holder.stdout.close()
    run.usable_from_now()
    run.fault_ends()
    run.enqueue(100)
    # Then the worker carries on: every job done once, the outage logged as it began and ended
    run.wait_all_done(timeout=30)
    worker.stop()
    run.check(expect_outage_logged=[worker])
