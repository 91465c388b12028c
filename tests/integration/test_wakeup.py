"""Idle workers wake when another process makes a job ready, not on a timer (wakeup.py).

The waiter is asked to wait 60 s: a wake-up that only came from a timer or a poll of the
queue would fail these tests; one from the other process's commit passes at once."""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, TEST_DATABASE_URL
from tests.sample_tasks import add

WAIT = 60.0


def in_another_process(app, code):
    env = dict(os.environ, PYTHONPATH=ROOT, LOCALQ_DATA_DIR=app.config.data_dir,
               LOCALQ_DATABASE_URL=TEST_DATABASE_URL)
    proc = subprocess.run([sys.executable, '-c', 'from tests.sample_tasks import app, add\n' + code],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(params=['auto', 'watch', 'poll'])
def waiter(app, request):
    """This process's wake-up, its waiter thread running; yields a function that returns the
    generation to wait from."""
    app.configure(wakeup=request.param)
    seen = app.wakeup.generation
    assert app.wakeup.wait(seen, WAIT), 'the waiter thread never started'   # its first act is a wake-up
    expected = 'listen' if TEST_DATABASE_URL else {'auto': 'inotify', 'watch': 'watch', 'poll': 'poll'}[request.param]
    assert app.wakeup.method == expected

    def settled():
        """The generation once this process's own commits have stopped waking the waiter."""
        for _ in range(50):
            seen = app.wakeup.generation
            if not app.wakeup.wait(seen, 0.3):
                return seen
        raise AssertionError('the waiter keeps waking with nothing committed')
    yield settled
    app.wakeup.stop()


def test_a_job_queued_by_another_process_wakes_this_process(app, waiter):
    seen = waiter()
    job_id = in_another_process(app, 'print(add.delay(2, 3).id)')
    assert app.wakeup.wait(seen, WAIT)
    assert app.AsyncResult(job_id).status == 'PENDING'


def test_nothing_committed_wakes_no_one(app, waiter):
    # an idle worker that woke for nothing would spin: only a commit may wake it
    assert not app.wakeup.wait(waiter(), 1.0)


def test_a_re_queue_run_now_and_resume_in_another_process_wake_this_process(app, waiter):
    # Given a revoked job, a job scheduled an hour ahead, and a paused queue
    revoked = add.delay(1, 1).id
    app.revoke(revoked)
    later = add.apply_async((1, 2), countdown=3600).id
    app.pause_queue('default')
    # each way another process makes a job ready wakes this one (on PostgreSQL: the trigger's NOTIFY)
    for code in ('from localq import actions; print(actions.requeue(app, [%r]))' % revoked,
                 'from localq import actions; print(actions.run_now(app, %r))' % later,
                 'app.resume_queue("default")'):
        seen = waiter()
        in_another_process(app, code)
        assert app.wakeup.wait(seen, WAIT), code
    assert [app.AsyncResult(i).status for i in (revoked, later)] == ['PENDING', 'PENDING']
    assert app.paused_queues() == []
