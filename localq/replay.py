"""Replaying a recorded job here, to see or debug what it does (`localq replay JOB_ID`).

On a laptop the worker, the data and the editor are on one machine: a failed job's task runs
again in this process with the arguments its row recorded (as the worker got them, not the
dashboard's masked copy), once, with no retry, and as a direct run (`request.is_eager`, as
`task.apply()` does), so it writes no job row: progress updates and the outcome stay here.
`--pdb` stops in the debugger where it raises. `--record` instead runs it as one more attempt of
the job itself (`replay_and_record`). `export()` is the job as one JSON document to
keep or share: the arguments, every attempt with its traceback, the task's options, versions.
"""
import dataclasses
import importlib.metadata
import json
import os
import pdb
import platform
import socket
import sys
import threading
import time
import traceback

from . import lifecycle
from .errors import JobNotFound, LocalqError, NotRegistered, Retry
from .leases import renew_held_runs
from .request import ExecutionContext, Request
from .task import run_function


@dataclasses.dataclass
class Replayed:
    job_id: str
    task: str
    value: object = None
    error: BaseException = None     # what the run raised (None: it returned `value`)


def recorded_call(app, job_id):
    """(task, args, kwargs, attempts) of a job as its row recorded them; JobNotFound, NotRegistered."""
    row = app.query.sql('SELECT task, args, kwargs, attempts FROM job WHERE id = ?', (job_id,)).fetchone()
    if row is None:
        raise JobNotFound(job_id)
    name, args, kwargs, attempts = row
    task = app.tasks.get(name)
    if task is None:
        raise NotRegistered('%s (job %s): this app (-A) has no task of that name, so it cannot run it here'
                            % (name, job_id))
    return task, tuple(json.loads(args or '[]')), dict(json.loads(kwargs or '{}')), attempts or 0


def replay(app, job_id, debug=False):
    """Run the job's task once, here; returns a Replayed. debug: pdb.post_mortem where it raises."""
    task, args, kwargs, attempts = recorded_call(app, job_id)
    request = Request(job_id, task.name, args, kwargs, max(0, attempts - 1), is_eager=True)
    context = ExecutionContext(task, request)
    try:
        value = run_function(task.func, ((context,) if task.options.bind else ()) + args, kwargs, eager=True)
    except Exception as exc:   # noqa: BLE001 - whatever the task raises is the answer
        if debug:
            pdb.post_mortem(exc.__traceback__)
        return Replayed(job_id, task.name, error=exc)
    return Replayed(job_id, task.name, value=value)


def replay_and_record(app, job_id, out=sys.stdout):
    """`--record`: one more attempt of the job itself, run here. It is re-queued and claimed by this
    process in one transaction (so no worker takes it first), run through Huey as a worker runs it
    (its lease renewed meanwhile), and its outcome decided and stored by the tracker as any run's:
    an attempt row, the job's new state, a retry if the task asks. Returns the exit code."""
    recorded_call(app, job_id)   # an unknown job or task: said before anything is written
    storage = app.huey.storage
    storage.worker_id = 'replay@%s:%d' % (socket.gethostname(), os.getpid())
    storage.lease_seconds = app.config.lease_timeout
    with app.write_transaction():
        if not lifecycle.requeue(app, [job_id]):
            state = app.query.sql('SELECT state FROM job WHERE id = ?', (job_id,)).fetchone()[0]
            raise LocalqError('job %s is %s: --record runs a failed or revoked job again (without it, replay '
                              'runs any job and writes nothing)' % (job_id, state))
        data = storage.claim_by_id(job_id)
    task = app.huey.deserialize_task(data)
    task.attempt = storage.claimed_attempt(job_id)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew_until, args=(app, storage.worker_id, stop), daemon=True)
    renewer.start()
    try:
        app.huey.execute(task)
    finally:
        stop.set()
        renewer.join()
        storage.flush_deferred()   # a success rides on the next claim, which will not come
    state, result, error_type, error_message, attempts = app.query.sql(
        'SELECT state, result, error_type, error_message, attempts FROM job WHERE id = ?', (job_id,)).fetchone()
    said = 'returned: %s' % result if state == 'SUCCESS' else '%s: %s' % (error_type, error_message)
    print('%s %s attempt %d (recorded): %s, %s' % (task.name, job_id, attempts, state, said), file=out)
    return 0 if state == 'SUCCESS' else 1


def _renew_until(app, worker_id, stop):
    while not stop.wait(app.config.heartbeat_interval):
        renew_held_runs(app, worker_id, time.time())


def describe(replayed, out=sys.stdout):
    """Print the outcome as a person at the terminal wants it; returns the exit code (0: returned)."""
    if replayed.error is None:
        print('%s %s returned: %s' % (replayed.task, replayed.job_id, json.dumps(replayed.value, default=repr)),
              file=out)
        return 0
    error = replayed.error
    if isinstance(error, Retry):
        print('%s %s asked to be retried (self.retry): %s' % (replayed.task, replayed.job_id, error.exc or error),
              file=out)
        return 1
    out.write(''.join(traceback.format_exception(type(error), error, error.__traceback__)))
    print('%s %s raised %s: %s' % (replayed.task, replayed.job_id, type(error).__name__, error), file=out)
    return 1


DEFAULT_APP = 'localq.tasks:app'   # the CLI's default -A (cli.py), what run.py serves


def command_line(app_spec, job_id):
    """The command that replays a job, as its page offers it: with the app's -A when it is not the
    default one (app_spec: how the CLI loaded it; None for an app it did not load)."""
    if app_spec == DEFAULT_APP:
        return 'localq replay %s' % job_id
    return 'localq -A %s replay %s' % (app_spec or 'YOUR_MODULE:app', job_id)


def versions():
    def version(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None
    return {'localq': version('localq'), 'huey': version('huey'), 'python': platform.python_version()}


def task_options(task):
    """The task's options as JSON: exception classes by their dotted names."""
    def plain(value):
        if isinstance(value, type):
            return '%s.%s' % (value.__module__, value.__qualname__)
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value
    return {k: plain(v) for k, v in dataclasses.asdict(task.options).items()}
