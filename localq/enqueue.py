"""Enqueue: one call of a task becomes one Job row (and wakes this process's idle workers).

Every way in comes here (Task.apply_async, send_task, every canvas member, an errback), so every
caller's call and options get the same checks, in the caller: a bad argument, option or task
name raises here, before anything is written. The row is handed to the storage explicitly
(storage.JobRow): what Huey's message says, and what it has no field for (the queue, the
idempotency key, a workflow member's links).
"""
import json
import re
import time

import peewee

from . import lifecycle
from .errors import InvalidCallOptions, LocalqError, NotRegistered, TaskArgumentError
from .localhuey import message_by_name
from .options import check_call_options, concurrency_key
from .results import AsyncResult
from .serializer import MAX_DEPTH, check_depth
from .storage import HUEY_PREFIX, JobRow, to_epoch

TASK_NAME = re.compile(r'^[\w.:-]{1,200}$')


def enqueue_call(app, name, args=None, kwargs=None, options=None, workflow=None, member=None, checked=False):
    """Queue one call of the task `name`, declared in this process or not; returns its AsyncResult.

    Every way in comes here (Task.apply_async, send_task, a canvas), so every caller's
    call and options get the same checks. workflow/member: a canvas member's message
    marker and row columns (canvas.py)."""
    options = check_call_options({k: v for k, v in (options or {}).items() if k != 'link_error'})
    if not isinstance(name, str) or not TASK_NAME.match(name):
        raise InvalidCallOptions('a task name is 1-200 letters, digits, "_", "-", ".", ":", got %r' % (name,))
    if not isinstance(args, (list, tuple, type(None))) or not isinstance(kwargs, (dict, type(None))):
        raise TaskArgumentError('%s: args must be a list or tuple and kwargs a dict' % name)
    args, kwargs = tuple(args or ()), dict(kwargs or {})
    if not all(isinstance(k, str) for k in kwargs):
        raise TaskArgumentError('kwargs of %s must be a dict with str keys' % name)
    check_depth([args, kwargs], 'a call of %s' % name, MAX_DEPTH + 1)
    task = app.tasks.get(name)
    if task is not None and not checked:
        task.check_call(args, kwargs)
    if options['queue'] is None and (task is None or task.options.queue is None) and app.router.routers:
        # task_routes come after the call's and the task's own queue, as in Celery.
        for key, value in app.router.route(name, args, kwargs, options, task=task).items():
            if options[key] is None:
                options[key] = value
    call = dict(task_id=options.get('task_id'), countdown=options.get('countdown'), eta=options.get('eta'),
                expires=options.get('expires'), priority=options.get('priority'))
    if task is None:
        if app.huey.immediate:
            raise NotRegistered('%s is not declared in this process; immediate mode runs tasks here' % name)
        message = message_by_name(name, args, kwargs, **call)
        data = app.huey.serializer.dump_message(message, workflow)
    else:
        message = task.make_huey_task(args, kwargs, **call)
        message.workflow = workflow
        if app.huey.immediate:
            app.huey.enqueue(message)   # runs it here; the tracker still writes its row
            return AsyncResult(message.id, app=app)
        message.resolve_expires(True)
        data = app.huey.serialize_task(message)
    if len(data) > app.config.max_message_mb * 1024 * 1024:
        raise TaskArgumentError('a call of %s makes a %.1f MiB message, over max_message_mb (%s): pass a path or '
                                'an id instead of the data itself' % (name, len(data) / 1048576.0,
                                                                      app.config.max_message_mb))
    # The row, explicitly: what the message says, and what it has no field for.
    row = JobRow(id=message.id, task=name, message=data.decode('utf-8'), args=json.dumps(list(args)),
                 kwargs=json.dumps(kwargs), eta=to_epoch(message.eta) if message.eta else time.time(),
                 priority=int(message.priority or 0), expires_at=to_epoch(message.expires_resolved),
                 queue=options.get('queue'), idempotency_key=options.get('idempotency_key'), **(member or {}))
    if task is not None and task.options.concurrency_key is not None:
        row.concurrency_key = concurrency_key(task.options, task.param_names(), args, kwargs)
        row.concurrency_limit = task.options.concurrency_limit
    route = app.routes.get(HUEY_PREFIX + name)
    if row.idempotency_key is None:
        app.huey.storage.insert(row, route)
    else:
        existing = enqueue_once(app, row, route)
        if existing is not None:
            return AsyncResult(existing, app=app)
    app.wake_workers()
    return AsyncResult(row.id, app=app)

def enqueue_once(app, row, route):
    """Queue unless a job holds this idempotency key; return that job's id if one does.

    A REVOKED job gives its key up, so the work can be asked for again.
    The unique index decides races between processes; the savepoint
    keeps a caller's own transaction usable after the losing insert."""
    for _ in range(3):
        try:
            with app.write_transaction():
                lifecycle.give_up_key(app.query, row.idempotency_key)
                app.huey.storage.insert(row, route)
            return None
        except peewee.IntegrityError:
            existing = app.job_id_for_key(row.idempotency_key)
            if existing is not None:
                return existing
    raise LocalqError('could not queue with idempotency key %r: it keeps changing hands' % row.idempotency_key)
