"""A worker frozen past its lease (SIGSTOP: a laptop lid, a VM paused) while it runs jobs, whose jobs
are rescued and finished by another worker, and which is then thawed (SIGCONT).

At its first heartbeat it must find that those runs are no longer its own and stop them: their
side effect must not happen a second time, its late outcomes must not touch the rows, and it
goes on working."""
import signal

from tests.faults.conftest import TEST_DATABASE_URL, either_database

LONG_STEPS = 100   # 50 ms each: a 5 s run, so the thawed worker still has most of it to do


@either_database
def test_a_thawed_worker_stops_the_runs_it_no_longer_owns(open_app, workers, fault_run, database):
    app = open_app(TEST_DATABASE_URL)
    run = fault_run(app)
    env = dict(run.env, LOCALQ_DATABASE_URL=TEST_DATABASE_URL)
    # Given a worker running two long acks_late jobs
    frozen = workers('frozen', env, concurrency=2)
    long_jobs = run.enqueue(2, steps=LONG_STEPS)
    run.wait(lambda s: s.get('STARTED') == 2, timeout=30, what='both long jobs running')
    # When it is frozen, and another worker rescues its jobs once their lease runs out and runs them
    frozen.signal(signal.SIGSTOP)
    run.fault_starts()
    rescuer = workers('rescuer', env, concurrency=2)
    run.wait_all_done(timeout=30)
    assert run.workers_of(long_jobs) == {'rescuer'}
    rescuer.stop()
    # and then thawed, the only worker left
    frozen.signal(signal.SIGCONT)
    run.fault_ends()
    # Then it goes on working: it runs new jobs
    fresh = run.enqueue(10)
    run.wait_all_done(timeout=30)
    assert run.workers_of(fresh) == {'frozen'}
    frozen.stop()
    # and the long jobs each had one lost attempt and one success: its late outcomes changed nothing
    for job_id in long_jobs:
        assert run.attempt_outcomes(job_id) == ['LOST', 'SUCCESS'], run.evidence()
    # and no side effect happened twice (the thawed runs were stopped before their end)
    run.check()
