"""The classroom lab: each pattern of the course material as a scenario run on real workers.

A scenario (scenarios/, one module each) starts its own `localq worker` processes on its own
queue (lab.<name>), queues real jobs, and reads back what happened from the
job and attempt rows: `observe()` returns the figures, sentences and tables
that the lab page and `localq lab <name>` both show. Nothing is simulated
except the remote services the tasks pretend to call.

A plug-in of localq's default app: `lab.init_app(app)` (in localq/tasks.py) gives it the lab's
tables, setting (lab_speed), pages, `localq lab` command and hidden queues (lab.*).
"""
import importlib
import json
import sys
import threading
import time

from .. import lifecycle
from ..config import Setting
from ..errors import ConfigError, LocalqError
from ..plugins import Command, HiddenQueues, NavLink, Plugin
from .base import Cancelled, LabError, Observation, RunContext, UnknownScenario
from .models import MODELS, LabAlert, LabOrder, LabRun
from .pool import WorkerPool

__all__ = ['Cancelled', 'Lab', 'LabError', 'Observation', 'RunContext', 'UnknownScenario', 'get_lab', 'init_app',
           'is_lab_app', 'shutdown_all', 'LAB_QUEUES', 'PLUGIN']


class Lab:
    """The lab of one LocalQ app (the default app, which declares the demo tasks)."""

    def __init__(self, app, app_spec='localq.lab.scenarios:app'):
        # Its scenarios are loaded by the spec its workers are given (-A), as a worker loads an app:
        # that module declares their tasks on localq's default app, whose module (localq.tasks) adds the lab.
        scenarios = importlib.import_module(app_spec.partition(':')[0])
        self.app = app
        app.setup()
        app.create_tables(MODELS)
        self.pool = WorkerPool(app, app_spec)
        self.scenarios = {s.name: s for s in scenarios.ALL}
        self._runners = {}   # scenario name -> (RunContext, Thread)

    def scenario(self, name):
        if name not in self.scenarios:
            raise UnknownScenario(name, list(self.scenarios))
        return self.scenarios[name]

    @staticmethod
    def queue_filter(name, sub=None):
        queue = 'lab.%s%s' % (name, '.' + sub if sub else '')
        return '(queue = ? OR queue LIKE ?)', (queue, queue + '.%')

    # -- running ----------------------------------------------------------------
    def start(self, name, background=True, speed=None, **params):
        """Clear the scenario's last run, then start a new one; returns its RunContext.

        speed: this run's lab speed (rate limits, Retry-After), the app's lab_speed unless given:
        a teacher sets it on the lesson's page rather than restarting the app."""
        scenario = self.scenario(name)
        params = scenario.check_params(params)
        speed = check_speed(self.app.config.lab_speed if speed in (None, '') else speed)
        self.clear(name)
        run = LabRun.create(scenario=name, started_at=time.time(), params=json.dumps(params),
                            notes=json.dumps({'speed': speed}))
        ctx = RunContext(self, scenario, run)
        database = self.app.database

        def runner():
            try:
                scenario.start(ctx)
                if background:
                    # Once the scenario has shown what it shows, its workers stop
                    # (the table says so) and free their memory.
                    ctx.wait_until(lambda: self.observe(name, ctx).done, 3600, 'the scenario to finish', every=0.5)
                    ctx.mark_done()
                    self.pool.stop_all('lab-' + name)
            except Cancelled:
                pass
            except Exception as exc:  # shown on the page and by the CLI, never swallowed
                ctx.note(error='%s: %s' % (type(exc).__name__, exc))
                ctx.mark_done()
                if not background:
                    raise
                self.pool.stop_all('lab-' + name)   # the run is over: its page must not show them "running"
            finally:
                database.close()   # this thread's connection

        if background:
            thread = threading.Thread(target=runner, name='localq-lab-%s' % name, daemon=True)
            self._runners[name] = (ctx, thread)
            thread.start()
        else:
            self._runners[name] = (ctx, None)
            runner()
        return ctx

    def run(self, name, timeout=900.0, autopilot=True, say=None, **params):
        """Start a scenario and wait until it has shown what it shows (`localq lab` and the tests).

        autopilot presses the scenario's buttons as a teacher would (kill the
        worker, turn the autoscaler on); say(text) hears each new sentence."""
        ctx = self.start(name, **params)
        deadline = time.monotonic() + timeout
        said, next_report = set(), 0.0
        while True:
            obs = self.observe(name)
            if say is not None and (obs.done or time.monotonic() >= next_report):
                next_report = time.monotonic() + 1.0   # a changing count is said once a second
                for line in obs.lines:
                    if line not in said:
                        said.add(line)
                        say(line)
            if obs.done:
                ctx.mark_done()   # before the caller stops the runner that would have
                return obs
            if time.monotonic() > deadline:
                raise LocalqError('scenario %s did not finish within %ss' % (name, timeout))
            if autopilot:
                message = ctx.scenario.autopilot(ctx)
                if message and say is not None:
                    say(message)
            time.sleep(0.25)

    def context(self, name):
        """The RunContext of the scenario's latest run, or None if it never ran."""
        scenario = self.scenario(name)
        runner = self._runners.get(name)
        run = LabRun.get_or_none(LabRun.scenario == name)
        if run is None:
            return None
        if runner is not None and runner[0].run.id == run.id:
            return runner[0]
        return RunContext(self, scenario, run)   # started by another process (e.g. the CLI)

    def observe(self, name, ctx=None):
        ctx = ctx or self.context(name)
        if ctx is None:
            return None
        with ctx.snapshot():
            obs = self.scenario(name).observe(ctx)
        error = ctx.notes.get('error')
        if error:
            obs.lines.insert(0, 'The run stopped with an error: %s' % error)
            obs.done = True
        return obs

    def statuses(self):
        """{scenario: 'not run' | 'running' | 'done' | 'error'} from the run rows alone (the index page)."""
        out = dict.fromkeys(self.scenarios, 'not run')
        for run in LabRun.select(LabRun.scenario, LabRun.done_at, LabRun.notes):
            out[run.scenario] = ('error' if 'error' in json.loads(run.notes) else 'done' if run.done_at
                                 else 'running')
        return out

    def action(self, name, action):
        """A button of the scenario's page (kill a worker, add one, ...); returns a message."""
        ctx = self.context(name)
        if ctx is None:
            raise LabError('run the scenario first')
        return self.scenario(name).act(ctx, action)

    # -- cleaning up --------------------------------------------------------------
    def clear(self, name):
        """Stop a scenario's runner and workers; delete its jobs and rows."""
        runner = self._runners.pop(name, None)
        if runner is not None:
            runner[0].cancelled.set()
            if runner[1] is not None and runner[1] is not threading.current_thread():
                runner[1].join(10)
        self.pool.stop_all('lab-' + name)
        self.pool.forget('lab-' + name)
        sql, params = self.queue_filter(name)
        q = self.app.query
        with self.app.write_transaction():
            lifecycle.delete(self.app, sql, params, lifecycle.CLEAR)   # its workers are stopped: running ones too
            q.sql('DELETE FROM worker WHERE id LIKE ?', ('lab-%s-%%' % name,))
            q.sql('DELETE FROM queue_pause WHERE name = ? OR name LIKE ?', params)
            LabRun.delete().where(LabRun.scenario == name).execute()
            self.scenario(name).clear(self)

    def reset(self):
        """Back to a clean lab without restarting the app: every run, worker, job and row."""
        for name in self.scenarios:
            self.clear(name)
        with self.app.write_transaction():
            self.app.query.sql('DELETE FROM rate_slot WHERE key LIKE ?', ('task:lab.%',))
            LabOrder.delete().execute()
            LabAlert.delete().execute()

    def shutdown(self):
        """Stop every lab worker (the app is exiting)."""
        for ctx, _ in self._runners.values():
            ctx.cancelled.set()
        self.pool.stop_all()
        for _, thread in self._runners.values():
            if thread is not None and thread is not threading.current_thread():
                thread.join(10)
        self.pool.forget()


MAX_SPEED = 100.0   # the rate-limit lesson's 3 minutes in under 2 s: faster shows nothing


def check_speed(value):
    try:
        speed = float(value)
    except (TypeError, ValueError):
        raise LabError('speed=%r: must be a number' % (value,))
    if not 0 < speed <= MAX_SPEED:
        raise LabError('speed=%r: must be above 0 and at most %g' % (value, MAX_SPEED))
    return speed


_labs = {}
_labs_lock = threading.Lock()


def shutdown_all():
    """Stop the workers of every lab this process started, and forget the labs (the app is exiting)."""
    with _labs_lock:
        labs = list(_labs.values())
        _labs.clear()
    for lab in labs:
        lab.shutdown()


def get_lab(app):
    """The process's Lab for this app and database, created on first use."""
    key = (id(app), app.config.resolved_database_url)
    with _labs_lock:
        if key not in _labs:
            _labs[key] = Lab(app)
        return _labs[key]


def is_lab_app(app):
    """Whether the lab can run on this app: localq's default app (localq.tasks:app), on which the
    scenarios declare their tasks. Asked without importing localq.tasks, which would create that app
    and make it the current one in a process that serves another."""
    default = sys.modules.get('localq.tasks')
    return default is not None and getattr(default, 'app', None) is app


# The lab's queues (lab.<scenario>, served only by the lab's own workers), left out of the overview unless asked.
LAB_QUEUES = HiddenQueues('lab', 'lab', 'the classroom lab', 'the lab')

PLUGIN = Plugin(
    'lab',
    settings=(Setting('lab_speed', 1.0, 'Classroom lab: rate limits and Retry-After waits run this many times '
                      'faster.', check=lambda v: v > 0, must='be above 0', owner='lab'),),
    web='localq.lab.web:bp',
    nav=(NavLink('Lab', 'lab.index', ('lab.',)),),
    commands=(Command('lab', 'run a classroom lab scenario here, with a text summary: localq lab retry',
                      'localq.lab.cli'),),
    hidden_queues=LAB_QUEUES,
    on_exit=shutdown_all)   # the lab's worker processes, if the lab page started any


def init_app(app):
    """Give localq's default app the lab (its scenarios declare their tasks on that app)."""
    if not is_lab_app(app):
        raise ConfigError("the lab's tasks are declared on localq's default app (localq.tasks:app) only")
    app.register_plugin(PLUGIN)
    app.register_models(*MODELS)
    return app
