"""The log an operator reads for days (tracking.log_outcome): one line per failed attempt that
will be retried, one ERROR with its traceback per final failure, nothing for a success."""
import logging
import time

import pytest

from localq.errors import DiskFull, Ignore, LeaseLost, Retry, Revoked
from localq.outcome import Run, decide
from localq.tracking import log_outcome


def raised(exc):
    try:
        raise exc
    except Exception as caught:
        return caught


def logged(caplog, exception=None, value=None, **run):
    outcome = decide(Run(task='tests.add', now=time.time(), exception=exception, value=value,
                         **dict({'max_retries': 3, 'retries_left': 3}, **run)))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger='localq.tracking'):
        log_outcome('job-1', 'tests.add', 2, outcome, exception)
    return [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]


def test_a_retry_is_one_info_line_naming_the_error_and_the_next_try(caplog):
    (level, line, traceback), = logged(caplog, raised(ConnectionError('api down')), autoretry_for=(ConnectionError,))
    assert level == 'INFO' and not traceback
    assert line.startswith('job-1: tests.add attempt 2 failed (ConnectionError: api down); retry 1 of 3 in ')


def test_a_final_failure_is_one_error_with_its_traceback(caplog):
    (level, line, traceback), = logged(caplog, raised(ValueError('bad input')))
    assert (level, traceback) == ('ERROR', True)
    assert line == 'job-1: tests.add attempt 2 failed, no retries left (ValueError: bad input)'


def test_a_self_retry_logs_the_error_it_carries(caplog):
    (level, line, _), = logged(caplog, raised(Retry(exc=KeyError('k'), countdown=5)))
    assert level == 'INFO' and '(KeyError: ' in line and 'retry 1 of 3 in 5.0 s' in line


@pytest.mark.parametrize('exception, expected', [
    (None, []),                                                     # a success says nothing here
    (Ignore(), []),                                                 # the task chose to end it
    (LeaseLost('taken over'), []),                                  # leases.py has said so
    (Revoked('stop'), [('INFO', 'job-1: tests.add attempt 2 revoked while running', False)]),
    (DiskFull('the disk is full'), [('INFO', None, False)]),        # retried in 10 s, one line
])
def test_what_else_a_run_can_do_logs_at_most_one_line(caplog, exception, expected):
    found = logged(caplog, raised(exception) if exception else None, value=1)
    assert [(level, tb) for level, _, tb in found] == [(level, tb) for level, _, tb in expected]
    for (_, line, _), (_, want, _) in zip(found, expected):
        assert want is None or line == want


def test_a_temporary_error_with_no_retries_left_is_an_error_without_a_traceback(caplog):
    (level, line, traceback), = logged(caplog, raised(DiskFull('the disk is full')), retries_left=0)
    assert (level, traceback) == ('ERROR', False) and 'DiskFull: the disk is full' in line


def test_an_unstorable_value_is_an_error_saying_why(caplog):
    (level, line, traceback), = logged(caplog, value=object())
    assert (level, traceback) == ('ERROR', False) and 'is not JSON-serialisable' in line
