"""states.py's readings of a state, as Celery users compare them."""
import pytest

from localq import states


@pytest.mark.parametrize('state, running, ready, as_celery', [
    ('WAITING', False, False, 'PENDING'),   # a workflow step reads as PENDING, as in Celery
    ('PENDING', False, False, 'PENDING'),
    ('RETRY', False, False, 'RETRY'),
    ('STARTED', True, False, 'STARTED'),
    ('PROCESSING', True, False, 'PROCESSING'),   # a task's own progress state runs
    ('SUCCESS', False, True, 'SUCCESS'),
    ('FAILURE', False, True, 'FAILURE'),
    ('REVOKED', False, True, 'REVOKED'),
])
def test_each_state_reads_as_running_ready_and_celery_say(state, running, ready, as_celery):
    assert states.is_running(state) is running
    assert states.is_ready(state) is ready
    assert states.celery_state(state) == as_celery


def test_the_fixed_conditions_read_as_the_partial_indexes_were_written():
    # The job_claim and job_active indexes of older data folders were created with these strings;
    # SQLite uses a partial index only for a query whose condition reads the same.
    assert states.SQL_CLAIMABLE == "state IN ('PENDING', 'RETRY')"
    assert states.SQL_RUNNING == "state NOT IN ('PENDING', 'RETRY', 'WAITING', 'SUCCESS', 'FAILURE', 'REVOKED')"


@pytest.mark.parametrize('sources, condition', [
    (set(), '1 = 0'),
    (set(states.TRANSITIONS), '1 = 1'),
    ({'REVOKED', 'FAILURE'}, "state IN ('FAILURE', 'REVOKED')"),
    ({states.CUSTOM}, "state NOT IN ('PENDING', 'RETRY', 'WAITING', 'SUCCESS', 'FAILURE', 'REVOKED', 'STARTED')"),
])
def test_a_set_of_states_becomes_one_condition(sources, condition):
    assert states.where(sources) == condition


def test_nothing_moves_out_of_success_and_every_state_has_a_row_in_the_table():
    assert states.TRANSITIONS[states.SUCCESS] == set()
    assert set(states.BUILTIN) | {states.CUSTOM} == set(states.TRANSITIONS)
    assert all(targets <= set(states.TRANSITIONS) for targets in states.TRANSITIONS.values())
