"""Filtered job lists with keyset paging: fast on page 1 and page 20,000 alike.

Each state tab is sorted the way its rows are naturally indexed, so a page is
an index range, never a sort of a million rows:

    all jobs          newest queued first     index job_queued_at (queued_at)
    one task          newest queued first     index job_task_queued_at (task, queued_at)
    PENDING, RETRY    next to run first       partial index job_claim (priority DESC, eta, queue)
    STARTED           newest started first    partial index job_active (few rows)
    WAITING           newest queued first     partial index job_waiting (workflow members)
    SUCCESS, ...      newest finished first   partial index job_finished (state, finished_at, queue)

A page's cursor is the sort key of its last row; the next page is "rows after
that key", which the database finds by seeking, not by counting an OFFSET.
"""
import base64
import binascii
import dataclasses
import functools
import json
import math
import operator

import peewee as pw
from peewee import SQL

from .. import states
from ..db import database, is_sqlite
from ..errors import LocalqError
from ..models import Job
from ..textindex import text_condition

RUNNING = 'STARTED'  # the tab of every running state, custom ones included

ORDERS = {
    None: ((Job.queued_at, True), (Job.id, True)),
    states.PENDING: ((Job.priority, True), (Job.eta, False), (Job.id, False)),
    states.RETRY: ((Job.priority, True), (Job.eta, False), (Job.id, False)),
    states.WAITING: ((Job.queued_at, True), (Job.id, True)),
    RUNNING: ((Job.started_at, True), (Job.id, True)),
    states.SUCCESS: ((Job.finished_at, True), (Job.id, True)),
    states.FAILURE: ((Job.finished_at, True), (Job.id, True)),
    states.REVOKED: ((Job.finished_at, True), (Job.id, True)),
}

# What a list row needs: no message, no traceback (/api/task/info/<id> has those).
LIST_COLUMNS = (Job.id, Job.task, Job.queue, Job.priority, Job.state, Job.args, Job.kwargs, Job.meta,
                Job.root_id, Job.parent_id, Job.group_id, Job.group_index, Job.waits_for,
                Job.result, Job.error_type, Job.error_message, Job.attempts, Job.max_retries, Job.acks_late,
                Job.queued_at, Job.eta, Job.started_at, Job.finished_at, Job.worker, Job.wait_reason)


# The query-string parameters of the jobs list and /api/tasks (taskname: Flower's name for task).
PARAMETERS = ('state', 'task', 'taskname', 'queue', 'q', 'group', 'cursor', 'limit', 'partial')


class BadFilter(LocalqError):
    """A filter or cursor that cannot be applied (shown to the user as a 400)."""


@dataclasses.dataclass(frozen=True)
class JobFilter:
    """What the jobs list shows: a state tab plus task, queue, free text and error group."""
    state: str | None = None
    task: str | None = None
    queue: str | None = None
    text: str | None = None
    group: str | None = None     # the failures of one error group (errorgroups.py)

    @classmethod
    def from_args(cls, args, running_states=()):
        """From query-string arguments (?state=&task=&queue=&q=); blanks mean "any". An unknown
        parameter or state, or an overlong value, is a BadFilter naming what is allowed.
        running_states: the custom progress states (PROCESSING, ...) jobs report now."""
        unknown = sorted(set(args) - set(PARAMETERS))
        if unknown:
            raise BadFilter('unknown parameter(s) %s; allowed: %s' % (', '.join(unknown), ', '.join(PARAMETERS)))

        def get(name):
            value = (args.get(name) or '').strip()
            if len(value) > 200:
                raise BadFilter('%s is longer than 200 characters' % name)
            return value or None
        state = get('state')
        if state is not None and state not in ORDERS:
            if state not in states.BUILTIN and state not in set(running_states):
                raise BadFilter('unknown state %r; states: %s%s' % (
                    state, ', '.join(states.BUILTIN), ''.join(', ' + s for s in sorted(running_states))))
            state = RUNNING   # a custom progress state (PROCESSING) lives in the STARTED tab
        return cls(state=state, task=get('task') or get('taskname'), queue=get('queue'), text=get('q'),
                   group=get('group'))

    def as_args(self):
        """The query-string arguments that reproduce this filter."""
        return {k: v for k, v in (('state', self.state), ('task', self.task), ('queue', self.queue),
                                  ('q', self.text), ('group', self.group)) if v}

    def is_empty(self):
        return not self.as_args()

    def where(self):
        """The filter as a list of Peewee conditions on Job."""
        conds = []
        if self.state == RUNNING:
            conds.append(SQL(states.SQL_RUNNING))
        elif self.state in states.READY_TO_CLAIM:
            # The literal claimable predicate lets SQLite use the partial index job_claim.
            conds += [SQL(states.SQL_CLAIMABLE), Job.state == self.state]
        elif self.state in states.TERMINAL:
            # Said outright, so that the partial index of finished jobs (job_finished) serves the tab.
            conds += [Job.state == self.state, Job.finished_at.is_null(False)]
        elif self.state == states.WAITING:
            conds.append(SQL("state = 'WAITING'"))   # literal, as job_waiting's predicate: its few rows
        elif self.state:
            conds.append(Job.state == self.state)
        if self.task:
            conds.append(Job.task == self.task)
        if self.queue:
            conds.append(Job.queue == self.queue)
        if self.group:
            conds.append(Job.error_group == self.group)
        if self.text:
            indexed = text_condition(database.obj, self.text)
            if indexed is not None:   # textindex.py: a trigram index, not a scan
                conds.append(id_prefix(self.text) | indexed)
            else:
                # contains() escapes % and _ and is case-insensitive on SQLite and PostgreSQL.
                conds.append(Job.id.startswith(self.text) | Job.args.contains(self.text) |
                             Job.kwargs.contains(self.text) | Job.error_message.contains(self.text) |
                             Job.error_type.contains(self.text))
        return conds

    def select(self, *columns):
        query = Job.select(*columns)
        if self.state in (RUNNING, states.WAITING) + states.READY_TO_CLAIM and is_sqlite(database.obj):
            # SQLite would rather walk every job in the tab's order than take these few rows and sort them.
            index = {RUNNING: 'job_active', states.WAITING: 'job_waiting'}.get(self.state, 'job_claim')
            query = query.from_(SQL('"job" AS "t1" INDEXED BY %s' % index))
        for cond in self.where():
            query = query.where(cond)
        return query


def id_prefix(text):
    """Job ids starting with text, as a range of the primary key (LIKE 'x%' is case-insensitive
    on SQLite, so it cannot use the index; ids are lowercase)."""
    low = text.lower()
    return (Job.id >= low) & (Job.id < low[:-1] + chr(ord(low[-1]) + 1))


def encode_cursor(values):
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip('=')


MAX_CURSOR = 400   # characters; a real one is under 150


def decode_cursor(text, order):
    """The sort key a page link carries, checked as a whole before it reaches SQL: a flat list of
    one value per sort column, each of that column's type; BadFilter (a 400) otherwise."""
    damaged = BadFilter('this page link is damaged; start again from the first page')
    if not isinstance(text, str) or len(text) > MAX_CURSOR:
        raise damaged
    try:
        values = json.loads(base64.urlsafe_b64decode(text + '=' * (-len(text) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise damaged from None
    if not isinstance(values, list) or len(values) != len(order):
        raise BadFilter('this page link does not fit this list; start again from the first page')
    for value, (field, _) in zip(values, order):
        if isinstance(field, (pw.CharField, pw.TextField)):
            ok = isinstance(value, str) and len(value) <= 200
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok:
            raise damaged
    return values


def _after(order, cursor):
    """Rows strictly after `cursor` in `order`, with a plain range on the first key for the index."""
    branches = []
    for i, (field, desc) in enumerate(order):
        cond = field < cursor[i] if desc else field > cursor[i]
        for (prev, _), value in zip(order[:i], cursor[:i]):
            cond = (prev == value) & cond
        branches.append(cond)
    first, desc = order[0]
    seek = first <= cursor[0] if desc else first >= cursor[0]
    return seek & functools.reduce(operator.or_, branches)


@dataclasses.dataclass
class Page:
    rows: list
    next_cursor: str | None


def page_jobs(job_filter, cursor=None, limit=50):
    """One page of jobs matching the filter, in its tab's order, and the cursor of the next page."""
    order = ORDERS[job_filter.state]
    query = job_filter.select(*LIST_COLUMNS)
    if cursor:
        query = query.where(_after(order, decode_cursor(cursor, order)))
    query = query.order_by(*[f.desc() if desc else f.asc() for f, desc in order]).limit(limit + 1)
    rows = list(query)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, f.name) for f, _ in order])
    return Page(rows=rows, next_cursor=next_cursor)


def matching_ids(job_filter, states_allowed, batch=500):
    """Ids of jobs matching the filter and in one of states_allowed, in batches (for bulk actions)."""
    last = None
    while True:
        query = job_filter.select(Job.id).where(Job.state.in_(list(states_allowed)))
        if last is not None:
            query = query.where(Job.id > last)
        ids = [i for i, in query.order_by(Job.id).limit(batch).tuples()]
        if not ids:
            return
        yield ids
        last = ids[-1]
