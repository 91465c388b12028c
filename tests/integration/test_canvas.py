"""Celery's canvas on a real worker process: chain, group, chord, link, link_error, revoke, retry."""
import pytest

from localq import CanvasError, GroupResult, TaskRevoked, chain, chord, group, signature
from localq import actions
from localq.models import Job
from tests.conftest import wait_for
from tests.sample_tasks import Effect, add, fail, mul, note_failure, on_error, tsum, until_fixed


def row(result):
    return Job.get_by_id(result.id)


def test_a_chain_passes_each_result_first_and_get_returns_the_last(app, process_worker):
    result = chain(add.s(2, 2), add.s(4), mul.s(10)).apply_async()
    assert result.get(timeout=20) == 80          # ((2 + 2) + 4) * 10
    first, second = result.parent.parent, result.parent
    assert (first.get(), second.get()) == (4, 8)
    # Each row records its parent and the workflow's root; the first step is the root
    assert (row(second).parent_id, row(result).parent_id) == (first.id, second.id)
    assert {row(r).root_id for r in (first, second, result)} == {first.id}


def test_the_pipe_operator_and_an_immutable_signature(app, process_worker):
    assert (add.s(1, 1) | mul.s(10)).delay().get(timeout=20) == 20
    assert (add.s(1, 1) | add.si(5, 5)).delay().get(timeout=20) == 10    # .si() ignores the previous result


def test_a_group_returns_every_result_in_order(app, process_worker):
    result = group(add.s(i, i) for i in range(5)).apply_async()
    assert isinstance(result, GroupResult) and len(result) == 5
    assert result.get(timeout=20) == [0, 2, 4, 6, 8]
    assert result.ready() and result.successful() and result.completed_count() == 5
    assert app.GroupResult(result.id).get() == [0, 2, 4, 6, 8]        # restored from the rows


def test_a_chord_body_receives_the_list_of_header_results(app, process_worker):
    result = chord([add.s(i, i) for i in range(4)], tsum.s()).apply_async()
    assert result.get(timeout=20) == 12

    assert isinstance(result.parent, GroupResult) and result.parent.get() == [0, 2, 4, 6]
    # a group followed by a step is a chord too, and a chain may hold one in the middle
    assert (group(add.s(1, 1), add.s(2, 2)) | tsum.s()).delay().get(timeout=20) == 6
    assert chain(add.s(1, 1), group(mul.s(2), mul.s(3)), tsum.s()).delay().get(timeout=20) == 10


def test_a_chord_with_an_empty_header_in_a_chain_runs_its_body_after_the_step_before_it(app, process_worker):
    result = chain(add.s(2, 2), chord([], tsum.s())).apply_async()
    assert result.get(timeout=20) == 0            # the body got the empty header's [] ...
    step = result.parent
    assert step.get(timeout=20) == 4 and row(result).started_at >= row(step).finished_at   # ... once the step had ended


def test_a_failing_step_stops_its_chain_and_its_error_reaches_get(app, process_worker):
    result = chain(add.s(1, 1), fail.s(), add.s(1), add.s(1)).apply_async()
    with pytest.raises(ValueError, match='broken: 2'):
        result.get(timeout=20)
    # The members after it end in a visible terminal state (not PENDING forever), saying why
    failed = result.parent.parent
    assert row(failed).state == 'FAILURE'
    for later in (result.parent, result):
        assert row(later).state == 'REVOKED' and row(later).wait_reason.startswith('not run: tests.fail')
        assert row(later).attempts == 0
    assert result.ready() and result.state == 'REVOKED'


def test_a_failing_chord_member_cancels_the_body_not_its_siblings(app, process_worker):
    result = chord([add.s(1, 1), fail.s(7), add.s(2, 2)], tsum.s()).apply_async()
    with pytest.raises(ValueError, match='broken: 7'):
        result.get(timeout=20)
    header = result.parent
    # the body is cancelled as soon as a member fails; the siblings run on to their own end
    header.get(timeout=20, propagate=False)
    assert [r.state for r in header] == ['SUCCESS', 'FAILURE', 'SUCCESS']
    assert header.failed() and not header.successful() and header.completed_count() == 2
    assert row(result).state == 'REVOKED'


def test_link_runs_with_the_result_and_link_error_with_the_failure(app, process_worker):
    # Given a callback on success, and both kinds of errback on failure
    ok = add.apply_async((2, 3), link=mul.s(10))
    bad = fail.apply_async(('x',), link_error=[note_failure.s(), on_error.s()])
    # Then the callback got the result first, and each errback ran as Celery calls it
    callback = wait_for(lambda: Job.get_or_none(Job.parent_id == ok.id), what='the callback row')
    assert app.AsyncResult(callback.id).get(timeout=20) == 50
    with pytest.raises(ValueError):
        bad.get(timeout=20)
    keys = wait_for(lambda: {e.key for e in Effect.select()} if Effect.select().count() == 2 else None,
                    timeout=20, what='both errbacks')
    assert 'errback:%s' % bad.id in keys                              # errback(task_id)
    assert '%s|tests.fail|ValueError|True' % bad.id in keys           # errback(request, exc, traceback)


def test_a_signature_and_a_chain_take_link_and_link_error_like_a_task(app, process_worker):
    # Given one callback (not a list) passed to a signature's and a chain's apply_async
    ok = add.s(2, 3).apply_async(link=mul.s(10))
    chained = chain(add.s(1, 1), add.s(1), link_error=note_failure.s()).apply_async(link=mul.s(2))
    # Then each runs once after its call, with its result first
    for result, expected in ((ok, 50), (chained, 6)):
        callbacks = wait_for(lambda: list(Job.select().where(Job.parent_id == result.id)) or None,
                             what='the callback row')
        assert [app.AsyncResult(c.id).get(timeout=20) for c in callbacks] == [expected]
    assert Effect.select().count() == 0    # nothing failed: no errback ran


def test_revoking_the_root_revokes_every_member_that_has_not_run(app, process_worker):
    app.pause_queue('default')     # nothing can start
    result = chain(add.s(1, 1), add.s(1), group(add.s(1), add.s(2)), tsum.s()).apply_async()
    root_id = row(result).root_id
    assert app.revoke(root_id) == 'REVOKED'
    app.resume_queue('default')
    members = Job.select().where(Job.root_id == root_id)
    assert members.count() == 5 and {m.state for m in members} == {'REVOKED'}
    with pytest.raises(TaskRevoked):
        result.get(timeout=5)
    assert sum(m.attempts for m in members) == 0


def test_retrying_the_failed_step_resumes_its_workflow(app, process_worker):
    # Given a chain stopped by a step that fails until someone fixes its cause
    result = chain(add.s(1, 1), until_fixed.s(), add.s(1)).apply_async()
    with pytest.raises(ValueError, match='not fixed yet: 2'):
        result.get(timeout=20)
    failed = result.parent
    assert row(result).state == 'REVOKED'
    # When the cause is fixed and the failed step re-queued (the dashboard's Retry)
    Effect.create(key='fixed')
    assert actions.requeue(app, [failed.id]) == [failed.id]
    # Then the rest of the chain waits for it again and runs: the value comes through
    assert result.get(timeout=20) == 3
    assert row(failed).attempts == 2 and row(result).attempts == 1
    # A member that never ran is not re-queued on its own (it had no input)
    stopped = chain(add.s(1, 1), fail.s(), add.s(1)).apply_async()
    with pytest.raises(ValueError):
        stopped.get(timeout=20)
    assert actions.requeue(app, [stopped.id]) == [] and row(stopped).state == 'REVOKED'


def test_a_call_that_cannot_bind_fails_in_the_caller_and_queues_nothing(app):
    with pytest.raises(Exception, match='tests.add'):
        chain(add.s(1, 1), add.s(1, 2)).apply_async()      # the second step would get 3 arguments
    with pytest.raises(CanvasError, match='needs a body'):
        chord([add.s(1, 1)]).apply_async()
    assert Job.select().count() == 0


def test_a_signature_travels_as_json_and_is_rebuilt(app, process_worker):
    sig = chain(add.s(2, 2), mul.s(3))
    rebuilt = signature(dict(sig))        # e.g. a signature passed as a task argument
    assert rebuilt.delay().get(timeout=20) == 12
    assert signature('tests.add', args=(20, 1)).delay().get(timeout=20) == 21


def test_the_job_page_shows_the_whole_workflow(app, worker):
    from localq.web import create_app
    client = create_app(app).test_client()
    # Given a chord held back by a paused queue, so its body waits
    app.pause_queue('default')
    result = chain(add.s(1, 1), group(mul.s(2), mul.s(3)), tsum.s()).apply_async()
    # Then the body's page lists every member with its step, state and what it runs after
    page = client.get('/jobs/' + result.id).get_data(as_text=True)
    assert page.count('data-member=') == 4
    assert 'Waits for 2 of the 2 jobs of its group' in page and 'WAITING' in page
    for member in Job.select().where(Job.root_id == row(result).root_id):
        assert 'href="/jobs/%s"' % member.id in page
    app.resume_queue('default')
    assert result.get(timeout=20) == 10
    done = client.get('/jobs/' + result.id).get_data(as_text=True)
    assert '4 of 4 finished' in done
