"""The transition table (states.py) and the lifecycle that obeys it (lifecycle.py), on a real SQLite file."""
import contextlib
import sqlite3

import pytest

from localq import lifecycle, states
from localq.outcome import Outcome, Run, decide
from tests.sample_tasks import add

CUSTOM_STATE = 'PROCESSING'   # a state a task reports with update_state()
ALL = ('WAITING', 'PENDING', 'STARTED', CUSTOM_STATE, 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED')

# The table of docs/ARCHITECTURE.md, written out: state -> the states it may move to.
DOCUMENTED = {
    'WAITING': {'PENDING', 'REVOKED'},
    'PENDING': {'STARTED', 'REVOKED'},
    'RETRY': {'STARTED', 'REVOKED'},
    'STARTED': {CUSTOM_STATE, 'PENDING', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED'},
    CUSTOM_STATE: {CUSTOM_STATE, 'PENDING', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED'},
    'SUCCESS': set(),
    'FAILURE': {'PENDING'},
    'REVOKED': {'PENDING', 'WAITING'},
}


@pytest.mark.parametrize('source', ALL)
def test_the_transition_table_allows_exactly_the_documented_moves(source):
    assert {target for target in ALL if states.allowed(source, target)} == DOCUMENTED[source]


def test_every_move_the_lifecycle_makes_is_allowed_by_the_table():
    for move in lifecycle.MOVES.values():
        for source in move.sources:
            for target in move.targets:
                assert states.allowed(source, target), move


@pytest.mark.parametrize('sources, targets', [({'SUCCESS'}, {'PENDING'}), ({'PENDING'}, {'SUCCESS'}),
                                              ({'WAITING'}, {'STARTED'}), ({'FAILURE'}, {'RETRY'})])
def test_a_move_outside_the_table_is_refused_when_it_is_declared(sources, targets):
    with pytest.raises(AssertionError, match='not in states.TRANSITIONS'):
        lifecycle.Move('test-only', sources, targets)
    assert 'test-only' not in lifecycle.MOVES


def test_each_moves_sql_condition_holds_for_exactly_its_states():
    with contextlib.closing(sqlite3.connect(':memory:')) as db:
        db.execute('CREATE TABLE job (state TEXT)')
        db.executemany('INSERT INTO job VALUES (?)', [(s,) for s in ALL])
        for move in lifecycle.MOVES.values():
            expected = {CUSTOM_STATE if s == states.CUSTOM else s for s in move.sources}
            found = {s for s, in db.execute('SELECT state FROM job WHERE ' + move.where)}
            assert found == expected, move


def test_an_unknown_state_in_a_condition_is_an_error():
    with pytest.raises(ValueError, match='not states of the transition table'):
        states.where({'DONE'})


# -- the lifecycle's writes, on real rows ----------------------------------------------
def job_in(app, state, **columns):
    """A queued job moved to `state` (a running one as attempt 1 of worker w)."""
    job_id = add.delay(1, 2).id
    columns = dict({'state': state, 'attempts': 1, 'worker': 'w'}, **columns)
    app.query.sql('UPDATE job SET %s WHERE id = ?' % ', '.join('%s = ?' % c for c in columns),
                  tuple(columns.values()) + (job_id,))
    return job_id


def row(app, job_id, *columns):
    found = app.query.sql('SELECT %s FROM job WHERE id = ?' % ', '.join(columns or ('state',)), (job_id,)).fetchone()
    return found if found is None or len(found) > 1 else found[0]


def one_of_each(app):
    return {state: job_in(app, state) for state in ALL}


def test_requeue_moves_only_failed_and_revoked_jobs(app):
    jobs = one_of_each(app)
    assert sorted(lifecycle.requeue(app, jobs.values())) == sorted([jobs['FAILURE'], jobs['REVOKED']])
    assert {s: row(app, i) for s, i in jobs.items()} == dict(
        {s: s for s in ALL}, FAILURE='PENDING', REVOKED='PENDING')


def test_delete_never_takes_a_running_job(app):
    jobs = one_of_each(app)
    assert lifecycle.delete_ids(app, list(jobs.values())) == len(ALL) - 2
    assert {s for s, i in jobs.items() if row(app, i) is not None} == {'STARTED', CUSTOM_STATE}


def test_revoke_cancels_what_has_not_started_and_asks_a_running_job_to_stop(app):
    jobs = one_of_each(app)
    after = {s: lifecycle.revoke(app, i) for s, i in jobs.items()}
    assert after == dict({s: s for s in ALL}, WAITING='REVOKED', PENDING='REVOKED', RETRY='REVOKED')
    assert row(app, jobs['STARTED'], 'state', 'revoke_requested') == ('STARTED', 1)
    assert row(app, jobs['SUCCESS'], 'revoke_requested') == 0
    assert lifecycle.revoke(app, 'no-such-job') is None


def test_run_now_moves_only_a_job_that_waits_for_its_eta(app):
    jobs = one_of_each(app)
    assert {s for s, i in jobs.items() if lifecycle.run_now(app, i)} == {'PENDING', 'RETRY'}


def outcome_of(exception=None, value=None):
    return decide(Run(task='tests.add', now=0.0, exception=exception, value=value))


def test_an_outcome_is_written_only_for_the_run_that_holds_the_job(app):
    job_id = job_in(app, 'STARTED', attempts=2)
    lifecycle.record(app, job_id, 'tests.add', 1, outcome_of(ValueError('late')))   # attempt 1 lost its lease
    assert row(app, job_id) == 'STARTED'
    lifecycle.record(app, job_id, 'tests.add', 2, outcome_of(ValueError('now')))
    assert row(app, job_id, 'state', 'error_message') == ('FAILURE', 'now')
    assert app.query.sql('SELECT number, outcome FROM attempt WHERE job_id = ?', (job_id,)).fetchall() == [
        (2, 'FAILURE')]


def test_an_outcome_for_a_job_no_longer_running_changes_nothing(app):
    job_id = job_in(app, 'REVOKED')
    app.huey.immediate = True   # write at once rather than with the next claim
    try:
        lifecycle.record(app, job_id, 'tests.add', 1, outcome_of(value=3))
    finally:
        app.huey.immediate = False
    assert row(app, job_id, 'state', 'result') == ('REVOKED', None)
    assert app.query.sql('SELECT COUNT(*) FROM attempt WHERE job_id = ?', (job_id,)).fetchone()[0] == 0


def test_a_rate_limit_wait_gives_the_attempt_back(app):
    job_id = job_in(app, 'STARTED')
    lifecycle.record(app, job_id, 'tests.add', 1, Outcome('PENDING', None, eta=123.0, wait_reason='rate-limited'))
    assert row(app, job_id, 'state', 'attempts', 'eta', 'wait_reason') == ('PENDING', 0, 123.0, 'rate-limited')


@pytest.mark.parametrize('acks_late, revoke_requested, state', [
    (True, False, 'PENDING'), (False, False, 'FAILURE'), (True, True, 'REVOKED')])
def test_a_lost_run_is_released_once(app, acks_late, revoke_requested, state):
    job_id = job_in(app, 'STARTED', acks_late=acks_late, revoke_requested=revoke_requested)
    assert lifecycle.release_lost(app, job_id, 'worker gone', attempt=1) == state
    assert lifecycle.release_lost(app, job_id, 'worker gone', attempt=1) is None
    assert app.query.sql('SELECT outcome, error_message FROM attempt WHERE job_id = ?', (job_id,)).fetchall() == [
        ('LOST', 'worker gone')]


def test_a_sweep_leaves_a_run_whose_lease_was_renewed(app):
    job_id = job_in(app, 'STARTED', lease_until=200.0)
    assert lifecycle.release_lost(app, job_id, 'stale', attempt=1, lease_ran_out_by=100.0) is None
    assert row(app, job_id) == 'STARTED'


def test_progress_is_written_only_while_running(app):
    running, done = job_in(app, 'STARTED'), job_in(app, 'SUCCESS')
    for job_id in (running, done):
        lifecycle.progress(app, job_id, CUSTOM_STATE, '{"progress": 50}', attempt=1)
    assert row(app, running, 'state', 'meta') == (CUSTOM_STATE, '{"progress": 50}')
    assert row(app, done) == 'SUCCESS'


def test_a_revoked_job_gives_its_idempotency_key_up(app):
    kept, given = job_in(app, 'SUCCESS', idempotency_key='a'), job_in(app, 'REVOKED', idempotency_key='b')
    lifecycle.give_up_key(app.query, 'a')
    lifecycle.give_up_key(app.query, 'b')
    assert (row(app, kept, 'idempotency_key'), row(app, given, 'idempotency_key')) == ('a', None)
