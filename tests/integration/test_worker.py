"""A real SQLite file and a real Huey consumer: states, retries, limits, results, history."""
import logging
import os
import signal

import pytest

from localq import AsyncResult, ResultTimeout, TaskRevoked, TimeLimitExceeded
from localq.models import Attempt, Job
from tests.conftest import spawn_worker, wait_for, wait_ready
from tests.sample_tasks import (add, bad_input, fire_and_forget, flaky, gate, loop_until_revoked, manual_retry,
                                progress, runaway, soft, unjsonable, wait_gate)


def outcomes(job_id):
    return [a.outcome for a in Attempt.select().where(Attempt.job == job_id).order_by(Attempt.number)]


def test_progress_and_custom_state_are_visible_from_another_thread_while_the_task_runs(worker):
    # Given a task that reports PROCESSING at 50% and then waits
    result = progress.delay('p1')
    # Then another thread sees the state and the meta while it runs
    wait_for(lambda: result.status == 'PROCESSING', what='PROCESSING')
    assert result.info == {'step': 'halfway', 'progress': 50}
    assert not result.ready()
    gate('p1').set()
    assert result.get(timeout=10) == 'done'
    assert result.status == 'SUCCESS' and result.successful()


def test_listed_exception_is_retried_until_it_succeeds(worker):
    result = flaky.delay(2)
    assert result.get(timeout=10) == 2
    assert outcomes(result.id) == ['RETRY', 'RETRY', 'SUCCESS']
    assert Job.get_by_id(result.id).attempts == 3


def test_unlisted_exception_fails_at_once_without_retry(worker):
    result = bad_input.delay('x')
    with pytest.raises(ValueError, match='invalid input'):
        result.get(timeout=10)
    job = Job.get_by_id(result.id)
    assert (job.state, job.attempts, job.error_type) == ('FAILURE', 1, 'ValueError')
    assert 'Traceback' in job.traceback and result.failed()


def test_after_max_retries_the_job_fails_with_the_last_error(worker):
    result = flaky.delay(10)
    with pytest.raises(ConnectionError, match='attempt 4'):
        result.get(timeout=10)
    assert outcomes(result.id) == ['RETRY', 'RETRY', 'RETRY', 'FAILURE']


def test_a_retry_logs_one_info_line_and_the_final_failure_one_error_with_its_traceback(worker, caplog):
    caplog.set_level(logging.INFO)
    result = flaky.delay(10)   # three retries, then no retries left
    with pytest.raises(ConnectionError):
        result.get(timeout=10)
    retries = [r for r in caplog.records if r.levelno == logging.INFO and 'failed (' in r.getMessage()]
    assert [r.getMessage().split(result.id + ': ')[1].split(';')[0] for r in retries] == [
        'tests.flaky attempt %d failed (ConnectionError: attempt %d: remote API down)' % (n, n) for n in (1, 2, 3)]
    assert all('retry %d of 3 in' % n in r.getMessage() and '\n' not in r.getMessage() and not r.exc_info
               for n, r in zip((1, 2, 3), retries))
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in errors] == [
        '%s: tests.flaky attempt 4 failed, no retries left (ConnectionError: attempt 4: remote API down)' % result.id]
    assert errors[0].levelno == logging.ERROR and errors[0].exc_info[0] is ConnectionError   # its traceback


def test_a_process_worker_logs_retries_in_one_line_each_and_one_traceback(app):
    proc = spawn_worker(app.config.data_dir, '-P', 'process', '-c', '1', '-n', 'logs-worker', '-v')
    wait_ready(proc)
    result = flaky.delay(10)
    with pytest.raises(ConnectionError):
        result.get(timeout=20)
    os.killpg(proc.pid, signal.SIGTERM)
    out = proc.communicate(timeout=30)[0].decode(errors='replace')
    assert out.count('Traceback') == 1, out
    assert 'Unhandled exception' not in out
    assert [line.split(' INFO ')[1].split(';')[0] for line in out.splitlines() if 'failed (' in line] == [
        'localq.tracking: %s: tests.flaky attempt %d failed (ConnectionError: attempt %d: remote API down)'
        % (result.id, n, n) for n in (1, 2, 3)]


def test_manual_retry_with_countdown(worker):
    assert manual_retry.delay(2).get(timeout=10) == 'ok after 2'
    failing = manual_retry.delay(5)
    with pytest.raises(TimeoutError, match='slow remote'):
        failing.get(timeout=10)
    assert outcomes(failing.id) == ['RETRY', 'RETRY', 'FAILURE']


def test_a_retry_is_claimable_with_its_next_message_before_huey_requeues_it(app, worker):
    # The race CI's PostgreSQL pass hit: with a 10 ms countdown, a second worker thread claimed the
    # retry between its outcome's commit and Huey's re-queue, ran the old message (retries not yet
    # counted down), and the job had five attempts for max_retries=2. Look at the row in that window:
    # a post-execute hook registered after the tracker's runs after the outcome is stored and
    # before Huey re-queues.
    import json
    seen = []

    @app.huey.post_execute(name='test-window')
    def look(task, value, exc):
        if exc is not None:
            message = app.query.sql('SELECT message FROM job WHERE id = ?', (task.id,)).fetchone()[0]
            seen.append(json.loads(message)['m']['retries'])
    try:
        failing = manual_retry.delay(5)
        with pytest.raises(TimeoutError, match='slow remote'):
            failing.get(timeout=10)
    finally:
        app.huey.unregister_post_execute('test-window')
    # Before each retry's run, its row already says how many retries are left: 1, then 0.
    assert seen[:2] == [1, 0]
    assert outcomes(failing.id) == ['RETRY', 'RETRY', 'FAILURE']


def test_time_limit_stops_a_runaway_task_on_a_thread_worker(worker):
    result = runaway.delay()
    with pytest.raises(TimeLimitExceeded):   # as Celery's .get() raises it
        result.get(timeout=10)
    job = Job.get_by_id(result.id)
    assert job.state == 'FAILURE' and job.error_type == 'localq.watchdog.TimeLimitExceeded'
    assert outcomes(result.id) == ['TIMEOUT']
    # The worker thread is free again.
    assert add.delay(1, 1).get(timeout=10) == 2


def test_soft_time_limit_lets_the_task_clean_up(worker):
    assert soft.delay().get(timeout=10) == 'cleaned up'


def test_get_timeout_raises_and_reading_never_deletes(worker):
    held = wait_gate.delay('held')
    with pytest.raises(ResultTimeout):
        held.get(timeout=0.05)
    gate('held').set()
    assert held.get(timeout=10) == 'released'
    assert held.get(timeout=1) == 'released' and AsyncResult(held.id).result == 'released'


def test_ignore_result_stores_the_state_but_no_result(worker):
    result = fire_and_forget.delay(21)
    wait_for(lambda: result.ready(), what='finish')
    assert result.status == 'SUCCESS' and Job.get_by_id(result.id).result is None


def test_a_result_that_is_not_json_fails_the_job_clearly(worker):
    result = unjsonable.delay()
    wait_for(lambda: result.ready(), what='finish')
    assert result.status == 'FAILURE' and 'JSON' in Job.get_by_id(result.id).error_message


def test_revoked_waiting_job_never_starts(app):
    result = add.apply_async((1, 2), countdown=60)
    assert result.revoke() == 'REVOKED'
    from localq.worker import LocalqConsumer
    consumer = LocalqConsumer(app, workers=1)
    consumer.start_in_thread()
    try:
        assert add.delay(0, 0).get(timeout=10) == 0
    finally:
        consumer.shutdown()
    assert result.status == 'REVOKED' and Job.get_by_id(result.id).attempts == 0
    with pytest.raises(TaskRevoked):
        result.get(timeout=1)


def test_revoking_a_running_job_stops_it(worker):
    result = loop_until_revoked.delay('running')
    assert gate('running').wait(10)
    result.revoke()
    wait_for(lambda: result.status == 'REVOKED', what='REVOKED')
    assert outcomes(result.id) == ['REVOKED']


def test_countdown_delays_the_start(worker):
    import time
    before = time.time()
    result = add.apply_async((1, 1), countdown=0.3)
    assert result.get(timeout=10) == 2
    assert Job.get_by_id(result.id).started_at >= before + 0.3


def test_rows_and_attempts_survive_a_restart(app, worker):
    result = flaky.delay(1)
    assert result.get(timeout=10) == 1
    worker.shutdown()
    app.close()
    # A new process would open the file afresh: do the same.
    app.configure(data_dir=app.config.data_dir)
    app.setup()
    job = Job.get_by_id(result.id)
    assert (job.state, job.task, job.args, job.result) == ('SUCCESS', 'tests.flaky', '[1]', '1')
    assert outcomes(result.id) == ['RETRY', 'SUCCESS']
    assert job.queued_at <= job.started_at <= job.finished_at
