"""Replaying a recorded job here, to see or debug what it does (`localq replay JOB_ID`).

On a laptop the worker, the data and the editor are on one machine: a failed job's task runs
again in this process with the arguments its row recorded (as the worker got them, not the
dashboard's masked copy), once, with no retry, and as a direct run (`request.is_eager`, as
`task.apply()` does), so it writes no job row: progress updates and the outcome stay here.
`--pdb` stops in the debugger where it raises. `export()` is the job as one JSON document to
keep or share: the arguments, every attempt with its traceback, the task's options, versions.
"""
import dataclasses
import importlib.metadata
import json
import pdb
import platform
import sys
import traceback

from .errors import JobNotFound, NotRegistered, Retry
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
