"""Celery's canvas objects (canvas.py) on their own: building signatures (partial arguments, clone,
|, .si(), options), their trip through JSON as a task argument, and eager runs (.apply()), with
no worker and no database."""
import json

import pytest

from localq import CanvasError, EagerResult, GroupResult, Signature, chain, chord, group, signature
from tests import sample_tasks as t


def through_json(sig):
    """A signature as a task receives it after travelling as an argument."""
    return signature(json.loads(json.dumps(sig)))


# -- building ----------------------------------------------------------------------------------

def test_partial_arguments_go_first_and_keyword_arguments_merge():
    sig = t.charge.s(amount=5, currency='EUR')
    clone = sig.clone(('tok_1',), {'currency': 'USD'})
    assert (clone.args, clone.kwargs) == (('tok_1',), {'amount': 5, 'currency': 'USD'})
    assert (sig.args, sig.kwargs) == ((), {'amount': 5, 'currency': 'EUR'})   # the original is unchanged


def test_clone_merges_options_and_keeps_the_original_unchanged():
    sig = t.add.s(1).set(queue='low', priority=3)
    clone = sig.clone(priority=9, countdown=5)
    assert clone.options == {'queue': 'low', 'priority': 9, 'countdown': 5}
    assert sig.options == {'queue': 'low', 'priority': 3}


def test_an_immutable_signature_keeps_its_own_arguments_when_given_more():
    sig = t.add.si(1, 2)
    assert sig.clone((99,), {'y': 5}).args == (1, 2) and sig.clone((99,)).kwargs == {}
    assert sig.immutable and repr(sig) == 'tests.add(1, 2)!'


def test_set_immutable_turns_a_signature_into_one_that_ignores_a_parents_result():
    sig = t.add.s(1, 2).set(immutable=True)
    assert sig.immutable and sig.clone((5,)).args == (1, 2)
    sig.set_immutable(False)
    assert sig.clone((5,)).args == (5, 1, 2)


def test_calling_a_signature_calls_the_function_with_the_partial_arguments():
    assert t.add.s(2)(3) == 5
    assert t.mul.s(y=4)(3) == 12


def test_a_signature_of_a_task_this_process_does_not_declare_can_only_be_queued():
    sig = signature('elsewhere.task', args=(1,))
    assert sig.type is None
    with pytest.raises(CanvasError, match="task 'elsewhere.task' is not declared in this process"):
        sig(2)
    with pytest.raises(CanvasError, match='not declared in this process'):
        sig.apply()


def test_signature_by_name_takes_args_kwargs_and_call_options_as_celery_does():
    sig = signature('tests.add', args=(2, 2), kwargs={'z': 1}, countdown=10, options={'queue': 'low'})
    assert (sig.name, sig.args, sig.kwargs) == ('tests.add', (2, 2), {'z': 1})
    assert sig.options == {'queue': 'low', 'countdown': 10}


def test_signature_of_a_signature_is_that_signature():
    sig = t.add.s(1, 1)
    assert signature(sig) is sig


@pytest.mark.parametrize('not_a_signature, says', [
    ({'args': [1]}, 'not a signature'),
    (42, 'cannot make a signature of 42'),
])
def test_what_is_not_a_signature_is_refused(not_a_signature, says):
    with pytest.raises(CanvasError, match=says):
        signature(not_a_signature)


def test_link_and_link_error_collect_signatures_and_return_what_they_were_given():
    sig = t.add.s(1, 1)
    callback, errback = t.mul.s(2), t.note_failure.s()
    assert sig.link(callback) is callback and sig.link_error(errback) is errback
    assert sig.on_error(t.on_error.s()) is sig
    assert sig.options['link'] == [callback]
    assert [e.name for e in sig.options['link_error']] == ['tests.note_failure', 'tests.on_error']


def test_freeze_fixes_the_job_id_once():
    sig = t.add.s(1, 1)
    result = sig.freeze()
    assert sig.id == result.id and sig.freeze().id == result.id
    assert t.add.s(1, 1).freeze('chosen-id').id == 'chosen-id'


# -- composing ---------------------------------------------------------------------------------

def test_the_pipe_makes_one_flat_chain():
    pipeline = t.add.s(1, 2) | t.mul.s(10) | t.add.s(5)
    assert isinstance(pipeline, chain) and [s.name for s in pipeline.tasks] == ['tests.add', 'tests.mul', 'tests.add']
    assert repr(pipeline) == 'tests.add(1, 2) | tests.mul(10) | tests.add(5)'


def test_a_chain_with_options_of_its_own_stays_one_step_of_an_outer_chain():
    inner = chain(t.add.s(1, 1), t.mul.s(2)).set(queue='low')
    outer = chain(inner, t.add.s(3))
    assert len(outer.tasks) == 2 and outer.tasks[0].options == {'queue': 'low'}
    assert len(chain(chain(t.add.s(1, 1), t.mul.s(2)), t.add.s(3)).tasks) == 3


def test_a_group_piped_into_a_step_is_a_chord_as_in_celery():
    pipeline = group(t.add.s(1, 1), t.add.s(2, 2)) | t.tsum.s()
    assert isinstance(pipeline, chord) and pipeline.body.name == 'tests.tsum' and len(pipeline.header.tasks) == 2


def test_a_chord_called_with_its_body_later_is_the_same_chord():
    header = chord([t.add.s(1, 1), t.add.s(2, 2)])
    assert header.body is None
    assert repr(chord(header.header, t.tsum.s())) == 'chord(group(tests.add(1, 1), tests.add(2, 2)), tests.tsum())'


@pytest.mark.parametrize('build', [
    lambda: chain([t.add.s(1, 1), t.mul.s(2)]),
    lambda: chain(s for s in [t.add.s(1, 1), t.mul.s(2)]),
    lambda: chain(t.add.s(1, 1), t.mul.s(2)),
])
def test_a_chain_takes_its_steps_as_arguments_a_list_or_a_generator(build):
    assert [s.name for s in build().tasks] == ['tests.add', 'tests.mul']


def test_partial_arguments_go_to_a_chains_first_step_and_every_group_member():
    assert chain(t.add.s(1), t.mul.s(2)).clone((10,)).tasks[0].args == (10, 1)
    assert chain(t.add.s(1), t.mul.s(2)).clone((10,)).tasks[1].args == (2,)
    assert [m.args for m in group(t.add.s(1), t.add.s(2)).clone((10,)).tasks] == [(10, 1), (10, 2)]
    assert [m.args for m in chord([t.add.s(1)], t.tsum.s()).clone((10,)).header.tasks] == [(10, 1)]


def test_a_canvas_finds_its_app_through_its_members():
    assert chain(t.add.s(1, 1)).app is t.app and group(t.add.s(1, 1)).app is t.app


# -- a signature's trip through JSON ----------------------------------------------------------

@pytest.mark.parametrize('build', [
    lambda: t.add.s(1, 2).set(queue='low', countdown=3),
    lambda: t.add.si(1, 2),
    lambda: chain(t.add.s(1, 2), t.mul.s(10)).set(priority=4),
    lambda: group(t.add.s(i, i) for i in range(3)),
    lambda: chord([t.add.s(1, 1), t.add.s(2, 2)], t.tsum.s()),
    lambda: chain(t.add.s(1, 1), group(t.mul.s(2), t.mul.s(3)), t.tsum.s()),
])
def test_a_canvas_survives_the_trip_through_json_as_a_task_argument(build):
    sig = build()
    back = through_json(sig)
    assert type(back) is type(sig) and back == sig and repr(back) == repr(sig)


def test_links_that_travelled_as_json_are_signatures_again():
    sig = t.add.s(1, 2)
    sig.link(t.mul.s(10))
    sig.link_error(t.note_failure.si('x'))
    back = through_json(sig)
    assert all(isinstance(s, Signature) for s in back.options['link'] + back.options['link_error'])
    assert back.options['link_error'][0].immutable


def test_a_signature_rebuilt_from_json_runs():
    assert through_json(chain(t.add.s(1, 2), t.mul.s(10))).apply().get() == 30


# -- eager runs: .apply() -----------------------------------------------------------------------

def test_an_eager_chain_passes_each_result_on():
    result = chain(t.add.s(1, 2), t.mul.s(10), t.add.s(5)).apply()
    assert isinstance(result, EagerResult) and result.get() == 35 and result.successful()


def test_an_eager_chain_stops_at_its_first_failure_and_returns_it():
    result = chain(t.add.s(1, 1), t.fail.s(), t.mul.s(2)).apply()
    assert result.failed() and isinstance(result.result, ValueError) and str(result.result) == 'broken: 2'
    with pytest.raises(ValueError, match='broken: 2'):
        result.get()


def test_an_eager_group_lists_its_members_results_in_order():
    result = group(t.add.s(i, i) for i in range(4)).apply()
    assert isinstance(result, GroupResult) and result.get() == [0, 2, 4, 6]
    assert result.ready() and result.successful() and result.completed_count() == 4


def test_an_eager_chord_gives_its_body_the_list_and_stops_at_a_failed_member():
    assert chord([t.add.s(i, i) for i in range(3)], t.tsum.s()).apply().get() == 6
    failed = chord([t.add.s(1, 1), t.fail.s(7)], t.tsum.s()).apply()
    assert failed.failed() and str(failed.result) == 'broken: 7'


def test_an_eager_immutable_step_ignores_the_previous_result():
    assert chain(t.add.s(1, 1), t.mul.si(3, 4)).apply().get() == 12


def test_eager_partial_arguments_reach_the_first_step():
    assert chain(t.add.s(1), t.mul.s(10)).apply((4,)).get() == 50
