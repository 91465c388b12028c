"""LocalQ: the application object users create, as Celery's `app = Celery(...)`."""
import difflib
import inspect
import time

from . import config as config_mod
from . import aio, current, lifecycle, plugins, states
from . import enqueue as enqueue_mod
from . import db as db_mod
from . import models as models_mod
from .beat import Beat, Entry
from .chunks import declare_starmap
from .errors import ConfigError, InvalidTaskOptions, JobNotFound, QueueNotFound
from .options import OPTIONS, resolve_options
from .results import AsyncResult, GroupResult
from .routing import Router
from .serializer import JSONSerializer
from .leases import HeldRuns
from .localhuey import LocalHuey
from .query import Query
from .task import Task
from .textindex import create_text_index
from .tracking import JobTracker
from .wakeup import Wakeup, create_ready_triggers
from .watchdog import Watchdog


DATABASE_SETTINGS = ('data_dir', 'database_url', 'synchronous', 'busy_timeout')


def _open_current_app():
    current.current_app().setup()


# A model used before any localq call (a fresh process reading its own rows) opens the current app.
db_mod.database.opener = _open_current_app


class BoundGroupResult:
    """app.GroupResult: GroupResult bound to an app (callable, with Celery's .restore)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, group_id, results=None):
        if results is not None:
            return GroupResult(group_id, results, app=self.app)
        return GroupResult.restore(group_id, app=self.app) or GroupResult(group_id, [], app=self.app)

    def restore(self, group_id):
        return GroupResult.restore(group_id, app=self.app)


class LocalQ:
    """A task queue on one database: declare tasks with @app.task, run workers, read results."""

    def __init__(self, main='localq', database_url=None, data_dir=None, broker=None, backend=None, include=(),
                 **settings):
        """LocalQ('myapp'), or as Celery(...): broker= and backend= are accepted and unused (the database
        is both); include= names task modules that `localq worker` imports before it starts."""
        self.main = main
        self.include = list(include)
        self.routes = {}          # task name -> TaskRoute, read by the storage
        self.tasks = {}           # task name -> Task
        self.models = list(models_mod.ALL_MODELS)   # tables created when the database opens
        self.idempotency_columns = []   # fields holding jobs' idempotency keys (register_models)
        self.plugins = {}         # name -> plugins.Plugin: what register_plugin added (pages, commands, settings)
        self.task_defaults = {}   # option -> app-wide default (Celery's task_acks_late, task_time_limit, ...)
        self.router = Router()    # Celery's task_routes
        self.beat = Beat(self)    # periodic tasks, ticked by every worker's scheduler
        # Celery's signals for declaring periodic tasks: sent once, when a worker starts.
        self.on_after_configure, self.on_after_finalize = self.beat.on_after_configure, self.beat.on_after_finalize
        # Then these run: indexes, the PostgreSQL NOTIFY triggers, the jobs' text index.
        self._prepares = [models_mod.create_extra_indexes, create_ready_triggers, create_text_index]
        # Celery's names (Celery('proj', task_acks_late=True, ...)) go through app.conf, after the rest.
        celery_settings = {k: settings.pop(k) for k in list(settings) if k not in config_mod.SETTINGS}
        self.config = config_mod.from_env(database_url=database_url, data_dir=data_dir, **settings)
        # The storage opens the database on first use, whatever it is (an enqueue, a result
        # read in a process that only imported the app, a worker's claim).
        self.query = Query(self._open_database)   # the app's SQL, for every module (query.py)
        self.held = HeldRuns()   # the runs this process claimed and has not written the outcome of
        self.huey = LocalHuey(main, results=False, serializer=JSONSerializer(), utc=True,
                              immediate_use_memory=False, routes=self.routes, query=self.query, held=self.held)
        self.huey.storage.app = self
        self.tracker = JobTracker(self)
        self.tracker.connect(self.huey)
        self.huey.not_registered = self.tracker.record_not_registered
        # Each worker thread (or process) runs Huey's shutdown hooks as it ends: its connection goes with it.
        self.huey.on_shutdown(name='localq-close-connection')(self.close_thread_connection)
        self.huey.on_shutdown(name='localq-close-event-loop')(aio.close_thread_loop)
        self._configure_storage()
        self._conf = config_mod.Conf(self)
        self.watchdog = Watchdog()
        self.wakeup = Wakeup(self)   # idle workers of this process wait on it
        declare_starmap(self)        # the built-in task that runs task.chunks()'s jobs
        current.add_app(self)
        if celery_settings:
            self.conf.update(celery_settings)

    # -- configuration and the database ----------------------------------------
    def configure(self, **settings):
        """Change settings; becomes the current app. A change of database (data_dir, database_url,
        synchronous, busy_timeout) closes its connections: the next use opens the new one."""
        current.set_current_app(self)
        before = self.config
        self.config = self.config.replace(**settings)
        self._configure_storage()
        if any(getattr(before, k) != getattr(self.config, k) for k in DATABASE_SETTINGS):
            self.close()
        return self

    def _configure_storage(self):
        storage = self.huey.storage
        storage.default_queue = self.config.default_queue   # of a task declared without queue=
        storage.lease_seconds = self.config.lease_timeout   # a claim's lease, until a heartbeat renews it

    @property
    def conf(self):
        """The settings as a mapping, by localq's names or Celery's: app.conf.update(worker_concurrency=4)."""
        return self._conf

    def config_from_object(self, obj, silent=False, force=False, namespace=None):
        """Celery's app.config_from_object('myproj.celeryconfig'): settings from a module, class or
        dict (namespace='CELERY' reads Django's CELERY_<NAME> settings). silent=True: a module that
        cannot be imported is skipped, as in Celery."""
        try:
            self.conf.config_from_object(obj, namespace=namespace)
        except ImportError:
            if not silent:
                raise

    @property
    def database(self):
        """The Peewee database, opened (tables created) on first use."""
        return self.query.database

    def setup(self):
        """Open the database and create missing tables now (it happens on first use anyway)."""
        return self.database

    def _open_database(self):
        return db_mod.init_db(self.config, self.models, prepare=self._prepare)

    def _prepare(self, db):
        for prepare in self._prepares:
            prepare(db)

    def register_models(self, *models, prepare=None, idempotency_columns=()):
        """Peewee models (bound to localq.models.database) whose tables this app creates, the
        data page shows and `localq migrate` copies: the app's own, and those of packages such
        as localq.documents. prepare(db), if given, runs after the tables exist (indexes,
        upgrades of older folders). idempotency_columns: fields that hold a job's idempotency
        key (Order.order_id): a job's page shows the rows its key guards."""
        self.idempotency_columns.extend(f for f in idempotency_columns if f not in self.idempotency_columns)
        new = [m for m in models if m not in self.models]
        self.models.extend(new)
        if prepare is not None and prepare not in self._prepares:
            self._prepares.append(prepare)
        db = self.query.opened
        if db is not None and (new or prepare is not None):
            with db.connection_context():
                db.create_tables(new, safe=True)
                if prepare is not None:
                    prepare(db)

    def register_plugin(self, plugin):
        """A plug-in's settings, pages, commands and hidden queues (plugins.Plugin), from its init_app(app)."""
        return plugins.register(self, plugin)

    def create_tables(self, models):
        """The older name of register_models, taking a list."""
        self.register_models(*models)

    def close(self):
        """Close every database connection this app opened in this process, in any thread.

        For the end of a process or a test: nothing may be using the database. The next use opens it afresh."""
        self.wakeup.stop()
        db = self.query.close_all()
        if db is not None and db_mod.database.obj is db:
            db_mod.database.initialize(None)   # models reopen through the current app

    def close_thread_connection(self):
        """Close this thread's connection, if it has one (a thread that uses the app is ending)."""
        self.query.close()

    @property
    def immediate(self):
        return self.huey.immediate

    @immediate.setter
    def immediate(self, value):
        """Run tasks inside delay() (Huey's immediate mode), still writing Job rows."""
        self.setup()
        self.huey.immediate = value

    def write_transaction(self):
        """A short write transaction that takes SQLite's write lock up front (no upgrade deadlock)."""
        return self.query.write_transaction()

    # -- tasks ----------------------------------------------------------------
    def task(self, *args, **options):
        """Declare a task: @app.task or @app.task(name=..., bind=True, ...)."""
        if len(args) == 1 and callable(args[0]) and not options:
            return self._make_task(args[0], {})
        if args:
            raise TypeError('@app.task takes keyword options only')
        return lambda func: self._make_task(func, options)

    def periodic_task(self, run_every, **options):
        """Declare a task that the scheduler queues by itself: @app.periodic_task(crontab(minute='*/5')),
        or every so many seconds (a number or a timedelta).

        Every worker runs a scheduler (beat.py); each tick is queued once, whichever runs it."""
        try:
            Entry('periodic_task', 'periodic_task', run_every)
        except ConfigError as exc:
            raise InvalidTaskOptions('@app.periodic_task(%r): %s' % (run_every, exc)) from None

        def declare(func):
            task = self._make_task(func, options)
            self.beat.declare(task.name, run_every)
            return task
        return declare

    def add_periodic_task(self, schedule, sig, args=(), kwargs=None, name=None, **options):
        """Celery's app.add_periodic_task(10.0, task.s(...), name='...'): an entry of
        app.conf.beat_schedule; returns its name."""
        return self.beat.add(schedule, sig, args, kwargs, name, **options)

    def set_task_default(self, option, value, setting=None):
        """An app-wide default of a task option (Celery's task_acks_late, task_time_limit, ...),
        for every task declared without it, before or after this call."""
        setting = setting or option
        if not OPTIONS[option][1](value):
            raise ConfigError('%s must be %s, got %r' % (setting, OPTIONS[option][2], value))
        defaults = dict(self.task_defaults, **{option: value})
        changed = {}
        for task in self.tasks.values():
            if option not in task.given:
                try:
                    changed[task] = resolve_options(task.func, dict(defaults, **task.given))
                except InvalidTaskOptions as exc:
                    raise ConfigError('%s=%r does not fit task %s: %s' % (setting, value, task.name, exc)) from None
        self.task_defaults = defaults
        for task, resolved in changed.items():
            task.set_options(resolved)

    def _resolve(self, func, given):
        return resolve_options(func, dict(self.task_defaults, **given))

    def _make_task(self, func, options):
        options = dict(options)
        base = options.pop('base', None) or Task   # Celery's base=MyTask: a subclass with handlers
        if not (isinstance(base, type) and issubclass(base, Task)):
            raise InvalidTaskOptions('@task(base=%r) for %s: must be a subclass of localq.Task' % (
                base, func.__qualname__))
        resolved = self._resolve(func, options)
        if inspect.iscoroutinefunction(func) and resolved.soft_time_limit:
            raise InvalidTaskOptions(
                '@task(soft_time_limit=...) for async def %s: cannot be delivered into a coroutine (it would see '
                'CancelledError, not SoftTimeLimitExceeded); use time_limit (it cancels the coroutine at its next '
                'await), or asyncio.timeout() inside the task' % func.__qualname__)
        if resolved.name in self.tasks:
            raise ValueError('a task named %r is already declared; give one a different name=' % resolved.name)
        task = base(self, func, resolved, given=options)
        self.tasks[resolved.name] = task
        return task

    def declare_shared(self, func, options):
        """Declare a @shared_task on this app (current.py calls it for every app)."""
        if resolve_options(func, {k: v for k, v in options.items() if k != 'base'}).name not in self.tasks:
            self._make_task(func, options)

    # -- queueing -------------------------------------------------------------
    def enqueue_call(self, name, args=None, kwargs=None, options=None, workflow=None, member=None, checked=False):
        """Queue one call of the task `name`, declared in this process or not; returns its AsyncResult.
        Every way in comes here (Task.apply_async, send_task, a canvas): enqueue.py."""
        return enqueue_mod.enqueue_call(self, name, args, kwargs, options, workflow, member, checked)

    def job_id_for_key(self, key):
        row = self.query.sql('SELECT id FROM job WHERE idempotency_key = ?', (key,)).fetchone()
        return row[0] if row else None

    def send_task(self, name, args=None, kwargs=None, **options):
        """Queue a task by name, without importing its function (Celery's send_task): a worker
        that has it runs it; until one runs, the job waits (missing_task_note says why)."""
        from .canvas import apply_linked
        link, link_error = options.pop('link', None), options.pop('link_error', None)
        if link is None and link_error is None:
            return self.enqueue_call(name, args, kwargs, options)
        return apply_linked(self.signature(name, args, kwargs, **options), link, link_error)

    def signature(self, name, args=None, kwargs=None, **options):
        """A signature of the task called `name` (declared here or not)."""
        from .canvas import Signature
        return Signature(name, args, kwargs, options, app=self)

    # -- results and control ------------------------------------------------
    def AsyncResult(self, job_id):
        return AsyncResult(job_id, app=self)

    @property
    def GroupResult(self):
        """A group's results: app.GroupResult(id, results), or app.GroupResult(id) read from its
        members' rows; app.GroupResult.restore(id) as in Celery (None for an unknown group)."""
        return BoundGroupResult(self)

    def revoke(self, job_id):
        """Cancel a job: a waiting one becomes REVOKED (with whatever in its workflow waits
        for it), a running one is asked to stop. Revoking a workflow's root also revokes
        every member that has not started. Returns the state the job is in afterwards."""
        state = lifecycle.revoke(self, job_id)
        if state is None:
            raise JobNotFound(job_id)
        return state

    def live_worker_tasks(self, now=None):
        """The task names the running workers have (online: heartbeat within lease_timeout, not stopped)."""
        now = time.time() if now is None else now
        return {t for t, in self.query.sql(
            'SELECT DISTINCT t.task FROM worker_task t JOIN worker w ON w.id = t.worker '
            'WHERE w.stopped_at IS NULL AND w.last_seen > ?', (now - self.config.lease_timeout,))}

    def missing_task_note(self, task, now=None):
        """Why a ready job of `task` waits if no running worker has that task, in a sentence
        naming the closest tasks they do have; None if one has it. Such a job waits for a worker
        that has it (never failed for it), until its `expires`."""
        have = self.live_worker_tasks(now)
        if task in have:
            return None
        close = difflib.get_close_matches(task, sorted(have), n=3, cutoff=0.6)
        note = ('No running worker has task %r: the job waits until a worker that has it starts '
                '(localq -A yourmodule:app worker), or until it expires (expires=).' % task)
        if close:
            note += ' Did you mean %s?' % ' or '.join(repr(c) for c in close)
        elif have:
            names = sorted(have)
            note += ' The running workers have: %s%s.' % (', '.join(names[:10]),
                                                        ' and %d more' % (len(names) - 10) if len(names) > 10 else '')
        else:
            note += ' No worker is running.'
        return note

    @property
    def control(self):
        """Celery's app.control (revoke, inspect(), ping, shutdown, purge), answered from the database."""
        from .control import Control
        return Control(self)

    def served_queues(self):
        """Queues configured or served by a worker seen in the last day."""
        names = set(self.config.queue_list)
        for queues, in self.query.sql('SELECT queues FROM worker WHERE last_seen > ?',
                                             (time.time() - 86400,)):
            names.update(q for q in queues.split(',') if q)
        return names

    def known_queues(self):
        """Queues that exist: configured, served by a worker seen in the last day, or holding
        waiting or running jobs (each read through an index)."""
        q = self.query
        names = self.served_queues()
        names.update(n for n, in q.sql('SELECT DISTINCT queue FROM %s WHERE %s' % (
            q.table_by('job_claim'), states.SQL_CLAIMABLE)))
        names.update(n for n, in q.sql('SELECT DISTINCT queue FROM %s WHERE %s' % (
            q.table_by('job_active'), states.SQL_RUNNING)))
        return sorted(names)

    def pause_queue(self, name):
        """Workers stop taking jobs from this queue (running ones finish). QueueNotFound for a queue
        nothing uses (a typo would otherwise show a phantom paused queue)."""
        known = self.known_queues()
        if name not in known:
            raise QueueNotFound(name, known)
        self.query.sql('INSERT INTO queue_pause (name, paused_at) VALUES (?, ?) '
                              'ON CONFLICT (name) DO NOTHING', (name, time.time()))

    def resume_queue(self, name):
        """Workers take this queue's jobs again. QueueNotFound if it is neither paused nor known."""
        if self.query.sql('DELETE FROM queue_pause WHERE name = ?', (name,)).rowcount == 0:
            known = self.known_queues()
            if name not in known:
                raise QueueNotFound(name, known)
        self.wake_workers()

    def paused_queues(self):
        self.setup()
        return [n for n, in self.query.sql('SELECT name FROM queue_pause ORDER BY name')]

    # -- waking workers -------------------------------------------------------
    def wake_workers(self):
        """Wake idle workers of this process at once (those of other processes see the commit:
        wakeup.py)."""
        self.wakeup.notify()
