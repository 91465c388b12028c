"""A PostgreSQL restart (`pg_ctl restart -m fast`: connections closed; `-m immediate`: the server
killed, crash recovery at start) at three moments of a worker's life:

  busy         the worker threads are inside 50 ms tasks (the stall of issue #22: both threads
               parked for good after a failed claim, their jobs' leases kept alive by the heartbeat);
  mid-outcome  jobs that do nothing, so the threads spend nearly all their time in the statement
               that writes an outcome and claims the next job;
  idle         nothing queued: only the heartbeat, the wake-up listener and sleeping threads see it.
"""
import pytest

from tests.faults.conftest import postgres_pass

pytestmark = postgres_pass

MOMENTS = {   # moment: (jobs queued before, steps of 50 ms each, successes to wait for before the restart)
    'busy': (100, 1, 30),
    'mid-outcome': (400, 0, 60),
    'idle': (20, 1, 20),
}


@pytest.mark.parametrize('mode', ['fast', 'immediate'])
@pytest.mark.parametrize('moment', list(MOMENTS))
def test_postgres_restart(own_cluster, open_app, workers, fault_run, moment, mode):
    app = open_app(own_cluster.url())
    run = fault_run(app)
    before, steps, wait_for = MOMENTS[moment]
    # Given one worker (2 threads, lease 5 s, heartbeat 1 s) draining jobs (or done with them)
    worker = workers('restart', dict(run.env, LOCALQ_DATABASE_URL=own_cluster.url()), concurrency=2)
    run.enqueue(before, steps=steps)
    run.wait_done_at_least(wait_for, timeout=30)
    # When the server restarts
    run.fault_starts()
    run.unusable_from_now()
    own_cluster.pg_ctl('restart', mode=mode)
    run.usable_from_now()
    run.fault_ends()
    # and the producer queues 100 more at once (its connection was cut too)
    run.enqueue(100, steps=steps)
    # Then every job ends SUCCESS within 30 s of the restart, each side effect once, and the worker
    # logged the outage's start and end
    run.wait_all_done(timeout=30)
    worker.stop()
    run.check(expect_outage_logged=[worker])
