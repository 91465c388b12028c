"""LocalQ: the application object users create, as Celery's `app = Celery(...)`."""
import threading
import time

import peewee
from huey import Huey

from . import config as config_mod
from . import current
from . import db as db_mod
from . import models as models_mod
from .errors import JobNotFound, LocalqError
from .options import resolve_options
from .results import AsyncResult
from .serializer import JSONSerializer
from .storage import JobStorage, enqueue_options
from .task import Task
from .tracking import JobTracker
from .watchdog import Watchdog


def _open_current_app():
    current.current_app().setup()


# A model used before any localq call (a fresh process reading its own rows) opens the current app.
db_mod.database.opener = _open_current_app


class LocalHuey(Huey):
    """Huey with the Job table as storage and JSON messages.

    Revocation lives in the Job row (a revoked job is never claimed; a
    running one is stopped by its worker's watchdog), so Huey's per-task
    revoke keys ("r:<id>") are never written, read or deleted: that saves
    two key/value reads on every execution.
    """
    storage_class = JobStorage

    def is_revoked(self, task, timestamp=None, peek=True):
        return False

    def delete(self, key):
        if key.startswith('r:'):  # Huey clears the revoke key after each run
            return False
        return super().delete(key)


class LocalQ:
    """A task queue on one database: declare tasks with @app.task, run workers, read results."""

    def __init__(self, main='localq', database_url=None, data_dir=None, **settings):
        self.main = main
        self.routes = {}          # task name -> TaskRoute, read by the storage
        self.tasks = {}           # task name -> Task
        self.models = list(models_mod.ALL_MODELS)   # tables created when the database opens
        self.config = config_mod.from_env(database_url=database_url, data_dir=data_dir, **settings)
        # The storage opens the database on first use, whatever it is (an enqueue, a result
        # read in a process that only imported the app, a worker's claim).
        self.huey = LocalHuey(main, results=False, serializer=JSONSerializer(), utc=True,
                              immediate_use_memory=False, routes=self.routes, opener=self._open_database)
        self.tracker = JobTracker(self)
        self.tracker.connect(self.huey)
        # Each worker thread (or process) runs Huey's shutdown hooks as it ends: its connection goes with it.
        self.huey.on_shutdown(name='localq-close-connection')(self.close_thread_connection)
        self.watchdog = Watchdog()
        current.add_app(self)

    # -- configuration and the database ----------------------------------------
    def configure(self, **settings):
        """Change settings (e.g. data_dir, database_url); reopens the database on next use, becomes current."""
        current.set_current_app(self)
        self.config = self.config.replace(**settings)
        self.close()
        return self

    @property
    def database(self):
        """The Peewee database, opened (tables created) on first use."""
        return self.huey.storage.database

    def setup(self):
        """Open the database and create missing tables now (it happens on first use anyway)."""
        return self.database

    def _open_database(self):
        return db_mod.init_db(self.config, self.models, prepare=models_mod.create_extra_indexes)

    def register_models(self, *models):
        """Peewee models (bound to localq.models.database) whose tables this app creates and
        `localq migrate` copies: the app's own, and those of packages such as localq.documents."""
        new = [m for m in models if m not in self.models]
        self.models.extend(new)
        db = self.huey.storage._database
        if db is not None and new:
            with db.connection_context():
                db.create_tables(new, safe=True)

    def create_tables(self, models):
        """The older name of register_models, taking a list."""
        self.register_models(*models)

    def close(self):
        """Close every database connection this app opened in this process, in any thread.

        For the end of a process or a test: nothing may be using the database. The next use opens it afresh."""
        db = self.huey.storage.close_all()
        if db is not None and db_mod.database.obj is db:
            db_mod.database.initialize(None)   # models reopen through the current app

    def close_thread_connection(self):
        """Close this thread's connection, if it has one (a thread that uses the app is ending)."""
        self.huey.storage.close()

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
        self.setup()
        return self.huey.storage.write_transaction()

    # -- tasks ----------------------------------------------------------------
    def task(self, *args, **options):
        """Declare a task: @app.task or @app.task(name=..., bind=True, ...)."""
        if len(args) == 1 and callable(args[0]) and not options:
            return self._make_task(args[0], {})
        if args:
            raise TypeError('@app.task takes keyword options only')
        return lambda func: self._make_task(func, options)

    def periodic_task(self, run_every, **options):
        """Declare a task that the scheduler queues on a crontab: @app.periodic_task(crontab(minute='*/5')).

        Every worker runs a scheduler; each tick is queued once, whichever runs it."""
        return lambda func: self._make_task(func, options, periodic=run_every)

    def _make_task(self, func, options, periodic=None):
        resolved = resolve_options(func, options)
        if resolved.name in self.tasks:
            raise ValueError('a task named %r is already declared; give one a different name=' % resolved.name)
        task = Task(self, func, resolved, periodic=periodic)
        self.tasks[resolved.name] = task
        return task

    def enqueue(self, huey_task, queue=None, idempotency_key=None):
        """Queue a Huey task with localq's per-call options; returns an AsyncResult."""
        self.setup()
        token = enqueue_options.set({'queue': queue, 'idempotency_key': idempotency_key})
        try:
            if idempotency_key is None:
                self.huey.enqueue(huey_task)
            else:
                existing = self._enqueue_once(huey_task, idempotency_key)
                if existing is not None:
                    return AsyncResult(existing, app=self)
        finally:
            enqueue_options.reset(token)
        self.wake_workers(notify=False)  # the storage's INSERT already notified other hosts
        return AsyncResult(huey_task.id, app=self)

    def _enqueue_once(self, huey_task, key):
        """Queue unless a job holds this idempotency key; return that job's id if one does.

        A REVOKED job gives its key up, so the work can be asked for again.
        The unique index decides races between processes; the savepoint
        keeps a caller's own transaction usable after the losing insert."""
        storage = self.huey.storage
        for _ in range(3):
            try:
                with self.write_transaction():
                    storage.sql("UPDATE job SET idempotency_key = NULL WHERE idempotency_key = ? "
                                "AND state = 'REVOKED'", (key,))
                    self.huey.enqueue(huey_task)
                return None
            except peewee.IntegrityError:
                existing = self.job_id_for_key(key)
                if existing is not None:
                    return existing
        raise LocalqError('could not queue with idempotency key %r: it keeps changing hands' % key)

    def job_id_for_key(self, key):
        row = self.huey.storage.sql('SELECT id FROM job WHERE idempotency_key = ?', (key,)).fetchone()
        return row[0] if row else None

    # -- results and control ------------------------------------------------
    def AsyncResult(self, job_id):
        self.setup()
        return AsyncResult(job_id, app=self)

    def revoke(self, job_id):
        """Cancel a job: waiting ones become REVOKED, running ones are asked to stop.

        Returns the state the job is in afterwards."""
        storage = self.huey.storage
        now = time.time()
        with self.write_transaction():
            row = storage.sql('SELECT state FROM job WHERE id = ?', (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(job_id)
            state = row[0]
            if state in ('PENDING', 'RETRY'):
                storage.sql("UPDATE job SET state = 'REVOKED', finished_at = ?, wait_reason = 'revoked' "
                            'WHERE id = ?', (now, job_id))
                return 'REVOKED'
            if state in ('SUCCESS', 'FAILURE', 'REVOKED'):
                return state
            storage.sql('UPDATE job SET revoke_requested = ? WHERE id = ?', (True, job_id))
        self.wake_workers()
        return state

    def pause_queue(self, name):
        """Workers stop taking jobs from this queue (running ones finish)."""
        self.setup()
        self.huey.storage.sql('INSERT INTO queue_pause (name, paused_at) VALUES (?, ?) '
                              'ON CONFLICT (name) DO NOTHING', (name, time.time()))

    def resume_queue(self, name):
        self.setup()
        self.huey.storage.sql('DELETE FROM queue_pause WHERE name = ?', (name,))
        self.wake_workers()

    def paused_queues(self):
        self.setup()
        return [n for n, in self.huey.storage.sql('SELECT name FROM queue_pause ORDER BY name')]

    # -- waking workers -------------------------------------------------------
    _wake_listeners = ()

    def wake_workers(self, notify=True):
        """Wake idle workers of this process at once; on PostgreSQL, NOTIFY those on other hosts
        (on SQLite they notice the commit within poll_interval)."""
        for event in self._wake_listeners:
            event.set()
        if notify and self.huey.storage._database is not None:
            self.huey.storage.notify_workers()

    def add_wake_listener(self, event):
        self._wake_listeners = tuple(self._wake_listeners) + (event,)
