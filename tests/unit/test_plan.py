"""The canvas planner on its own: how chains, groups, chords and links become members with
parents, groups and errbacks (plan.plan_workflow), before any row is written. Celery's canvas
guide is the reference: a chain's step gets the previous result first, a group's members run side
by side, a chord's body gets the list of the header's results, .si() takes no result."""
import pytest

from localq import CanvasError, TaskArgumentError
from localq.canvas import Signature, chain, chord, group, signature
from localq.plan import check_errback, errback_call, member_columns, member_marker, plan_workflow


@pytest.fixture
def t():
    from tests import sample_tasks
    return sample_tasks


def test_a_chain_waits_step_by_step_and_ends_at_its_last_step(t):
    plan, tail = plan_workflow(chain(t.add.s(1, 2), t.mul.s(10), t.add.s(5)))
    first, second, third = plan.members
    assert (first.parent_id, first.waits_for) == (None, 0)
    assert (second.parent_id, second.waits_for) == (first.id, 1)
    assert (third.parent_id, third.waits_for) == (second.id, 1)
    assert tail == ('job', third.id) and plan.root == first.id
    assert [m.dependents for m in plan.members] == [True, True, False]
    assert [member_columns(m, plan.root)['state'] for m in plan.members] == ['PENDING', 'WAITING', 'WAITING']


def test_an_immutable_step_waits_for_its_parent_but_takes_no_result(t):
    plan, _ = plan_workflow(chain(t.add.s(1, 2), t.now.si('tag')))
    step = plan.members[1]
    assert step.waits_for == 1 and step.sig.immutable and step.given == ()
    assert member_marker(step, plan.root)['immutable'] is True


def test_a_group_puts_its_members_side_by_side_and_is_rooted_at_the_group(t):
    plan, tail = plan_workflow(group(t.add.s(i, i) for i in range(3)))
    assert tail[0] == 'group' and tail[2] == 3 and plan.root == tail[1]
    assert [(m.group_id, m.group_index, m.waits_for) for m in plan.members] == [(tail[1], i, 0) for i in range(3)]


def test_a_chord_body_waits_for_every_member_of_its_header(t):
    plan, tail = plan_workflow(chord([t.add.s(i, i) for i in range(4)], t.tsum.s()))
    header, body = plan.members[:4], plan.members[4]
    assert body.parent_id == header[0].group_id and body.waits_for == 4
    assert all(m.dependents for m in header) and tail == ('job', body.id)


def test_a_chord_with_an_empty_header_starts_its_body_at_once_with_an_empty_list(t):
    plan, _ = plan_workflow(chord([], t.tsum.s()))
    (body,) = plan.members
    assert body.waits_for == 0 and body.given == ([],)
    assert member_columns(body, plan.root)['state'] == 'PENDING'


def test_options_of_a_chain_pass_to_its_steps_but_a_countdown_only_to_the_first(t):
    plan, _ = plan_workflow(chain(t.add.s(1, 2), t.mul.s(3)).set(queue='low', countdown=5))
    first, second = plan.members
    assert first.options['queue'] == second.options['queue'] == 'low'
    assert first.options.get('countdown') == 5 and 'countdown' not in second.options


def test_a_steps_own_options_win_over_the_chains(t):
    plan, _ = plan_workflow(chain(t.add.s(1, 2).set(queue='high'), t.mul.s(3)).set(queue='low'))
    assert [m.options['queue'] for m in plan.members] == ['high', 'low']


def test_errbacks_of_a_chain_reach_every_step_and_add_to_a_steps_own(t):
    record = t.add.si(0, 0)
    own = t.mul.si(0, 0)
    plan, _ = plan_workflow(chain(t.add.s(1, 2).on_error(own), t.mul.s(3)).on_error(record))
    first, second = plan.members
    assert [e.name for e in first.errbacks] == ['tests.add', 'tests.mul']   # the chain's, then its own
    assert [e.name for e in second.errbacks] == ['tests.add']


def test_a_link_runs_after_the_tail_of_what_it_is_linked_to(t):
    sig = chain(t.add.s(1, 2), t.mul.s(3))
    sig.link(t.add.s(100))
    plan, tail = plan_workflow(sig)
    callback = plan.members[-1]
    assert callback.sig.name == 'tests.add' and callback.parent_id == plan.members[1].id
    assert tail == ('job', plan.members[1].id)   # the link is not the result of the chain


@pytest.mark.parametrize('build, says', [
    (lambda t: chain(), 'empty chain'),
    (lambda t: group([chain(t.add.s(1, 1), group([t.mul.s(2), t.mul.s(3)])), t.add.s(3, 3)]),
     'group member must end in one task'),
    (lambda t: chord([t.add.s(1, 1)]), 'needs a body'),
    (lambda t: chain(t.add.s(1, 1).set(task_id='same'), t.mul.s(2).set(task_id='same')), 'used twice'),
])
def test_a_canvas_that_cannot_run_is_refused_before_anything_is_planned(t, build, says):
    with pytest.raises(CanvasError, match=says):
        plan_workflow(build(t))


def test_nested_groups_flatten_into_one_as_in_celery(t):
    plan, tail = plan_workflow(group([group([t.add.s(1, 1), t.add.s(2, 2)]), t.add.s(3, 3)]))
    assert tail[2] == 3 and len({m.group_id for m in plan.members}) == 1


def test_every_member_gets_its_own_id_unless_given_one(t):
    plan, _ = plan_workflow(group([t.add.s(1, 1).set(task_id='mine'), t.add.s(2, 2)]))
    assert plan.members[0].id == 'mine' and plan.members[1].id not in ('mine', None)
    assert isinstance(plan.members[1].sig, Signature)


def test_a_chain_inside_a_group_joins_the_group_by_its_last_step(t):
    plan, tail = plan_workflow(group(chain(t.add.s(1, 1), t.mul.s(2)), t.add.s(3, 3)))
    first, last, other = plan.members
    assert (first.group_id, first.waits_for) == (None, 0)
    assert (last.parent_id, last.waits_for, last.group_id, last.group_index) == (first.id, 1, tail[1], 0)
    assert (other.group_id, other.group_index) == (tail[1], 1)
    assert tail[2] == 2 and first.dependents and not last.dependents


def test_a_group_in_the_middle_of_a_chain_waits_for_the_step_before_and_the_step_after_waits_for_all(t):
    plan, tail = plan_workflow(chain(t.add.s(1, 1), group(t.mul.s(2), t.mul.s(3)), t.tsum.s()))
    step, a, b, after = plan.members
    assert (a.parent_id, a.waits_for, b.parent_id, b.waits_for) == (step.id, 1, step.id, 1)
    assert (after.parent_id, after.waits_for) == (a.group_id, 2)
    assert plan.root == step.id and tail == ('job', after.id)
    assert [m.dependents for m in plan.members] == [True, True, True, False]


def test_a_link_on_a_group_waits_for_every_member(t):
    members = group(t.add.s(1, 1), t.add.s(2, 2))
    members.link(t.tsum.s())
    plan, tail = plan_workflow(members)
    callback = plan.members[-1]
    assert (callback.parent_id, callback.waits_for) == (tail[1], 2) and tail[0] == 'group'


def test_a_chords_countdown_delays_its_header_not_its_body_and_other_options_reach_both(t):
    plan, _ = plan_workflow(chord([t.add.s(1, 1), t.add.s(2, 2)], t.tsum.s()).set(countdown=5, expires=60,
                                                                                 queue='reports'))
    *header, body = plan.members
    assert all(m.options['countdown'] == 5 and m.options['expires'] == 60 for m in header)
    assert 'countdown' not in body.options and 'expires' not in body.options
    assert {m.options['queue'] for m in plan.members} == {'reports'}


def test_a_groups_options_and_errbacks_reach_every_member(t):
    plan, _ = plan_workflow(group(t.add.s(1, 1), t.add.s(2, 2)).on_error(t.note_failure.s()).set(priority=2))
    assert [m.options['priority'] for m in plan.members] == [2, 2]
    assert [[e.name for e in m.errbacks] for m in plan.members] == [['tests.note_failure']] * 2


def test_a_canvas_task_id_names_no_member(t):
    plan, _ = plan_workflow(chain(t.add.s(1, 1), t.mul.s(2)).set(task_id='the-chain'))
    assert 'the-chain' not in [m.id for m in plan.members]


def test_an_empty_chord_with_an_immutable_body_starts_it_with_its_own_arguments(t):
    plan, _ = plan_workflow(chord([], t.tsum.si([1, 2])))
    (body,) = plan.members
    assert body.waits_for == 0 and body.given == ()


def test_the_marker_of_a_member_says_what_a_worker_needs_when_it_finishes(t):
    sig = chain(t.add.s(1, 2).on_error(t.note_failure.s()), t.mul.s(3)).set(countdown=4)
    plan, _ = plan_workflow(sig)
    first, second = plan.members
    assert member_marker(first, plan.root) == {'root': first.id, 'next': True,
                                               'errbacks': [dict(t.note_failure.s())]}
    # A waiting member keeps no countdown of the chain's: only the first step starts later.
    assert member_marker(second, plan.root) == {'root': first.id, 'parent': first.id}


def test_a_waiting_member_with_its_own_countdown_carries_it_for_when_it_is_released(t):
    plan, _ = plan_workflow(chain(t.add.s(1, 2), t.mul.s(3).set(countdown=7)))
    assert member_marker(plan.members[1], plan.root)['countdown'] == 7


def test_the_columns_of_a_group_member(t):
    plan, tail = plan_workflow(group(t.add.s(1, 1), t.add.s(2, 2)))
    assert member_columns(plan.members[1], plan.root) == {'state': 'PENDING', 'root_id': tail[1], 'parent_id': None,
                                                          'group_id': tail[1], 'group_index': 1, 'waits_for': 0}


@pytest.mark.parametrize('errback, failed_id, call', [
    # Celery calls an errback of one argument with the failed job's id, before its own arguments
    (lambda t: t.note_failure.s(tag='x'), 'job-9', (('job-9',), {})),
    # one of three positional parameters with (request, exc, traceback), rebuilt by the worker
    (lambda t: t.on_error.s(), 'job-9', ((), {'errback_of': 'job-9'})),
    # and an immutable one with its own arguments only
    (lambda t: t.note_failure.si('fixed'), 'job-9', (('fixed',), {})),
    # a task this process does not know is called the old way
    (lambda t: signature('elsewhere.errback', args=(1,)), 'job-9', (('job-9', 1), {})),
])
def test_an_errback_is_called_as_celery_calls_it(t, errback, failed_id, call):
    assert errback_call(errback(t), failed_id) == call


def test_an_errback_that_cannot_take_what_it_will_be_given_is_refused_in_the_caller(t):
    with pytest.raises(TaskArgumentError):
        check_errback(t.add.s())           # add(x, y) given only the failed id
    check_errback(t.add.s(1))              # add(failed_id, 1)
    check_errback(t.on_error.s())          # (request, exc, traceback)
    check_errback(signature('elsewhere.errback'))   # unknown here: the worker that has it decides


def test_a_chord_with_an_empty_header_after_a_step_waits_for_that_step_and_takes_the_empty_list(t):
    plan, tail = plan_workflow(chain(t.add.s(1, 2), chord([], t.tsum.s())))
    first, body = plan.members
    assert (body.parent_id, body.waits_for, body.given) == (first.id, 1, ([],))
    assert member_columns(body, plan.root)['state'] == 'WAITING'
    assert member_marker(body, plan.root)['immutable'] is True   # the step's value is not prepended
    assert tail == ('job', body.id) and first.dependents


def test_a_chain_ending_in_an_empty_group_returns_that_empty_group(t):
    plan, tail = plan_workflow(chain(t.add.s(1, 2), group([])))
    (first,) = plan.members
    assert tail[0] == 'empty' and tail[2] == ('job', first.id)
