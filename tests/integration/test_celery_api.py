"""The Celery API users reach for, on a real worker process: send_task, unknown tasks, shared_task,
apply(), AsyncResult from a task, wait(), async tasks."""
import asyncio
import os
import signal

import pytest

from localq import InvalidTaskOptions, LocalQ, shared_task
from localq.models import Attempt, Job
from tests.conftest import wait_for
from tests.sample_tasks import (add, async_add, async_until_revoked, async_wait, bad_input, flaky, gate, shared_mul,
                                wait_gate)


def test_send_task_queues_by_name_without_the_function(app, process_worker):
    # A producer that declares no tasks at all (another app on the same folder) sends by name
    producer = LocalQ('producer', data_dir=app.config.data_dir, database_url=app.config.database_url)
    try:
        result = producer.send_task('tests.add', args=(2, 3))
        assert result.get(timeout=20) == 5
        assert Job.get_by_id(result.id).task == 'tests.add'
        assert producer.send_task('tests.mul', (6, 7), countdown=0.1).wait(timeout=20) == 42
    finally:
        producer.close()
        app.configure()   # the sample app is current again for the other tests


def test_a_task_no_running_worker_has_waits_saying_which_tasks_they_have(app, process_worker):
    # Given a job for a task no running worker declares (a typo in send_task, or not deployed yet)
    result = app.send_task('tests.ad', args=(1, 2))
    # When the worker has run a job queued after it
    assert add.delay(1, 2).get(timeout=20) == 3
    # Then it still waits, unclaimed (as Celery leaves it queued), and every place a user looks says why
    job = Job.get_by_id(result.id)
    assert (job.state, job.attempts) == ('PENDING', 0)
    with pytest.raises(TimeoutError, match=r"No running worker has task 'tests.ad'.*Did you mean 'tests.add'"):
        result.get(timeout=0.5)
    from localq.monitor import jobs
    assert "Did you mean 'tests.add'" in jobs.explain_wait(app, jobs.get_job(result.id, app=app))


def test_a_worker_of_another_app_leaves_your_jobs_to_the_worker_that_has_their_task(app, process_worker):
    # Given your worker (process-worker, tests.sample_tasks) and, on the same folder and queues, a
    # worker of another app that lacks your tasks: localq's own default app, as `python run.py
    # --data-dir <your folder>` starts it to watch your jobs on the dashboard
    from tests.conftest import spawn_worker, wait_ready
    other = spawn_worker(app.config.data_dir, '-c', '2', '-n', 'other-app', app='localq.tasks:app')
    try:
        wait_ready(other)
        # When you queue 20 jobs
        results = [add.delay(i, i) for i in range(20)]
        # Then all of them succeed, on your worker; none fails NotRegistered on the other
        assert [r.get(timeout=20) for r in results] == [2 * i for i in range(20)]
        assert {Job.get_by_id(r.id).worker for r in results} == {'process-worker'}
        # and a job for a task that neither has waits, claimed by neither
        typo = app.send_task('tests.ad', args=(1, 2))
        assert [add.delay(1, 1).get(timeout=20) for _ in range(4)] == [2] * 4
        assert (Job.get_by_id(typo.id).state, Job.get_by_id(typo.id).attempts) == ('PENDING', 0)
    finally:
        os.killpg(other.pid, signal.SIGTERM)
        out = other.communicate(timeout=30)[0].decode(errors='replace')
        assert other.returncode == 0, out


def test_get_raises_the_tasks_own_exception_class_as_celery_does(app, process_worker):
    from localq import JobFailed
    from tests.sample_tasks import CardDeclined, decline
    # An exception class of your tasks module (imported here, as a producer imports it)
    with pytest.raises(CardDeclined, match='card 4242 declined'):
        decline.delay('4242').get(timeout=20)
    # a job of a task no worker has never fails for it: get() times out saying so
    with pytest.raises(TimeoutError, match="No running worker has task 'tests.nope'"):
        app.send_task('tests.nope').get(timeout=0.5)
    # and a class this process has not imported: JobFailed, naming it (nothing is imported for it)
    job = add.delay(1, 2)
    assert job.get(timeout=20) == 3
    Job.update(state='FAILURE', error_type='not_imported_module.Boom', error_message='boom').where(
        Job.id == job.id).execute()
    with pytest.raises(JobFailed, match='not_imported_module.Boom: boom'):
        job.get(timeout=1)


def test_shared_task_runs_on_the_app_it_finds(app, process_worker):
    assert shared_mul.delay(3, 4).get(timeout=20) == 12
    assert shared_mul(3, 5) == 15                       # a direct call runs the function
    assert 'tests.shared_mul' in app.tasks

    # declared after an app exists, it is declared on that app too
    @shared_task(name='tests.shared_late')
    def late(x):
        return -x
    assert app.tasks['tests.shared_late'].apply((4,)).get() == -4


def test_apply_runs_here_with_retries_and_returns_a_result(app):
    ok = add.apply((2, 3))
    assert (ok.status, ok.get(), ok.successful()) == ('SUCCESS', 5, True)
    assert flaky.apply((2,)).get() == 2                 # two ConnectionErrors retried at once
    failed = bad_input.apply(('x',))
    assert failed.failed() and isinstance(failed.result, ValueError)
    with pytest.raises(ValueError, match='invalid input'):
        failed.get()
    assert Job.select().count() == 0                    # nothing was queued or written


def test_task_asyncresult_and_wait(app, process_worker):
    result = add.delay(4, 4)
    assert add.AsyncResult(result.id).wait(timeout=20) == 8


def test_an_async_task_runs_on_a_worker_process(app, process_worker):
    assert async_add.delay(2, 3).get(timeout=20) == 5
    assert async_add.apply((2, 3)).get() == 5          # eagerly, on this thread's loop


def test_an_async_tasks_time_limit_stops_it_at_its_await(app, process_worker):
    # Given an async task with time_limit=0.5 awaiting a 60 s sleep
    result = async_wait.delay(60)
    # Then it is stopped at its await, its finally block runs, and it fails as timed out
    with pytest.raises(Exception) as caught:
        result.get(timeout=20)
    job = Job.get_by_id(result.id)
    assert job.state == 'FAILURE' and job.error_type.endswith('TimeLimitExceeded'), caught.value
    assert job.finished_at - job.started_at < 5
    with open(os.path.join(app.config.data_dir, 'executions.log')) as log:
        assert 'async_wait cleaned up' in log.read()


def test_revoking_a_running_async_task_stops_it(app, process_worker):
    result = async_until_revoked.delay()
    wait_for(lambda: result.state == 'PROCESSING', timeout=20, what='PROCESSING')
    result.revoke()
    wait_for(lambda: result.state == 'REVOKED', timeout=20, what='REVOKED')
    assert [a.outcome for a in Attempt.select().where(Attempt.job == result.id)] == ['REVOKED']


def test_async_code_waits_for_a_result_without_blocking_its_loop(app, worker):
    # The job can only finish if a coroutine on the caller's loop runs while aget() waits:
    # it opens the gate the job waits on. A blocking wait would time out instead.
    async def main():
        result = wait_gate.delay('opened-by-the-loop')

        async def open_gate():
            await asyncio.sleep(0.05)
            gate('opened-by-the-loop').set()
        opener = asyncio.ensure_future(open_gate())
        value = await result.aget(timeout=10)
        await opener
        return value
    assert asyncio.run(main()) == 'released'


def test_an_async_task_with_a_soft_time_limit_is_refused_when_declared(app):
    with pytest.raises(InvalidTaskOptions, match='soft_time_limit.*async def'):
        @app.task(name='tests.async_soft', soft_time_limit=1, time_limit=2)
        async def soft():
            pass
