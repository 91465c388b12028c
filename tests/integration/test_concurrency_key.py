"""Per-key concurrency (@task(concurrency_key=..., concurrency_limit=N)), from a user's side:
real worker processes on one data folder, each run recording its start and end in keyed.log."""
import os
import signal

import pytest

from localq.errors import InvalidCallOptions, InvalidTaskOptions
from tests.conftest import spawn_worker, wait_for, wait_ready
from tests.sample_tasks import keyed, keyed_progress, keyed_two


def spans(app):
    path = os.path.join(app.config.data_dir, 'keyed.log')
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [(tag, float(a), float(b)) for tag, a, b in (line.split() for line in fh)]


def most_at_once(runs):
    events = sorted([(a, 1) for _, a, _ in runs] + [(b, -1) for _, _, b in runs])
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def stop(procs, sig=signal.SIGTERM):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, sig)
    for p in procs:
        p.communicate(timeout=30)


def test_one_key_limit_one_never_overlaps_on_four_workers(app):
    # Given 20 jobs of one user, limit 1, and 2 worker processes of 2 threads each
    for n in range(20):
        keyed.delay('alice', n)
    workers = [spawn_worker(app.config.data_dir, '-c', '2') for _ in range(2)]
    try:
        # When they all run
        wait_for(lambda: len(spans(app)) == 20, timeout=60, what='20 runs')
    finally:
        stop(workers)
    # Then all finished and no two ran at once
    assert most_at_once(spans(app)) == 1


def run_all(app, n, *worker_args):
    """One `localq worker` process with these arguments, until n runs are recorded; then stopped."""
    workers = [spawn_worker(app.config.data_dir, *worker_args)]
    try:
        wait_for(lambda: len(spans(app)) == n, timeout=60, what='%d runs' % n)
    finally:
        stop(workers)


def test_two_keys_run_in_parallel_and_a_limit_of_two_allows_two(app):
    # Given 6 jobs of one user at limit 2 and jobs of another key at limit 1
    for n in range(6):
        keyed_two.delay('bob', n, 0.5)
    run_all(app, 6, '-c', '4')
    # Then exactly 2 ran at once, never 3
    assert most_at_once(spans(app)) == 2


def test_bad_options_fail_at_decoration_and_bad_keys_at_enqueue(app):
    with pytest.raises(InvalidTaskOptions):
        app.task(name='tests.bad1', concurrency_key='user')(lambda user: None)
    with pytest.raises(InvalidTaskOptions):
        app.task(name='tests.bad2', concurrency_key='user', concurrency_limit=0)(lambda user: None)
    with pytest.raises(InvalidCallOptions, match='concurrency_key of tests.keyed'):
        keyed.delay(42, 1)   # not a str


FAST_RESCUE = {'LOCALQ_LEASE_TIMEOUT': '1.0', 'LOCALQ_HEARTBEAT_INTERVAL': '0.2'}


def test_a_killed_holder_frees_the_key_and_why_it_waits_names_it(app):
    from localq.models import Job
    from localq.monitor.jobs import explain_wait, get_job
    # Given a long job holding key carol and a second one waiting for it
    holder = keyed.delay('carol', 1, 30)
    waiting = keyed.delay('carol', 2, 0.01)
    first = spawn_worker(app.config.data_dir, '-c', '2', env=FAST_RESCUE)
    try:
        wait_ready(first)   # online with its tasks: a wait is explained by the key, not by a missing worker
        wait_for(lambda: Job.get_by_id(holder.id).state == 'STARTED', timeout=30, what='holder running')
        # Then why-it-waits names the key and the job holding it
        text = explain_wait(app, get_job(waiting.id))
        assert "concurrency key 'carol'" in text and holder.id in text, text
        # When the holder's worker is SIGKILLed mid-job and another worker comes up
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
        second = spawn_worker(app.config.data_dir, '-c', '2', env=FAST_RESCUE)
        try:
            # Then once the lease runs out the waiting job runs
            wait_for(lambda: any(tag == 'carol:2' for tag, _, _ in spans(app)), timeout=60, what='waiter ran')
        finally:
            stop([second], signal.SIGKILL)   # it may be running the rescued 30 s holder
    finally:
        stop([first], signal.SIGKILL)


def test_a_holder_reporting_progress_still_holds_its_key(app):
    # A running job in a custom state (PROCESSING, from update_state) is running: its key is taken.
    for n in range(6):
        keyed_progress.delay('dora', n)
    run_all(app, 6, '-c', '3')
    assert most_at_once(spans(app)) == 1
