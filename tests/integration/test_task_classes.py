"""Task classes and control flow as Celery's Tasks guide has them (issue #25, item 3): a base
class's handlers (base=MyTask), Ignore, Reject(requeue=...), request.called_directly,
allow_join_result."""
from localq import allow_join_result
from localq.models import Attempt, Job
from tests.sample_tasks import add, handled, handler_calls


def calls_for(job_id):
    """The handler calls of one job: (handler, what it was given besides the job id)."""
    return [(c[0],) + c[2:] for c in handler_calls if c[1] == job_id]


def test_handlers_run_around_a_success(app, worker):
    result = handled.delay('ok')
    assert result.get(timeout=10) == {'mode': 'ok', 'called_directly': False}
    assert calls_for(result.id) == [('before_start', ('ok',)), ('on_success', {'mode': 'ok', 'called_directly': False}),
                                    ('after_return', 'SUCCESS')]


def test_on_retry_then_on_success_for_a_retried_attempt(app, worker):
    result = handled.delay('flaky')
    assert result.get(timeout=10)['mode'] == 'flaky'
    assert [c[0] for c in calls_for(result.id)] == ['before_start', 'on_retry', 'after_return',
                                                    'before_start', 'on_success', 'after_return']
    assert calls_for(result.id)[1:3] == [('on_retry', 'ConnectionError'), ('after_return', 'RETRY')]


def test_on_failure_gets_the_error_and_its_traceback(app, worker):
    result = handled.delay('fail')
    result.get(timeout=10, propagate=False)
    assert calls_for(result.id)[1:] == [('on_failure', 'ValueError', True), ('after_return', 'FAILURE')]


def test_ignore_ends_the_job_without_failure_or_retry(app, worker):
    result = handled.delay('ignore')
    result.get(timeout=10, propagate=False)
    job = Job.get_by_id(result.id)
    assert (job.state, job.attempts) == ('REVOKED', 1) and 'ignored' in job.wait_reason


def test_reject_without_requeue_ends_it_and_with_requeue_runs_it_again(app, worker):
    rejected = handled.delay('reject')
    rejected.get(timeout=10, propagate=False)
    assert Job.get_by_id(rejected.id).state == 'REVOKED'
    assert 'rejected: not for us' in Job.get_by_id(rejected.id).wait_reason
    requeued = handled.delay('requeue')
    assert requeued.get(timeout=10)['mode'] == 'requeue'
    assert [a.outcome for a in Attempt.select().where(Attempt.job == requeued.id).order_by(Attempt.number)] == [
        'REJECTED', 'SUCCESS']


def test_called_directly_and_allow_join_result():
    assert handled('ok') == {'mode': 'ok', 'called_directly': True}
    assert handled.request.called_directly
    with allow_join_result():
        assert add(1, 2) == 3


def test_apply_runs_the_handlers_as_a_worker_does():
    # Celery's apply() traces an eager run with the task's handlers; a base class's cleanup runs here too.
    success = handled.apply(('ok',), task_id='eager-ok')
    assert success.get()['mode'] == 'ok'
    assert [c[0] for c in calls_for('eager-ok')] == ['before_start', 'on_success', 'after_return']
    flaky = handled.apply(('flaky',), task_id='eager-flaky')
    assert flaky.successful()
    assert [c[0] for c in calls_for('eager-flaky')] == ['before_start', 'on_retry', 'after_return',
                                                        'before_start', 'on_success', 'after_return']
    failed = handled.apply(('fail',), task_id='eager-fail')
    assert failed.failed() and calls_for('eager-fail')[1:] == [('on_failure', 'ValueError', True),
                                                                ('after_return', 'FAILURE')]
