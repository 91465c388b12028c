"""A connection killed by the server (`pg_terminate_backend`: what a failover, an idle timeout or
an administrator does), one at a time: each of a busy worker's connections in turn (its worker
threads', its heartbeat's, its wake-up listener's, its scheduler's), and the producer's."""
from tests.conftest import TEST_DATABASE_URL
from tests.faults.conftest import postgres_pass
from tests.faults.harness import backends_of, terminate

pytestmark = postgres_pass


def test_each_connection_of_a_busy_worker_killed_in_turn(open_app, workers, fault_run):
    app = open_app(TEST_DATABASE_URL)
    run = fault_run(app)
    worker = workers('terminated', dict(run.env, LOCALQ_DATABASE_URL=TEST_DATABASE_URL), concurrency=2)
    run.enqueue(20)
    run.wait_all_done(timeout=30)
    killed = []
    # Each round: the worker drains 60 jobs of 50 ms; 10 jobs in, one of its connections (one it
    # has not lost yet, by the thread it serves) is terminated; the drain must still finish.
    roles = {role for _, role in backends_of(TEST_DATABASE_URL, worker.pid)}
    print('connections of the worker, by the thread they serve:', sorted(roles))
    assert {'worker thread', 'heartbeat', 'wake-up listener'} <= roles, roles
    for role in sorted(roles) + ['worker thread']:   # both worker threads' connections
        done = len(run.keys)
        run.enqueue(60)
        run.wait_done_at_least(done + 10, timeout=30)
        victims = [backend for backend, r in backends_of(TEST_DATABASE_URL, worker.pid) if r == role]
        assert victims, 'no connection of the %s to terminate' % role
        run.fault_starts()
        assert terminate(TEST_DATABASE_URL, victims[0])
        run.fault_ends()
        killed.append(role)
        try:
            run.wait_all_done(timeout=30)
        except AssertionError as failed:
            raise AssertionError('after terminating the connection of the %s (killed before: %s): %s' % (
                role, killed[:-1], failed)) from None
        run.figures.setdefault('rounds', []).append(dict(run.recovery(run.effects()), killed=role))
    # Then after every round every job was done once, and the worker is still serving
    worker.stop()
    run.check()
    assert len(killed) == len(roles) + 1


def test_the_producers_connection_killed(open_app, workers, fault_run):
    app = open_app(TEST_DATABASE_URL)
    run = fault_run(app)
    workers('worker', dict(run.env, LOCALQ_DATABASE_URL=TEST_DATABASE_URL), concurrency=2)
    run.enqueue(20)
    producer = app.query.sql('SELECT pg_backend_pid()').fetchone()[0]
    run.fault_starts()
    assert terminate(TEST_DATABASE_URL, producer)
    run.fault_ends()
    # The producer's next enqueue (outside a transaction) reconnects by itself, rather than raising
    run.enqueue(20)
    assert app.query.sql('SELECT pg_backend_pid()').fetchone()[0] != producer
    run.wait_all_done(timeout=30)
    run.check()
