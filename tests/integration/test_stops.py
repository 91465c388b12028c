"""Stops keep their word (issue #22), the same from Ctrl-C, SIGTERM and the dashboard's Stop:
the first is a warm stop (nothing more is claimed, running jobs finish, the terminal says which),
the second a cold stop (acks_late runs go back to the queue at once, the others end saying a
stop interrupted them)."""
import os
import select
import signal
import time

import pytest

from localq.models import Attempt, Job
from tests.conftest import spawn_worker, wait_for, wait_ready


def read_until(proc, text, timeout=30.0):
    """The worker's output up to the first line containing `text` (it merges stderr into stdout)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.1)[0]:
            line = proc.stdout.readline().decode(errors='replace')
            if not line:
                break
            seen.append(line)
            if text in line:
                return ''.join(seen)
    raise AssertionError('no line with %r within %ss; saw:\n%s' % (text, timeout, ''.join(seen)))


def executions(app):
    path = os.path.join(app.config.data_dir, 'executions.log')
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return fh.read().split('\n')


def running_on(job_id, worker):
    return lambda: Job.select().where(Job.id == job_id, Job.state == 'STARTED', Job.worker == worker).exists()


@pytest.fixture
def tasks(app):
    from tests import sample_tasks
    return sample_tasks


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_warm_stop_lets_the_running_job_finish_says_so_and_then_exits(app, tasks, signum):
    result = tasks.not_critical.delay(1, 3.0)
    worker = spawn_worker(app.config.data_dir, '-c', '2', '-n', 'warm', env={'LOCALQ_LEASE_TIMEOUT': '60'})
    try:
        wait_ready(worker)
        wait_for(running_on(result.id, 'warm'), timeout=30, what='the job to start')
        os.kill(worker.pid, signum)
        said = read_until(worker, 'warm stop')
        assert 'waiting for 1 running job: tests.not_critical %s' % result.id[:8] in said, said
        assert 'Ctrl-C again to stop now' in said
        later = tasks.add.delay(2, 3)   # queued after the stop: not claimed by a stopping worker
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=10)
    assert result.get(timeout=1) == 1 and Job.get_by_id(result.id).attempts == 1
    assert executions(app).count('start 1 %d' % worker.pid) == 1 and executions(app).count('done 1 %d' % worker.pid) == 1
    assert Job.get_by_id(later.id).state == 'PENDING'


def test_a_cold_stop_hands_an_acks_late_job_to_another_worker_at_once(app, tasks):
    result = tasks.critical.delay(7, 30.0)
    # A lease of 60 s: a job that reaches the other worker sooner was released, not rescued.
    env = {'LOCALQ_LEASE_TIMEOUT': '60'}
    first = spawn_worker(app.config.data_dir, '-c', '1', '-n', 'first', env=env)
    second = None
    try:
        wait_ready(first)
        wait_for(running_on(result.id, 'first'), timeout=30, what='the first worker to run the job')
        second = spawn_worker(app.config.data_dir, '-c', '1', '-n', 'second', env=env)
        wait_ready(second)
        os.kill(first.pid, signal.SIGINT)
        read_until(first, 'warm stop')
        os.kill(first.pid, signal.SIGINT)
        said = read_until(first, 'cold stop')
        assert 'interrupting 1 running job: tests.critical %s' % result.id[:8] in said, said
        wait_for(running_on(result.id, 'second'), timeout=10, what='the second worker to run it, long before the lease')
        assert first.wait(timeout=30) == 0
    finally:
        for proc in (first, second):
            if proc is not None:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate(timeout=10)
    lost = Attempt.get(Attempt.job == result.id, Attempt.number == 1)
    assert lost.outcome == 'LOST' and 'cold stop of worker first' in lost.error_message, lost.error_message


def test_a_cold_stop_fails_a_job_that_is_not_acks_late_saying_a_stop_interrupted_it(app, tasks):
    result = tasks.not_critical.delay(3, 30.0)
    worker = spawn_worker(app.config.data_dir, '-c', '1', '-n', 'cold', env={'LOCALQ_LEASE_TIMEOUT': '60'})
    try:
        wait_ready(worker)
        wait_for(running_on(result.id, 'cold'), timeout=30, what='the job to start')
        os.kill(worker.pid, signal.SIGTERM)
        read_until(worker, 'warm stop')
        os.kill(worker.pid, signal.SIGTERM)
        read_until(worker, 'cold stop')
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=10)
    job = Job.get_by_id(result.id)
    assert job.state == 'FAILURE' and 'interrupted by a cold stop of worker cold' in job.error_message, job.error_message


def test_the_dashboards_stop_lets_the_running_job_finish(app, tasks):
    from localq.actions import request_worker_stop
    result = tasks.not_critical.delay(4, 3.0)
    worker = spawn_worker(app.config.data_dir, '-c', '1', '-n', 'asked', env={'LOCALQ_HEARTBEAT_INTERVAL': '0.5'})
    try:
        wait_ready(worker)
        wait_for(running_on(result.id, 'asked'), timeout=30, what='the job to start')
        request_worker_stop(app, 'asked')
        read_until(worker, 'warm stop')
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=10)
    assert result.get(timeout=1) == 4 and Job.get_by_id(result.id).attempts == 1


def test_a_worker_frozen_past_its_lease_stops_the_run_another_worker_took_over_and_goes_on(app, tasks):
    """SIGSTOP (a laptop lid, a VM pause) past the lease: another worker rescues the job and runs it;
    thawed, the first finds at its next heartbeat that the run is no longer its own and stops it,
    instead of running the job to its end a second time."""
    result = tasks.critical.delay(7, 5.0)
    env = {'LOCALQ_LEASE_TIMEOUT': '2', 'LOCALQ_HEARTBEAT_INTERVAL': '0.5'}
    frozen = spawn_worker(app.config.data_dir, '-c', '1', '-n', 'frozen', '-Q', 'default,only-frozen', env=env)
    other = None
    try:
        wait_ready(frozen)
        wait_for(running_on(result.id, 'frozen'), timeout=30, what='the first worker to run the job')
        os.kill(frozen.pid, signal.SIGSTOP)
        other = spawn_worker(app.config.data_dir, '-c', '1', '-n', 'other', env=env)
        wait_ready(other)
        wait_for(running_on(result.id, 'other'), timeout=30, what='the other worker to take the job over')
        os.kill(frozen.pid, signal.SIGCONT)
        said = read_until(frozen, 'no longer holds attempt 1')
        assert 'stopping its run here' in said, said
        assert result.get(timeout=30) == 7
        # and the thawed worker goes on working
        mine = tasks.add.apply_async((2, 3), queue='only-frozen')
        assert mine.get(timeout=30) == 5 and Job.get_by_id(mine.id).worker == 'frozen'
    finally:
        for proc in (frozen, other):
            if proc is not None:
                os.kill(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGTERM)
                proc.communicate(timeout=30)
    runs = executions(app)
    assert runs.count('start 7 %d' % frozen.pid) == 1 and runs.count('done 7 %d' % frozen.pid) == 0, runs
    assert runs.count('done 7 %d' % other.pid) == 1, runs
    job = Job.get_by_id(result.id)
    assert job.state == 'SUCCESS' and job.attempts == 2
    assert [a.outcome for a in Attempt.select().where(Attempt.job == result.id).order_by(Attempt.number)] == \
        ['LOST', 'SUCCESS']


def test_a_worker_hears_sigterm_before_it_can_claim_a_job(app):
    # A SIGTERM sent as soon as a job shows STARTED must reach the stop handler, not kill the
    # process outright (which leaves the run to its lease): CI once saw exit -15 that way.
    from localq.worker import LocalqConsumer
    consumer = LocalqConsumer(app, workers=2, worker_type='thread')
    heard_at_start = []
    for _, thread in consumer.worker_threads:
        def start(thread=thread, original=thread.start):
            heard_at_start.append(signal.getsignal(signal.SIGTERM) == consumer._handle_signal)
            original()
        thread.start = start
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        consumer.start()
        assert heard_at_start == [True, True]
    finally:
        consumer.stop(graceful=True)
        for sig, handler in before.items():
            signal.signal(sig, handler)
