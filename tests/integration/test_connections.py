"""Every database connection is closed by its owner's end: thread, worker, app."""
import threading

from localq.worker import LocalqConsumer
from tests.sample_tasks import add


def test_a_producer_thread_that_ends_leaves_no_connection_open(app):
    # Given five producer threads that each queue a job and end without closing anything
    threads = [threading.Thread(target=add.delay, args=(i, i)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # When the process next opens a connection (a web request, another producer)
    app.close_thread_connection()
    assert app.AsyncResult('no-such-job').state == 'PENDING'
    # Then the ended threads' connections have been closed: only this thread's is open
    assert app.database.open_connections() == 1


def test_a_stopped_worker_closes_the_connections_of_all_its_threads(app):
    # Given a worker with two threads, a scheduler, a heartbeat, that ran jobs
    consumer = LocalqConsumer(app, workers=2, name='closing-worker')
    consumer.start_in_thread()
    assert [add.delay(i, 1).get(timeout=10) for i in range(4)] == [1, 2, 3, 4]
    # When it stops
    consumer.shutdown()
    # Then only this (the test's) thread still has a connection
    assert app.database.open_connections() == 1


def test_closing_the_app_closes_connections_held_by_other_threads(app):
    # Given a thread that opened a connection and is still alive, holding it
    opened, release = threading.Event(), threading.Event()

    def holder():
        add.delay(1, 1)
        opened.set()
        release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert opened.wait(10)
        database = app.database
        app.close_thread_connection()
        assert database.open_connections() == 1   # the holder's
        # When the app is closed (the end of run.py, of a test)
        app.close()
        # Then no connection is left open, whichever thread opened it
        assert database.open_connections() == 0
    finally:
        release.set()
        t.join()
