"""Task declaration, direct calls, JSON-only arguments and the retry schedule, without a worker."""
import random

import pytest

from localq import AsyncResult, InvalidTaskOptions, TaskArgumentError
from localq.models import Job
from localq.options import resolve_options
from localq.outcome import Run, backoff_delay as backoff_of_run


def test_unknown_task_option_fails_at_decoration_naming_the_allowed_ones(app):
    with pytest.raises(InvalidTaskOptions) as info:
        @app.task(name='x.retries', retries=3)
        def f():
            pass
    assert 'retries' in str(info.value) and 'max_retries' in str(info.value)


@pytest.mark.parametrize('option, value', [
    ('max_retries', '3'), ('autoretry_for', (ConnectionError, 'oops')), ('rate_limit', '10 per minute'),
    ('time_limit', -1), ('queue', 'has space'), ('bind', 'yes')])
def test_ill_typed_task_option_fails_at_decoration(app, option, value):
    with pytest.raises(InvalidTaskOptions) as info:
        app.task(name='x.%s' % option, **{option: value})(lambda: None)
    assert option in str(info.value)


def test_soft_limit_must_be_below_hard_limit():
    with pytest.raises(InvalidTaskOptions, match='soft_time_limit'):
        resolve_options(lambda: None, {'time_limit': 5, 'soft_time_limit': 10})


def test_calling_a_task_runs_its_logic_in_process(app):
    from tests.sample_tasks import add, flaky
    assert add(2, 3) == 5
    # bind=True tasks get a self whose request says it ran directly.
    assert flaky(0) == 0
    assert Job.select().count() == 0


def test_a_non_json_argument_is_refused_in_the_caller_and_queues_nothing(app):
    from tests.sample_tasks import add
    with pytest.raises(TaskArgumentError, match='JSON'):
        add.delay({1, 2}, 3)
    with pytest.raises(TaskArgumentError):
        add.apply_async(args=(1,), kwargs={'y': object()})
    assert Job.select().count() == 0


def test_task_arguments_named_like_options_stay_arguments(app):
    from tests.sample_tasks import echo
    app.immediate = True
    try:
        result = echo.delay(id='user-42', priority=5, retries=2, eta='tomorrow')
        assert result.get(timeout=1) == {'id': 'user-42', 'priority': 5, 'retries': 2, 'eta': 'tomorrow'}
        job = Job.get_by_id(result.id)
        assert result.id != 'user-42' and job.priority == 0
    finally:
        app.immediate = False


def test_an_unknown_job_id_is_pending_as_in_celery(app):
    result = AsyncResult('no-such-job')
    assert result.status == 'PENDING' and result.info is None and not result.ready()


def backoff_delay(options, retries_done, rng=random):
    """The delay before retry number retries_done + 1 of a task with these options."""
    return backoff_of_run(Run.of(options, task='t', now=0.0, retries_left=options.max_retries - retries_done), rng)


def test_backoff_delays_grow_and_stop_at_the_cap():
    options = resolve_options(lambda: None, {'retry_backoff': True, 'retry_backoff_max': 20, 'retry_jitter': False})
    assert [backoff_delay(options, n) for n in range(7)] == [1, 2, 4, 8, 16, 20, 20]


def test_jittered_backoff_stays_between_half_and_the_full_delay():
    options = resolve_options(lambda: None, {'retry_backoff': 2, 'retry_backoff_max': 600})
    rng = random.Random(7)
    for n in range(8):
        full = min(600, 2 * 2 ** n)
        samples = [backoff_delay(options, n, rng) for _ in range(50)]
        assert all(full / 2 <= s <= full for s in samples)
        assert len(set(samples)) > 1


def test_without_retry_backoff_autoretry_waits_the_default_retry_delay():
    options = resolve_options(lambda: None, {'autoretry_for': (ConnectionError,)})
    assert backoff_delay(options, 0) == 180


def test_immediate_mode_runs_the_task_and_writes_its_row(app):
    from tests.sample_tasks import add, bad_input
    app.immediate = True
    try:
        result = add.delay(20, 22)
        assert result.get(timeout=1) == 42
        job = Job.get_by_id(result.id)
        assert (job.state, job.task, job.args) == ('SUCCESS', 'tests.add', '[20, 22]')
        failed = bad_input.delay('x')
        assert failed.state == 'FAILURE'
        with pytest.raises(ValueError, match='invalid input'):
            failed.get(timeout=1)
    finally:
        app.immediate = False


def test_two_tasks_with_one_name_are_refused(app):
    with pytest.raises(ValueError, match='already declared'):
        app.task(name='tests.add')(lambda: None)


def test_a_call_that_does_not_fit_the_signature_is_refused_in_the_caller(app):
    from tests.sample_tasks import add, progress
    with pytest.raises(TaskArgumentError, match=r"tests.add\(x, y\): missing a required argument: 'y'"):
        add.delay(1)
    with pytest.raises(TaskArgumentError, match='multiple values'):
        add.apply_async((1, 2), {'x': 3})
    with pytest.raises(TaskArgumentError, match='too many'):
        progress.delay('gate', 'extra')  # bind=True: self is not the caller's to pass
    assert Job.select().count() == 0
