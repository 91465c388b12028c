"""Calling and canvas idioms from Celery's "Calling Tasks" and "Canvas" guides (issue #25, item 4)."""
import pytest

from localq import InvalidTaskOptions, LocalQ, chain
from localq.errors import InvalidCallOptions
from localq.models import Job
from tests.conftest import wait_for
from tests.sample_tasks import Effect, add, fail, mul, note_failure


def test_a_signatures_fields_are_attributes():
    sig = add.si(2, 3).set(countdown=1)
    assert (sig.task, sig.args, sig.kwargs, sig.options, sig.immutable) == ('tests.add', (2, 3), {},
                                                                            {'countdown': 1}, True)


def test_invert_runs_a_signature_and_waits(app, worker):
    assert ~add.s(2, 3) == 5


def test_map_and_starmap(app, worker):
    assert add.starmap([(1, 1), (2, 2)]).apply_async().get(timeout=10) == [2, 4]
    assert app.tasks['tests.tsum'].map([[1, 2], [3]]).apply_async().get(timeout=10) == [3, 3]


def test_an_immutable_errback_gets_only_its_own_arguments(app, worker):
    failed = fail.apply_async(('x',), link_error=note_failure.si('fixed-args', tag='errored'))
    with pytest.raises(ValueError):
        failed.get(timeout=10)
    wait_for(lambda: Effect.get_or_none(Effect.key == 'errored:fixed-args'), timeout=10, what='the errback')


def test_children_and_restoring_a_group_through_the_app(app, worker):
    first = chain(add.s(1, 1), mul.s(3)).apply_async()
    assert first.get(timeout=10) == 6
    parent = first.parent
    assert [c.id for c in parent.children] == [first.id]
    from localq import group
    g = group(add.s(1, 1), add.s(2, 2)).apply_async()
    assert g.get(timeout=10) == [2, 4]
    assert [r.id for r in app.GroupResult.restore(g.id)] == [r.id for r in g]
    assert app.GroupResult.restore('no-such-group') is None


def test_publishing_options_are_accepted_and_others_refused_with_the_localq_way(app):
    job = add.apply_async((1, 2), retry=True, retry_policy={'max_retries': 3, 'interval_start': 0})
    assert Job.get_by_id(job.id).state == 'PENDING'
    with pytest.raises(InvalidCallOptions, match='ignore_result is not supported.*@app.task\\(ignore_result=True\\)'):
        add.apply_async((1, 2), ignore_result=True)
    with pytest.raises(InvalidCallOptions, match='headers is not supported'):
        add.apply_async((1, 2), headers={'x': 1})


def test_retry_kwargs_set_the_autoretry_limit_and_delay(tmp_path):
    app = LocalQ('calling-tests', data_dir=str(tmp_path / 'data'))

    @app.task(autoretry_for=(ConnectionError,), retry_kwargs={'max_retries': 5, 'countdown': 2})
    def fetch():
        pass
    assert (fetch.options.max_retries, fetch.options.default_retry_delay) == (5, 2)
    with pytest.raises(InvalidTaskOptions, match='retry_kwargs'):
        app.task(retry_kwargs={'interval': 1})(lambda: None)
    app.close()


def test_get_with_on_message_sees_each_state(app, worker):
    from tests.sample_tasks import celery_progress, gate
    seen = []
    result = celery_progress.delay('on-message')

    def on_message(body):
        seen.append((body['status'], body['result']))
        if body['status'] == 'PROGRESS':
            gate('on-message').set()

    assert result.get(timeout=10, on_message=on_message) == 'done'
    assert ('PROGRESS', {'current': 3, 'total': 10}) in seen
    assert seen[-1] == ('SUCCESS', 'done')


def test_a_group_after_a_chain_step_knows_its_parent(app, worker):
    from localq import group
    result = chain(add.s(1, 1), group(mul.s(2), mul.s(3))).apply_async()
    assert result.get(timeout=10) == [4, 6]
    assert result.parent.get(timeout=10) == 2
