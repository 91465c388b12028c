"""Celery's task.chunks(items, n): many small calls in fewer jobs.

    add.chunks(zip(range(100), range(100)), 10).apply_async().get()   # 10 lists of 10 sums

Each chunk is one job of the built-in task STARMAP, which calls the task's function once per
argument tuple, in order, in that job (as Celery's celery.starmap does: a direct call, so its
value is the list of theirs). The chunks form a group: they run side by side, fit in a chain or
a chord, and .get() lists their lists. A chunk is one job: one call that raises fails the chunk,
and a retry of the chunk runs all its calls again.
"""
from .canvas import Signature, group
from .errors import CanvasError, TaskArgumentError

STARMAP = 'localq.starmap'


def declare_starmap(app):
    """Every app has STARMAP, so a worker can run chunks of any task it has."""

    def starmap(task_name, arguments):
        task = app.tasks.get(task_name)
        if task is None:
            raise TaskArgumentError('a chunk of %r: this worker has no task of that name' % task_name)
        return [task(*args) for args in arguments]

    starmap.__qualname__ = starmap.__name__ = 'starmap'
    app.task(name=STARMAP)(starmap)


class chunks(group):
    """task.chunks(items, n): items (argument tuples) cut into groups of n calls, one job each."""

    def __init__(self, task, items, n):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise CanvasError('chunks(items, n): n is the number of calls per job, an int >= 1; got %r' % (n,))
        calls = [tuple(item) for item in items]
        for args in calls:   # a call that cannot bind fails here, in the caller, before anything is queued
            task.check_call(args, {})
        batches = [[list(args) for args in calls[i:i + n]] for i in range(0, len(calls), n)]
        super().__init__([Signature(STARMAP, (task.name, batch), app=task.app) for batch in batches])

    def group(self):
        """Celery's chunks.group(): the same jobs as a plain group."""
        return group(self.tasks)

    def skew(self, start=1.0, stop=None, step=1.0):
        """Celery's skew(): the chunks start `step` seconds apart from `start` (up to `stop`)."""
        members = []
        for i, member in enumerate(self.tasks):
            countdown = start + i * step
            if stop is not None:
                countdown = min(countdown, stop)
            members.append(member.clone(countdown=countdown))
        return group(members)
