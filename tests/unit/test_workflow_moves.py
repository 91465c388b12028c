"""How a queued workflow moves (lifecycle.py with workflow.py), outcome by outcome, on real rows and
without a worker: each test plays the worker's part by claiming a member and recording its outcome."""
import json

from localq import chain, chord, group, lifecycle
from localq.outcome import Run, decide
from tests.sample_tasks import add, mul, tsum


def rows(app, root_id):
    """(id, state, args, wait_reason) of a workflow's members, in queueing order."""
    return app.query.sql('SELECT id, state, args, wait_reason FROM job WHERE root_id = ? ORDER BY queued_at, id',
                         (root_id,)).fetchall()


def run(app, job_id, value=None, exception=None):
    """Claim the member as a worker would (attempt 1) and record what it did."""
    app.query.sql("UPDATE job SET state = 'STARTED', attempts = attempts + 1 WHERE id = ?", (job_id,))
    message = json.loads(app.query.sql('SELECT message FROM job WHERE id = ?', (job_id,)).fetchone()[0])
    name = app.query.sql('SELECT task FROM job WHERE id = ?', (job_id,)).fetchone()[0]
    attempt = app.query.sql('SELECT attempts FROM job WHERE id = ?', (job_id,)).fetchone()[0]
    outcome = decide(Run(task=name, now=0.0, value=value, exception=exception))
    app.huey.immediate = True   # write it now, not with a next claim
    try:
        lifecycle.record(app, job_id, name, attempt, outcome, message.get('w'))
    finally:
        app.huey.immediate = False


def test_a_chain_step_is_released_with_the_last_result_first(app):
    result = chain(add.s(1, 2), mul.s(10)).apply_async()
    first, second = rows(app, result.parent.id)
    assert (first[1], second[1]) == ('PENDING', 'WAITING')
    run(app, first[0], value=3)
    state, args = rows(app, result.parent.id)[1][1:3]
    assert (state, json.loads(args)) == ('PENDING', [3, 10])


def test_an_immutable_step_keeps_its_own_arguments(app):
    result = chain(add.s(1, 2), mul.si(4, 5)).apply_async()
    first = rows(app, result.parent.id)[0]
    run(app, first[0], value=3)
    assert json.loads(rows(app, result.parent.id)[1][2]) == [4, 5]


def test_a_chord_body_waits_for_every_member_and_takes_their_results_in_order(app):
    result = chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], tsum.s()).apply_async()
    members = app.query.sql("SELECT id FROM job WHERE group_id IS NOT NULL ORDER BY group_index").fetchall()
    body = result.id
    for (member_id,), value in zip(reversed(members), (6, 4, 2)):   # they finish in any order
        assert app.query.sql('SELECT state FROM job WHERE id = ?', (body,)).fetchone()[0] == 'WAITING'
        run(app, member_id, value=value)
    state, args = app.query.sql('SELECT state, args FROM job WHERE id = ?', (body,)).fetchone()
    assert (state, json.loads(args)) == ('PENDING', [[2, 4, 6]])


def test_a_failure_cancels_every_step_after_it_carrying_its_error(app):
    result = chain(add.s(1, 2), mul.s(10), mul.s(2)).apply_async()
    first = app.query.sql("SELECT id FROM job WHERE state = 'PENDING'").fetchone()[0]
    run(app, first, exception=ValueError('bad input'))
    found = app.query.sql('SELECT state, wait_reason, error_type, error_message FROM job WHERE id != ? '
                          'ORDER BY queued_at', (first,)).fetchall()
    assert len(found) == 2
    assert app.query.sql('SELECT state FROM job WHERE id = ?', (result.id,)).fetchone()[0] == 'REVOKED'
    for state, reason, error_type, message in found:
        assert state == 'REVOKED' and reason.startswith('not run: tests.add %s failed' % first)
        assert (error_type, message) == ('ValueError', 'bad input')


def test_a_retry_does_not_move_the_workflow(app):
    chain(add.s(1, 2), mul.s(10)).apply_async()
    first = app.query.sql("SELECT id FROM job WHERE state = 'PENDING'").fetchone()[0]
    app.query.sql("UPDATE job SET state = 'STARTED', attempts = 1 WHERE id = ?", (first,))
    lifecycle.record(app, first, 'tests.add', 1, decide(Run(task='tests.add', now=0.0, retries_left=2,
                                                            max_retries=3, autoretry_for=(ValueError,),
                                                            exception=ValueError('again'))))
    states = dict(app.query.sql('SELECT state, COUNT(*) FROM job GROUP BY state').fetchall())
    assert states == {'RETRY': 1, 'WAITING': 1}


def test_requeueing_the_failed_step_makes_what_it_cancelled_wait_again(app):
    chain(add.s(1, 2), mul.s(10), mul.s(2)).apply_async()
    first = app.query.sql("SELECT id FROM job WHERE state = 'PENDING'").fetchone()[0]
    run(app, first, exception=ValueError('bad input'))
    assert lifecycle.requeue(app, [first]) == [first]
    found = app.query.sql('SELECT state, waits_for, error_type FROM job WHERE id != ? ORDER BY queued_at',
                          (first,)).fetchall()
    assert found == [('WAITING', 1, None), ('WAITING', 1, None)]
    run(app, first, value=3)
    assert [s for s, in app.query.sql('SELECT state FROM job WHERE id != ? ORDER BY queued_at', (first,))] == [
        'PENDING', 'WAITING']


def test_a_cancelled_member_is_not_requeued_by_itself(app):
    chain(add.s(1, 2), mul.s(10)).apply_async()
    first = app.query.sql("SELECT id FROM job WHERE state = 'PENDING'").fetchone()[0]
    second = app.query.sql("SELECT id FROM job WHERE state = 'WAITING'").fetchone()[0]
    run(app, first, exception=ValueError('bad input'))
    assert lifecycle.requeue(app, [second]) == []   # it runs once what it waits for succeeds


def test_a_group_member_failing_cancels_the_chord_body_not_its_siblings(app):
    result = chord([add.s(1, 1), add.s(2, 2)], tsum.s()).apply_async()
    members = [i for i, in app.query.sql('SELECT id FROM job WHERE group_id IS NOT NULL ORDER BY group_index')]
    run(app, members[0], exception=ValueError('one bad'))
    assert app.query.sql('SELECT state FROM job WHERE id = ?', (result.id,)).fetchone()[0] == 'REVOKED'
    assert app.query.sql('SELECT state FROM job WHERE id = ?', (members[1],)).fetchone()[0] == 'PENDING'


def test_a_plain_group_has_no_member_waiting(app):
    group(add.s(1, 1), add.s(2, 2)).apply_async()
    assert [s for s, in app.query.sql('SELECT state FROM job')] == ['PENDING', 'PENDING']
