"""localq's errors (errors.py) as callers catch them: each is a LocalqError, and the ones that
stand for a standard failure are also that standard exception, so code written for Celery or the
standard library catches them; each says what went wrong in words."""
import pytest

from localq import errors


@pytest.mark.parametrize('cls, also', [
    (errors.InvalidCallOptions, (ValueError, TypeError)),
    (errors.TaskArgumentError, (TypeError,)),
    (errors.JobNotFound, (KeyError,)),
    (errors.WorkerNotFound, (KeyError,)),
    (errors.QueueNotFound, (KeyError,)),
    (errors.ResultTimeout, (TimeoutError,)),
    (errors.NotRegistered, (KeyError,)),
    (errors.CanvasError, (ValueError,)),
    (errors.DiskFull, (OSError,)),
    (errors.DatabaseUnavailable, (ConnectionError, OSError)),
])
def test_an_error_is_also_the_standard_exception_callers_already_catch(cls, also):
    assert issubclass(cls, errors.LocalqError)
    assert all(issubclass(cls, base) for base in also)


def test_every_error_class_is_a_localq_error_and_says_when_it_is_raised():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) > 20
    for cls in classes:
        assert issubclass(cls, errors.LocalqError), cls
        assert cls.__doc__ and cls.__doc__.strip(), cls


@pytest.mark.parametrize('error, text', [
    (errors.JobNotFound('f0e1'), "no job with id 'f0e1'"),
    (errors.JobNotFound(), 'no job with id None'),
    (errors.WorkerNotFound('w-1'), "no running worker with id 'w-1'"),
    (errors.QueueNotFound('hgih', ['high', 'low']), "no queue named 'hgih'; queues: high, low"),
    (errors.QueueNotFound('x'), "no queue named 'x'; queues: none"),
    (errors.NotRegistered("task 'x.y' is not registered"), "task 'x.y' is not registered"),
    (errors.NotRegistered(), 'task not registered'),
    (errors.JobFailed('j', 'mod.Boom', 'it broke', 'tb'), 'mod.Boom: it broke'),
    (errors.Retry(ValueError('x'), countdown=5), "retry in 5s: ValueError('x')"),
    (errors.Retry(countdown=10), 'retry in 10s'),
])
def test_an_error_reads_as_a_sentence_not_a_repr(error, text):
    assert str(error) == text


def test_a_key_error_of_localq_is_not_quoted_like_a_bare_key_error():
    # KeyError's str() would show "'no job with id ...'" in quotes.
    assert not str(errors.JobNotFound('x')).startswith("'")


def test_errors_keep_what_they_were_given_for_callers_to_read():
    failed = errors.JobFailed('job-1', 'mod.Boom', 'it broke', 'Traceback ...')
    assert (failed.job_id, failed.error_type, failed.message, failed.traceback) == (
        'job-1', 'mod.Boom', 'it broke', 'Traceback ...')
    retry = errors.Retry(exc=TimeoutError('slow'), countdown=3)
    assert isinstance(retry.exc, TimeoutError) and retry.countdown == 3
    reject = errors.Reject('not for us', requeue=True)
    assert (reject.reason, reject.requeue) == ('not for us', True)
    assert errors.Reject().requeue is False
    missing = errors.QueueNotFound('q', ('a', 'b'))
    assert (missing.name, missing.known) == ('q', ['a', 'b'])
