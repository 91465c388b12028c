"""How a canvas becomes Job rows: canvas.py builds the signatures, workflow.py moves the rows.

apply_workflow() plans the whole workflow, then writes one Job row per member in one
transaction: the members that can start are PENDING; the others are WAITING for their
parent job (whose result becomes their first argument, unless made with .si()) or for
their parent group (the list of its results). Signatures reach here normalized (canvas.py:
members and link/link_error options are Signatures), so this module needs no canvas import.
"""
import uuid

from .errors import CanvasError

CHAIN, GROUP, CHORD = 'chain', 'group', 'chord'
EMPTY = 'empty'   # a plan's tail after a group of no tasks
# Options that shape one call; the rest (queue, priority, ...) also pass from a chain or
# group to its members as defaults.
OWN_OPTIONS = ('task_id', 'link', 'link_error')
START_OPTIONS = ('countdown', 'eta', 'expires')   # only for members that start at once


class Member:
    """One job of a workflow, as planned: its call and its links."""

    def __init__(self, sig, after, options):
        self.sig, self.options = sig, options
        self.id = sig.options.get('task_id') or str(uuid.uuid4())
        # What comes after an empty group is given the empty list, its results, and so takes
        # nothing from what the empty group itself came after (it only waits for it).
        after_empty = bool(after) and after[0] == EMPTY
        if after_empty:
            after = after[2]
        kind = after[0] if after else None
        self.parent_id = after[1] if after else None
        self.waits_for = 1 if kind == 'job' else (after[2] if kind == 'group' else 0)
        self.given = ([],) if after_empty and not sig.immutable else ()
        self.immutable = sig.immutable or after_empty   # the parent's value is not prepended
        self.group_id = self.group_index = None
        self.errbacks = list(options.get('link_error', ()))
        self.dependents = False


class Plan:
    def __init__(self):
        self.members, self.by_id, self.root = [], {}, None

    def add(self, sig, after, options):
        member = Member(sig, after, options)
        if member.id in self.by_id:
            raise CanvasError('task_id %r is used twice in one workflow' % member.id)
        self.members.append(member)
        self.by_id[member.id] = member
        if self.root is None:
            self.root = member.id
        return member

    def new_group(self, after):
        gid = str(uuid.uuid4())
        if self.root is None and after is None:
            self.root = gid     # a workflow that starts with a group is rooted at the group
        return gid


def _options(inherited, sig, starts):
    """A member's options: the canvas's as defaults, its own over them; errbacks accumulate."""
    own = {k: v for k, v in sig.options.items() if k not in ('link',)}
    merged = {k: v for k, v in inherited.items() if k not in OWN_OPTIONS and (starts or k not in START_OPTIONS)}
    merged.update(own)
    merged['link_error'] = list(inherited.get('link_error', ())) + list(sig.options.get('link_error', ()))
    return merged


def _plan(sig, after, plan, inherited):
    """Plan sig to run after `after` (None, ('job', id) or ('group', id, size)); returns its tail."""
    kind = sig.subtask_type
    if kind is None:
        member = plan.add(sig, after, _options(inherited, sig, after is None))
        tail = ('job', member.id)
    else:
        options = _options(inherited, sig, True)
        options.pop('task_id', None)
        if kind == CHAIN:
            if not sig.tasks:
                raise CanvasError('an empty chain has nothing to run')
            tail = after
            for step in sig.tasks:
                tail = _plan(step, tail, plan, options if tail is None else
                             {k: v for k, v in options.items() if k not in START_OPTIONS})
        elif kind == GROUP:
            gid = plan.new_group(after)
            for i, t in enumerate(sig.tasks):
                member_tail = _plan(t, after, plan, options)
                if member_tail[0] != 'job':
                    raise CanvasError('a group member must end in one task, not a group: %r (make it a chord)' % t)
                member = plan.by_id[member_tail[1]]
                member.group_id, member.group_index = gid, i
            # An empty group is done when what it comes after is: ('empty', its id, that).
            tail = ('group', gid, len(sig.tasks)) if sig.tasks else (EMPTY, gid, after)
        elif kind == CHORD:
            if sig.body is None:
                raise CanvasError('a chord needs a body: chord(header, body) or chord(header)(body)')
            tail = _plan(sig.body, _plan(sig.header, after, plan, options), plan,
                         {k: v for k, v in options.items() if k not in START_OPTIONS})
        else:
            raise CanvasError('unknown signature type %r' % kind)
    for callback in sig.options.get('link', ()):
        _plan(callback, tail, plan, {k: v for k, v in inherited.items() if k not in START_OPTIONS})
    return tail


def plan_workflow(sig):
    """The members of a canvas, each with its parent, group and errbacks, and the workflow's root."""
    plan = Plan()
    tail = _plan(sig, None, plan, {})
    waited_on = {m.parent_id for m in plan.members if m.parent_id}
    for m in plan.members:
        m.dependents = m.id in waited_on or (m.group_id is not None and m.group_id in waited_on)
    return plan, tail


def apply_workflow(sig):
    """Queue a canvas: every member's row in one transaction; returns the result of its tail."""
    app = sig.app
    plan, tail = plan_workflow(sig)
    for m in plan.members:
        for errback in m.errbacks:
            check_errback(errback)
    if len(plan.members) == 1 and not plan.members[0].dependents and not plan.members[0].errbacks \
            and not plan.members[0].parent_id:
        only = plan.members[0]
        return app.enqueue_call(only.sig.name, only.given + only.sig.args, only.sig.kwargs,
                                dict(only.options, task_id=only.id))
    for m in plan.members:   # arguments that cannot bind fail here, in the caller, before anything is queued
        task = m.sig.type
        if task is not None:
            pending = (None,) if m.waits_for and not m.immutable else ()
            task.check_call(pending + m.given + m.sig.args, m.sig.kwargs)
    with app.write_transaction():
        for m in plan.members:
            app.enqueue_call(m.sig.name, m.given + m.sig.args, m.sig.kwargs, dict(m.options, task_id=m.id),
                             workflow=member_marker(m, plan.root), member=member_columns(m, plan.root), checked=True)
    app.wake_workers()
    if tail[0] in ('group', EMPTY):
        return app.GroupResult(tail[1], [app.AsyncResult(m.id) for m in plan.members if m.group_id == tail[1]])
    return app.AsyncResult(tail[1])


def member_marker(member, root):
    """What a worker needs to know about this member when it finishes (message 'w', serializer.py)."""
    marker = {'root': root, 'parent': member.parent_id, 'group': member.group_id, 'next': member.dependents,
              'errbacks': [dict(e) for e in member.errbacks], 'immutable': member.immutable,
              'countdown': member.options.get('countdown') if member.waits_for else None}
    return {k: v for k, v in marker.items() if v}


def member_columns(member, root):
    return {'state': 'WAITING' if member.waits_for else 'PENDING', 'root_id': root, 'parent_id': member.parent_id,
            'group_id': member.group_id, 'group_index': member.group_index, 'waits_for': member.waits_for}


def errback_call(errback, failed_id):
    """(args, marker) of an errback for the failed job failed_id.

    Celery calls an errback with (request, exc, traceback) when it takes three arguments,
    else with the failed task's id; for the former the worker rebuilds those three from
    the failed job's row when it runs the errback (task.py)."""
    if errback.immutable:   # .si(): called with its own arguments only, as in Celery
        return errback.args, {}
    task = errback.type
    if task is not None and task.positional_parameters() >= 3:
        return errback.args, {'errback_of': failed_id}
    return (failed_id,) + errback.args, {}


def check_errback(errback):
    """Fail in the caller when an errback could not be called with what it will be given."""
    task = errback.type
    if task is not None:
        args, marker = errback_call(errback, None)
        task.check_call(((None, None, None) if marker else ()) + args, errback.kwargs)
