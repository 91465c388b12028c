"""The one decision per outcome (localq/outcome.py), as a table: what a run did -> what happens."""
import math
import random
import types

import pytest
from huey.exceptions import RateLimitExceeded, TaskTimeout

from localq.errors import DatabaseUnavailable, DiskFull, Ignore, LeaseLost, Reject, Retry, Revoked
from localq.options import resolve_options
from localq.outcome import TRANSIENT_RETRY, Outcome, Run, decide, error_fields, huey_retry, returned

NOW = 1_000_000.0


def run(exception=None, value=None, retries_left=3, **options):
    """A run of a task declared with these options, ending with `exception` (or returning `value`)."""
    resolved = resolve_options(lambda: None, dict({'max_retries': 3, 'retry_jitter': False}, **options))
    return Run.of(resolved, task='t', now=NOW, exception=exception, value=value, retries_left=retries_left)


def raised(exc):
    """The exception with a traceback, as a worker sees it."""
    try:
        raise exc
    except BaseException as caught:
        return caught


# (what the run did, task options, retries left) -> (state, attempt outcome, seconds until the next run or None)
TABLE = [
    ('returns a value', None, {}, 3, 'SUCCESS', 'SUCCESS', None),
    ('raises without autoretry_for', ValueError('bad'), {}, 3, 'FAILURE', 'FAILURE', None),
    ('raises what autoretry_for names', ValueError('bad'), {'autoretry_for': (ValueError,)}, 3,
     'RETRY', 'RETRY', 180.0),
    ('... with backoff', ValueError('bad'), {'autoretry_for': (ValueError,), 'retry_backoff': True}, 3,
     'RETRY', 'RETRY', 1.0),
    ('... on its third retry', ValueError('bad'), {'autoretry_for': (ValueError,), 'retry_backoff': True}, 1,
     'RETRY', 'RETRY', 4.0),
    ('... with no retries left', ValueError('bad'), {'autoretry_for': (ValueError,)}, 0, 'FAILURE', 'FAILURE', None),
    ('raises what autoretry_for does not name', KeyError('k'), {'autoretry_for': (ValueError,)}, 3,
     'FAILURE', 'FAILURE', None),
    ('calls self.retry(countdown=5)', Retry(countdown=5), {}, 3, 'RETRY', 'RETRY', 5.0),
    ('calls self.retry(countdown=0)', Retry(countdown=0), {}, 3, 'RETRY', 'RETRY', 0.001),
    ('times out, even with autoretry_for=(Exception,)', TaskTimeout('late'), {'autoretry_for': (Exception,)}, 3,
     'FAILURE', 'TIMEOUT', None),
    ('is revoked while running', Revoked('stop'), {'autoretry_for': (Exception,)}, 3, 'REVOKED', 'REVOKED', None),
    ('lost its lease', LeaseLost('taken over'), {'autoretry_for': (Exception,)}, 3, 'FAILURE', 'FAILURE', None),
    ('raises Ignore', Ignore(), {'autoretry_for': (Exception,)}, 3, 'REVOKED', 'REVOKED', None),
    ('raises Reject()', Reject('no'), {}, 3, 'REVOKED', 'REVOKED', None),
    ('raises Reject(requeue=True)', Reject('later', requeue=True), {}, 3, 'PENDING', 'REJECTED', 0.0),
    ('meets a full disk', DiskFull('full'), {}, 3, 'RETRY', 'RETRY', TRANSIENT_RETRY),
    ('meets a full disk, no retries left', DiskFull('full'), {}, 0, 'FAILURE', 'FAILURE', None),
    ('cannot reach the database', DatabaseUnavailable('gone'), {}, 1, 'RETRY', 'RETRY', TRANSIENT_RETRY),
    ("hits Huey's rate_limit(retry=False)", RateLimitExceeded('k', 3, False), {}, 3, 'FAILURE', 'FAILURE', None),
]


@pytest.mark.parametrize('what, exc, options, left, state, attempt, next_in', TABLE, ids=[t[0] for t in TABLE])
def test_each_kind_of_run_has_one_outcome(what, exc, options, left, state, attempt, next_in):
    outcome = decide(run(raised(exc) if exc else None, value=5, retries_left=left, **options))
    assert (outcome.state, outcome.attempt) == (state, attempt)
    if next_in is None:
        assert outcome.eta is None and outcome.retry_in is None
    else:
        assert outcome.eta == pytest.approx(NOW + next_in)
    assert outcome.finished == (state in ('SUCCESS', 'FAILURE', 'REVOKED'))


def test_a_success_stores_its_value_as_json_unless_results_are_ignored():
    assert decide(run(value={'n': [1, 2]})).result == '{"n": [1, 2]}'
    assert decide(run(value=None)).result == 'null'
    assert decide(run(value={'n': 1}, ignore_result=True)).result is None


@pytest.mark.parametrize('value', [object(), {1, 2}, math.nan, b'bytes'])
def test_a_value_that_is_not_json_fails_the_job_saying_so(value):
    outcome = decide(run(value=value))
    assert outcome.state == 'FAILURE' and outcome.error[0] == 'localq.errors.ResultNotSerializable'
    assert 'the return value of t is not JSON-serialisable' in outcome.error[1]
    assert outcome.log == 'error'   # one line, no traceback: the task did not raise


def test_a_retry_says_which_retry_of_how_many_it_waits_for():
    outcome = decide(run(raised(ValueError('x')), retries_left=2, autoretry_for=(ValueError,)))
    assert outcome.wait_reason == 'retry 2 of 3' and outcome.log == 'retry'
    assert outcome.error[:2] == ('ValueError', 'x') and 'Traceback' in outcome.error[2]


def test_self_retry_with_an_exception_records_that_exception():
    outcome = decide(run(raised(Retry(exc=KeyError('missing'), countdown=1))))
    assert outcome.error[:2] == ('KeyError', "'missing'")


def test_a_final_failure_logs_its_traceback_once_and_a_lost_lease_logs_nothing_here():
    assert decide(run(raised(ValueError('x')))).log == 'final'
    assert decide(run(raised(DiskFull('full')), retries_left=0)).log == 'error'
    assert decide(run(raised(LeaseLost('gone')))).log is None   # leases.py has said so


def test_what_ends_without_a_result_tells_its_workflow_why():
    ignored = decide(run(raised(Ignore())))
    assert ignored.ends_without_result and ignored.wait_reason == 'ignored (the task raised Ignore)'
    assert ignored.cause == ('localq.errors.Revoked', 'ignored (the task raised Ignore)', '')
    failed = decide(run(raised(ValueError('x'))))
    assert failed.ends_without_result and failed.cause == failed.error
    assert not decide(run(raised(Retry(countdown=1)))).ends_without_result


def test_a_rate_limited_run_waits_for_its_slot_and_is_not_an_attempt():
    exc = RateLimitExceeded('t', 2.5)
    exc.retry = True
    outcome = decide(run(raised(exc)))
    assert (outcome.state, outcome.attempt, outcome.wait_reason) == ('PENDING', None, 'rate-limited')
    assert outcome.eta == pytest.approx(NOW + 2.5)
    exc.slot = NOW + 7
    assert decide(run(raised(exc))).eta == NOW + 7   # the slot it reserved, exactly


def test_jitter_keeps_a_retry_between_half_and_all_of_its_backoff():
    r = run(raised(ValueError('x')), retries_left=1, autoretry_for=(ValueError,), retry_backoff=True,
            retry_jitter=True)
    delays = {decide(r, rng=random.Random(seed)).retry_in for seed in range(20)}
    assert all(2.0 <= d <= 4.0 for d in delays) and len(delays) > 1


def test_error_fields_name_the_module_of_non_builtin_errors():
    assert error_fields(raised(DiskFull('full')))[0] == 'localq.errors.DiskFull'
    assert error_fields(raised(KeyError('k')))[0] == 'KeyError'


def test_huey_retries_exactly_when_the_outcome_says_so():
    task = types.SimpleNamespace(retries=3, retry_delay=0, retry_backoff=2)
    huey_retry(task, decide(run(raised(ValueError('x')))))
    assert task.retries == 0
    task = types.SimpleNamespace(retries=3, retry_delay=0, retry_backoff=2)
    huey_retry(task, decide(run(raised(Retry(countdown=9)))))
    assert (task.retries, task.retry_delay, task.retry_backoff) == (3, 9, 0)


def test_a_task_this_process_does_not_have_is_decided_without_its_options():
    outcome = decide(Run.of(None, task='elsewhere', now=NOW, exception=raised(ValueError('x'))))
    assert outcome.state == 'FAILURE'
    assert isinstance(decide(Run.of(None, task='elsewhere', now=NOW, value=1)), Outcome)


@pytest.mark.parametrize('value, ignore_result', [(3, False), ({'a': [1]}, False), (object(), False),
                                                  (math.inf, False), (object(), True)])
def test_the_trackers_fast_path_for_a_returned_value_decides_as_decide_does(value, ignore_result):
    """Every finished job takes returned() without building a Run: it must agree with decide()."""
    assert returned('t', value, ignore_result) == decide(run(value=value, ignore_result=ignore_result))
