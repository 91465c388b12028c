"""The canvas planner on its own: how chains, groups, chords and links become members with
parents, groups and errbacks (plan.plan_workflow), before any row is written. Celery's canvas
guide is the reference: a chain's step gets the previous result first, a group's members run side
by side, a chord's body gets the list of the header's results, .si() takes no result."""
import pytest

from localq import CanvasError
from localq.canvas import Signature, chain, chord, group
from localq.plan import member_columns, member_marker, plan_workflow


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
