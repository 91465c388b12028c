"""The classroom lab: each pattern of the course material as a scenario run on real workers.

A scenario (scenarios.py) starts its own `localq worker` processes on its own
queue (lab.<name>), queues real jobs, and reads back what happened from the
job and attempt rows: `observe()` returns the figures, sentences and tables
that the lab page and `localq lab <name>` both show. Nothing is simulated
except the remote services the tasks pretend to call.
"""
import contextlib
import dataclasses
import json
import threading
import time

from ..errors import LocalqError
from .models import MODELS, LabAlert, LabOrder, LabRun
from .pool import WorkerPool


class LabError(LocalqError):
    """A lab request that cannot be done: a bad parameter, an action at the wrong time."""


class UnknownScenario(LabError, KeyError):
    def __init__(self, name, known):
        super().__init__(name)
        self.name, self.known = name, known

    def __str__(self):
        return 'no lab scenario %r; known: %s' % (self.name, ', '.join(self.known))


@dataclasses.dataclass
class Observation:
    """What a scenario shows at one moment, read from the database."""
    done: bool
    data: dict                                   # the figures it demonstrates (tests read these)
    lines: list                                  # sentences a person reads
    tables: list = dataclasses.field(default_factory=list)   # (title, columns, rows)
    series: list = dataclasses.field(default_factory=list)   # (title, unit, {name: [(x, y), ...]})


JOB_COLUMNS = ('id', 'task', 'queue', 'state', 'args', 'kwargs', 'result', 'meta', 'error_type',
               'error_message', 'queued_at', 'started_at', 'finished_at', 'worker', 'attempts', 'message')


class RunContext:
    """What a scenario's code works with during one run: its queues, workers, jobs and notes."""

    def __init__(self, lab, scenario, run):
        self.lab, self.scenario, self.run = lab, scenario, run
        self.app = lab.app
        self.cancelled = threading.Event()
        self._local = threading.local()   # a page refresh's snapshot; the runner thread has its own

    @property
    def params(self):
        return json.loads(self.run.params)

    def queue(self, sub=None):
        return 'lab.%s%s' % (self.scenario.name, '.' + sub if sub else '')

    # -- workers --------------------------------------------------------------
    def start_worker(self, queues=None, concurrency=1, pool='thread', max_tasks=None):
        return self.lab.pool.start('lab-' + self.scenario.name, queues or [self.queue()],
                                   concurrency=concurrency, pool=pool, max_tasks=max_tasks)

    def workers(self):
        return self.lab.pool.alive('lab-' + self.scenario.name)

    def wait_online(self, names, timeout=30.0):
        """Wait until these workers have registered (their consumer runs and can claim)."""
        storage = self.app.huey.storage
        marks = ','.join('?' * len(names))
        self.wait_until(lambda: storage.sql(
            'SELECT COUNT(*) FROM worker WHERE id IN (%s) AND stopped_at IS NULL AND started_at >= ?' % marks,
            tuple(names) + (self.run.started_at - 1,)).fetchone()[0] == len(names),
            timeout, 'workers %s to start (see %s/lab/<name>.log)' % (', '.join(names), self.app.config.data_dir))

    def wait_until(self, predicate, timeout=60.0, what='the scenario', every=0.05):
        """Poll rows written by other processes until `predicate()` is true (or cancelled)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.cancelled.is_set():
                raise Cancelled()
            if time.monotonic() > deadline:
                raise LocalqError('timed out after %ss waiting for %s' % (timeout, what))
            self.cancelled.wait(every)

    # -- jobs -----------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self):
        """Inside it, jobs() and attempts() read each queue once: an observation (and a page
        refresh asking the scenario, the timeline and the charts) sees one moment's rows. Without
        it, an observation found the jobs unfinished in one read and finished in the next, and
        reported "done" with the results of neither. Nested uses share the outer snapshot."""
        if getattr(self._local, 'memo', None) is not None:
            yield self
            return
        self._local.memo = {}
        try:
            yield self
        finally:
            self._local.memo = None

    def _memoized(self, key, read):
        memo = getattr(self._local, 'memo', None)
        if memo is None:
            return read()
        if key not in memo:
            memo[key] = read()
        return memo[key]

    def enqueue(self, task_name, *args, sub=None, **kwargs):
        return self.app.tasks[task_name].apply_async(args, kwargs, queue=self.queue(sub))

    def jobs(self, sub=None):
        """This scenario's job rows, oldest first, with JSON columns decoded."""
        return self._memoized(('jobs', sub), lambda: self._read_jobs(sub))

    def _read_jobs(self, sub):
        sql, params = self.lab.queue_filter(self.scenario.name, sub)
        rows = self.app.huey.storage.sql('SELECT %s FROM job WHERE %s ORDER BY queued_at, id' % (
            ', '.join(JOB_COLUMNS), sql), params).fetchall()
        jobs = []
        for row in rows:
            job = dict(zip(JOB_COLUMNS, row))
            for key in ('args', 'kwargs', 'result', 'meta'):
                job[key] = json.loads(job[key]) if job[key] else None
            job['size'] = len(job.pop('message') or '')
            jobs.append(job)
        return jobs

    def attempts(self, sub=None):
        """{job id: [attempt dicts in order]} for this scenario's jobs."""
        return self._memoized(('attempts', sub), lambda: self._read_attempts(sub))

    def _read_attempts(self, sub):
        sql, params = self.lab.queue_filter(self.scenario.name, sub)
        rows = self.app.huey.storage.sql(
            'SELECT job_id, number, worker, started_at, finished_at, outcome, error_type, error_message '
            'FROM attempt WHERE job_id IN (SELECT id FROM job WHERE %s) ORDER BY job_id, number' % sql,
            params).fetchall()
        out = {}
        for job_id, number, worker, started, finished, outcome, etype, emsg in rows:
            out.setdefault(job_id, []).append({'number': number, 'worker': worker, 'started_at': started,
                                               'finished_at': finished, 'outcome': outcome,
                                               'error_type': etype, 'error_message': emsg})
        return out

    # -- notes: figures the runner measured itself (not in job rows) ----------
    @property
    def notes(self):
        row = LabRun.get_or_none(LabRun.id == self.run.id)   # None: cleared by a new run or a reset
        return json.loads(row.notes) if row is not None else {}

    def note(self, **values):
        """Merge values into the run's notes. The runner thread and a button's request both write
        them: the row is locked first (SQLite's write transaction locks it; PostgreSQL needs FOR
        UPDATE, else one of two concurrent merges is lost)."""
        storage = self.app.huey.storage
        with self.app.write_transaction():
            row = storage.sql('SELECT notes FROM lab_run WHERE id = ?%s' % ('' if storage.is_sqlite else ' FOR UPDATE'),
                              (self.run.id,)).fetchone()
            if row is None:
                raise Cancelled()
            notes = json.loads(row[0])
            notes.update(values)
            storage.sql('UPDATE lab_run SET notes = ? WHERE id = ?', (json.dumps(notes), self.run.id))

    def mark_done(self):
        LabRun.update(done_at=time.time()).where(LabRun.id == self.run.id, LabRun.done_at.is_null()).execute()


class Cancelled(Exception):
    """The run was cleared or reset while its runner waited."""


class Lab:
    """The lab of one LocalQ app (the default app, which declares the demo tasks)."""

    def __init__(self, app, app_spec='localq.tasks:app'):
        from . import scenarios
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
    def start(self, name, background=True, **params):
        """Clear the scenario's last run, then start a new one; returns its RunContext."""
        scenario = self.scenario(name)
        params = scenario.check_params(params)
        self.clear(name)
        run = LabRun.create(scenario=name, started_at=time.time(), params=json.dumps(params))
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
        storage = self.app.huey.storage
        with self.app.write_transaction():
            storage.sql('DELETE FROM attempt WHERE job_id IN (SELECT id FROM job WHERE %s)' % sql, params)
            storage.sql('DELETE FROM job WHERE %s' % sql, params)
            storage.sql('DELETE FROM worker WHERE id LIKE ?', ('lab-%s-%%' % name,))
            storage.sql('DELETE FROM queue_pause WHERE name = ? OR name LIKE ?', params)
            LabRun.delete().where(LabRun.scenario == name).execute()
            self.scenario(name).clear(self)

    def reset(self):
        """Back to a clean lab without restarting the app: every run, worker, job and row."""
        for name in self.scenarios:
            self.clear(name)
        with self.app.write_transaction():
            self.app.huey.storage.sql('DELETE FROM rate_slot WHERE key LIKE ?', ('task:lab.%',))
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
