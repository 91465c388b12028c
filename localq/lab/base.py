"""The lab's shared parts: its errors, what a scenario shows (Observation), what its code works
with during a run (RunContext), the Scenario base class and the helpers scenarios share.

Each scenario (scenarios/<name>.py) subclasses Scenario; the Lab (__init__.py) runs them.
"""
import contextlib
import dataclasses
import json
import statistics
import threading
import time

from ..errors import LocalqError
from ..states import TERMINAL
from .models import LabRun


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
    series: list = dataclasses.field(default_factory=list)   # Chart, each drawn beside the queue's own


@dataclasses.dataclass
class Chart:
    """A line chart: named series of (x, y) points. x is in seconds since the run started unless
    x_unit says otherwise; such charts share the run's time axis, which stops where the run ended."""
    title: str
    unit: str                                    # the left y axis
    series: dict                                 # name -> [(x, y), ...], drawn in this order
    x_unit: str = 's'
    right: tuple = ()                            # names drawn on a right-hand axis of their own
    right_unit: str = ''
    styles: dict = dataclasses.field(default_factory=dict)   # name -> 'band' (wide, pale, drawn under)


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

    @property
    def speed(self):
        """This run's lab speed (Lab.start), which its worker processes run at too."""
        return self.notes.get('speed') or self.app.config.lab_speed

    def queue(self, sub=None):
        return 'lab.%s%s' % (self.scenario.name, '.' + sub if sub else '')

    # -- workers --------------------------------------------------------------
    def start_worker(self, queues=None, concurrency=1, pool='thread', max_tasks=None):
        return self.lab.pool.start('lab-' + self.scenario.name, queues or [self.queue()],
                                   concurrency=concurrency, pool=pool, max_tasks=max_tasks, speed=self.speed)

    def workers(self):
        return self.lab.pool.alive('lab-' + self.scenario.name)

    def wait_online(self, names, timeout=30.0):
        """Wait until these workers have registered (their consumer runs and can claim)."""
        storage = self.app.query
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
        rows = self.app.query.sql('SELECT %s FROM job WHERE %s ORDER BY queued_at, id' % (
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
        rows = self.app.query.sql(
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
        storage = self.app.query
        with self.app.write_transaction():
            row = storage.sql('SELECT notes FROM lab_run WHERE id = ?%s' % ('' if storage.is_sqlite else ' FOR UPDATE'),
                              (self.run.id,)).fetchone()
            if row is None:
                raise Cancelled()
            notes = json.loads(row[0])
            notes.update(values)
            storage.sql('UPDATE lab_run SET notes = ? WHERE id = ?', (json.dumps(notes), self.run.id))

    def ended_at(self, jobs, attempts, marks=()):
        """The run's last moment: its jobs' and attempts' last timestamp, or a later mark (a kill).
        Once a run has shown what it shows, its pictures stop there, however late they are drawn."""
        times = [t for j in jobs for t in (j['queued_at'], j['started_at'], j['finished_at']) if t]
        times += [a['finished_at'] for tries in attempts.values() for a in tries if a['finished_at']]
        times += [m[0] for m in marks]
        return max(times) if times else (self.run.done_at or time.time())

    def mark_done(self):
        LabRun.update(done_at=time.time()).where(LabRun.id == self.run.id, LabRun.done_at.is_null()).execute()


class Cancelled(Exception):
    """The run was cleared or reset while its runner waited."""


def ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 1)


def median(values):
    return statistics.median(values) if values else None


def finished(jobs):
    return bool(jobs) and all(j['state'] in TERMINAL for j in jobs)


def max_overlap(intervals):
    """The most intervals running at one moment (how many workers were busy at once)."""
    edges = sorted([(s, 1) for s, f in intervals] + [(f, -1) for s, f in intervals], key=lambda e: (e[0], e[1]))
    best = current = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


def rss_mb():
    """This process's resident memory in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open('/proc/self/status') as fh:
            for line in fh:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Scenario:
    """One pattern of the course material, run on real workers. Each scenario has:
      - start(ctx): start its worker processes and queue its jobs (runs in a thread);
      - observe(ctx): read back what happened and say it (an Observation);
      - actions a person can take while it runs (kill a worker, add one), and
        autopilot(ctx): what `localq lab <name>` does in place of those clicks.
    Explanations are in our own words; the code shown is the lessons' pattern."""
    name = ''
    title = ''
    lesson = ''          # where the course material teaches it
    teaches = ''         # that lesson's point, one sentence in our words (the reference alone means nothing)
    explain = ''         # what to watch for, in our words
    code = ''            # the pattern, as the lessons write it
    params = {}          # name -> default; the CLI's --set name=value and the tests change them
    actions = ()         # (action, button label) a person can press while it runs
    uses_speed = False   # whether the lab speed changes what it shows (its page then offers it)

    def check_params(self, given):
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise LabError('scenario %s has no parameter %s; it has: %s' % (
                self.name, ', '.join(unknown), ', '.join(sorted(self.params)) or 'none'))
        values = dict(self.params)
        for key, value in given.items():
            default = self.params[key]
            kind = 'a whole number' if isinstance(default, int) else 'a number'
            try:
                values[key] = type(default)(value)
            except (TypeError, ValueError):
                raise LabError('%s=%r: must be %s' % (key, value, kind))
            # Ten times the lesson's size is plenty for a class, and keeps a typo from
            # starting a million jobs or a gigabyte payload.
            top = max(10, 10 * default)
            if not 0 <= values[key] <= top:
                raise LabError('%s=%r: must be %s from 0 to %g' % (key, value, kind, top))
        return values

    def start(self, ctx):
        raise NotImplementedError

    def observe(self, ctx):
        raise NotImplementedError

    def act(self, ctx, action):
        raise LabError('scenario %s has no action %r' % (self.name, action))

    def autopilot(self, ctx):
        """Called repeatedly by `localq lab`: press the buttons a teacher would; returns what it did."""

    def clear(self, lab):
        """Delete rows of the app's own data this scenario wrote."""

    def one_worker(self, ctx, concurrency=2):
        name = ctx.start_worker(concurrency=concurrency)
        ctx.wait_online([name])
        return name
