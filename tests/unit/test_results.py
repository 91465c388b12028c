"""Result handles' pure behaviour (results.py): an eager result, a group of them, and how a
stored error becomes the exception .get() raises (the task's own class when this process knows it)."""
import pytest

from localq import EagerResult, GroupResult, JobFailed
from localq.errors import JobNotFound, WorkerLost
from localq.results import allow_join_result, rebuild_exception
from tests import sample_tasks


def eager(state, value=None, id='job'):
    return EagerResult(id, state, value)


def test_an_eager_success_is_ready_and_gives_its_value():
    result = eager('SUCCESS', {'n': 5}, id='j-1')
    assert (result.ready(), result.successful(), result.failed()) == (True, True, False)
    assert result.get() == result.wait() == result.result == result.info == {'n': 5}
    assert (result.id, result.task_id, result.status) == ('j-1', 'j-1', 'SUCCESS')
    assert repr(result) == '<EagerResult j-1 SUCCESS>'


def test_an_eager_failure_raises_its_exception_unless_told_not_to():
    error = ValueError('bad input')
    result = eager('FAILURE', error)
    assert result.failed() and not result.successful() and result.ready()
    with pytest.raises(ValueError, match='bad input') as raised:
        result.get()
    assert raised.value is error
    assert result.get(propagate=False) is error and result.result is error


def test_an_eager_result_ignores_celerys_other_get_arguments():
    assert eager('SUCCESS', 1).get(timeout=5, interval=0.1, disable_sync_subtasks=False) == 1


def group_of(*results):
    return GroupResult('g-1', list(results), app=sample_tasks.app)


def test_a_group_of_successes_lists_the_values_in_order():
    results = group_of(eager('SUCCESS', 1, 'a'), eager('SUCCESS', 2, 'b'))
    assert results.get() == results.join() == [1, 2]
    assert (results.ready(), results.successful(), results.failed(), results.waiting()) == (True, True, False, False)
    assert results.completed_count() == 2


def test_a_group_with_a_failure_raises_the_first_failed_members_error_in_order():
    results = group_of(eager('SUCCESS', 1, 'a'), eager('FAILURE', KeyError('first'), 'b'),
                       eager('FAILURE', ValueError('second'), 'c'))
    with pytest.raises(KeyError, match='first'):
        results.get()
    values = results.get(propagate=False)
    assert values[0] == 1 and isinstance(values[1], KeyError) and isinstance(values[2], ValueError)
    assert results.failed() and not results.successful() and results.completed_count() == 1


def test_a_revoked_member_makes_a_group_neither_successful_nor_failed():
    results = group_of(eager('SUCCESS', 1, 'a'), eager('REVOKED', None, 'b'))
    assert results.ready() and not results.successful() and not results.failed()


def test_a_group_is_a_sequence_of_its_results():
    a, b = eager('SUCCESS', 1, 'a'), eager('SUCCESS', 2, 'b')
    results = group_of(a, b)
    assert len(results) == 2 and results[1] is b and list(results) == [a, b] and results.children == [a, b]
    assert repr(results) == '<GroupResult g-1 [a, b]>'


def test_an_empty_group_is_ready_and_gives_an_empty_list():
    results = group_of()
    assert results.ready() and results.get() == [] and results.parent is None


@pytest.mark.parametrize('error_type, message, cls', [
    ('ValueError', 'invalid input: 3', ValueError),
    ('ConnectionError', 'remote down', ConnectionError),
    ('localq.errors.WorkerLost', 'worker died', WorkerLost),
    ('tests.sample_tasks.CardDeclined', 'card 4242 declined', sample_tasks.CardDeclined),
])
def test_a_stored_error_is_rebuilt_as_its_own_class_with_its_message_and_traceback(error_type, message, cls):
    error = rebuild_exception('job-1', error_type, message, 'Traceback (most recent call last): ...')
    assert type(error) is cls and message in str(error)
    assert error.traceback == 'Traceback (most recent call last): ...'


@pytest.mark.parametrize('error_type', [
    'not_imported_module.Boom',     # nothing is imported because a row names it
    'os.path',                      # a module, not a class
    'sys.maxsize',                  # not a class
    'KeyboardInterrupt',            # not an Exception: a row cannot make get() stop the program
    'SystemExit',
    'UnicodeDecodeError',           # a built-in whose constructor wants other arguments
    'tests.sample_tasks.add',       # a task, not an exception
    '',
    None,
])
def test_an_error_that_cannot_be_rebuilt_is_job_failed_carrying_what_the_row_says(error_type):
    error = rebuild_exception('job-1', error_type, 'it broke', 'the traceback')
    assert type(error) is JobFailed
    assert (error.job_id, error.error_type, error.message, error.traceback) == (
        'job-1', error_type, 'it broke', 'the traceback')
    assert str(error) == '%s: it broke' % error_type


def test_a_nested_class_of_an_imported_module_is_found():
    class Outer:
        class Declined(Exception):
            pass
    sample_tasks.Outer = Outer
    try:
        error = rebuild_exception('j', 'tests.sample_tasks.Outer.Declined', 'no', None)
        assert type(error) is Outer.Declined
    finally:
        del sample_tasks.Outer


def test_allow_join_result_lets_celery_code_run_unchanged():
    with allow_join_result():
        assert eager('SUCCESS', 3).get() == 3


def test_job_not_found_says_which_id():
    assert str(JobNotFound('abc')) == "no job with id 'abc'"
