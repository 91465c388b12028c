"""Result handles, as Celery's: AsyncResult (one job, read from its row), GroupResult, EagerResult.

Reading never deletes. A workflow member that never ran because a job it waited for failed
is REVOKED carrying that job's error, and .get() raises that error (as Celery re-raises a
chain's parent error).
"""
import asyncio
import contextlib
import builtins
import json
import sys
import time

from . import states
from .current import current_app
from .errors import JobFailed, ResultTimeout, TaskRevoked

_FIELDS = ('state', 'task', 'meta', 'result', 'error_type', 'error_message', 'traceback', 'parent_id')


def rebuild_exception(job_id, error_type, message, traceback):
    """The task's exception as an instance of its own class, as Celery's .get() raises it: a
    built-in, or a class of a module this process has imported already (localq's errors, your
    tasks module: nothing is imported because a row names it). Else JobFailed, which carries
    the type's name, the message and the traceback."""
    cls = _exception_class(error_type or '')
    try:
        exc = cls(message) if cls is not None else None
    except Exception:   # a constructor that wants other arguments
        exc = None
    if exc is None:
        return JobFailed(job_id, error_type, message, traceback)
    exc.traceback = traceback
    return exc


def _exception_class(name):
    """The Exception subclass called name ('ValueError', 'mytasks.Declined', 'pkg.mod.Outer.Inner')."""
    parts = name.split('.')
    found = getattr(builtins, name, None) if len(parts) == 1 else None
    for cut in range(len(parts) - 1, 0, -1):   # the longest imported module first
        found = sys.modules.get('.'.join(parts[:cut]))
        for attr in parts[cut:]:
            found = getattr(found, attr, None)
        if found is not None:
            break
    return found if isinstance(found, type) and issubclass(found, Exception) else None


def _cause(job_id, job):
    """The exception .get() raises for a job that ended without a result."""
    if job['state'] == states.REVOKED and job['error_type'] in (None, 'localq.errors.Revoked'):
        return TaskRevoked('job %s was revoked%s' % (job_id, ': ' + job['error_message'] if job['error_message']
                                                      else ''))
    return rebuild_exception(job_id, job['error_type'], job['error_message'], job['traceback'])


class AsyncResult:
    """A job's state and result, as Celery's AsyncResult; unknown ids are PENDING."""

    def __init__(self, id, app=None):
        self.id = self.task_id = str(id)
        self.app = app if app is not None else current_app()

    def __repr__(self):
        return '<AsyncResult %s %s>' % (self.id, self.state)

    def __eq__(self, other):
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def _fetch(self):
        row = self.app.query.sql(
            'SELECT %s FROM job WHERE id = ?' % ', '.join(_FIELDS), (self.id,)).fetchone()
        return dict(zip(_FIELDS, row)) if row else None

    @property
    def state(self):
        row = self.app.query.sql('SELECT state FROM job WHERE id = ?', (self.id,)).fetchone()
        return states.celery_state(row[0]) if row else states.PENDING

    status = state

    @property
    def info(self):
        """Progress meta while running, the return value after SUCCESS, the exception after FAILURE."""
        job = self._fetch()
        if job is None:
            return None
        if job['state'] == states.SUCCESS:
            return json.loads(job['result']) if job['result'] is not None else None
        if job['state'] in (states.FAILURE, states.RETRY, states.REVOKED) and job['error_type']:
            return _cause(self.id, job)
        return json.loads(job['meta']) if job['meta'] else None

    result = info

    @property
    def traceback(self):
        job = self._fetch()
        return job['traceback'] if job else None

    @property
    def parent(self):
        """The result this job was given (the previous step of a chain, a chord's header), or None."""
        job = self._fetch()
        if job is None or not job['parent_id']:
            return None
        return GroupResult.restore(job['parent_id'], app=self.app) or AsyncResult(job['parent_id'], app=self.app)

    @property
    def children(self):
        """The results of the jobs this one's result was given to (a chain's next step, link
        callbacks), in the order they were queued; [] if none."""
        ids = [i for i, in self.app.query.sql(
            'SELECT id FROM job WHERE parent_id = ? ORDER BY queued_at', (self.id,))]
        return [AsyncResult(i, app=self.app) for i in ids]

    def ready(self):
        return self.state in states.TERMINAL

    def successful(self):
        return self.state == states.SUCCESS

    def failed(self):
        return self.state == states.FAILURE

    def _message(self, job):
        """Celery's result message body for on_message."""
        state = states.celery_state(job['state'])
        if job['state'] == states.SUCCESS:
            value = json.loads(job['result']) if job['result'] is not None else None
        elif job['state'] in states.TERMINAL:
            value = _cause(self.id, job)
        else:
            value = json.loads(job['meta']) if job['meta'] else None
        return {'task_id': self.id, 'status': state, 'result': value, 'traceback': job['traceback'], 'children': []}

    def _outcome(self, job, propagate):
        if job['state'] == states.SUCCESS:
            return json.loads(job['result']) if job['result'] is not None else None
        if not propagate:
            return self.info
        raise _cause(self.id, job)

    def _timeout(self, timeout, job):
        message = 'job %s not ready after %ss (state %s)' % (
            self.id, timeout, states.celery_state(job['state']) if job else states.PENDING)
        if job and job['state'] in states.READY_TO_CLAIM:
            # The likeliest reason a queued job never started: no running worker has its task.
            note = self.app.missing_task_note(job['task'])
            if note:
                message += '. ' + note
        return ResultTimeout(message)

    def get(self, timeout=None, propagate=True, interval=0.005, on_message=None, **_ignored):
        """Wait for the job to finish; return its value or raise its error. on_message(body), as in
        Celery, is called with each state it is seen in ({'task_id', 'status', 'result'}: a
        progress state's meta, then the value or error)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        seen = None
        while True:
            job = self._fetch()
            if on_message is not None and job is not None and (job['state'], job['meta']) != seen:
                seen = (job['state'], job['meta'])
                on_message(self._message(job))
            if job is not None and job['state'] in states.TERMINAL:
                return self._outcome(job, propagate)
            if deadline is not None and time.monotonic() >= deadline:
                raise self._timeout(timeout, job)
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.1)

    wait = get

    async def aget(self, timeout=None, propagate=True, interval=0.01):
        """get() for async code: waits without blocking the event loop (each read runs in a thread)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        while True:
            job = await asyncio.to_thread(self._fetch_and_close)
            if job is not None and job['state'] in states.TERMINAL:
                return self._outcome(job, propagate)
            if deadline is not None and time.monotonic() >= deadline:
                raise await asyncio.to_thread(self._in_thread_and_close, self._timeout, timeout, job)
            await asyncio.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.1)

    def _fetch_and_close(self):
        return self._in_thread_and_close(self._fetch)

    def _in_thread_and_close(self, read, *args):
        # asyncio.to_thread's pool threads live on: leave no connection behind in them.
        try:
            return read(*args)
        finally:
            self.app.close_thread_connection()

    def revoke(self, terminate=True):
        """Cancel the job: a waiting job never starts; a running one is stopped."""
        return self.app.revoke(self.id)

    def forget(self):
        """Celery API; a no-op: history is kept until retention prunes it."""
        return None


class GroupResult:
    """The results of a group's members, in the order given (Celery's GroupResult)."""

    def __init__(self, id, results, app=None):
        self.id = str(id)
        self.results = list(results)
        self.app = app if app is not None else current_app()

    @classmethod
    def restore(cls, group_id, app=None):
        """The GroupResult of a queued group, from its members' rows; None if there is no such group."""
        app = app if app is not None else current_app()
        ids = [i for i, in app.query.sql(
            'SELECT id FROM job WHERE group_id = ? ORDER BY group_index', (group_id,))]
        return cls(group_id, [AsyncResult(i, app=app) for i in ids], app=app) if ids else None

    def __repr__(self):
        return '<GroupResult %s [%s]>' % (self.id, ', '.join(r.id for r in self.results))

    @property
    def parent(self):
        """The result the group's members were given (the chain step before the group), or None."""
        return self.results[0].parent if self.results else None

    def __iter__(self):
        return iter(self.results)

    def __len__(self):
        return len(self.results)

    def __getitem__(self, index):
        return self.results[index]

    children = property(lambda self: self.results)

    def _states(self):
        eager = [r.state for r in self.results if isinstance(r, EagerResult)]
        if eager:
            return eager
        ids = [r.id for r in self.results]
        found = dict(self.app.query.sql(
            'SELECT id, state FROM job WHERE id IN (%s)' % ','.join('?' * len(ids)), ids).fetchall()) if ids else {}
        return [states.celery_state(found.get(i, states.PENDING)) for i in ids]

    def ready(self):
        return all(s in states.TERMINAL for s in self._states())

    def successful(self):
        return all(s == states.SUCCESS for s in self._states())

    def failed(self):
        return any(s == states.FAILURE for s in self._states())

    def waiting(self):
        return not self.ready()

    def completed_count(self):
        return sum(s == states.SUCCESS for s in self._states())

    def get(self, timeout=None, propagate=True, interval=0.005):
        """Every member's value, in order (raises the first member's error, in order, if propagate)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return [r.get(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()),
                      propagate=propagate, interval=interval) for r in self.results]

    join = get

    def revoke(self, terminate=True):
        """Revoke every member (and so what waits for them)."""
        return [r.revoke() for r in self.results]

    def forget(self):
        return None


class EagerResult:
    """The result of a call run in this process (task.apply(), a canvas's apply())."""

    def __init__(self, id, state, value=None, traceback=None):
        self.id = self.task_id = id
        self.state = self.status = state
        self._value, self.traceback = value, traceback

    def __repr__(self):
        return '<EagerResult %s %s>' % (self.id, self.state)

    @property
    def result(self):
        return self._value

    info = result

    def ready(self):
        return True

    def successful(self):
        return self.state == states.SUCCESS

    def failed(self):
        return self.state == states.FAILURE

    def get(self, timeout=None, propagate=True, **_ignored):
        if self.state == states.FAILURE and propagate:
            raise self._value
        return self._value

    wait = get


@contextlib.contextmanager
def allow_join_result():
    """Celery's allow_join_result(): Celery forbids get() inside a task unless wrapped in it;
    localq never forbids it (a worker thread waits like any caller), so this only lets such
    code run unchanged. Waiting on another job from a task still holds a worker thread."""
    yield
