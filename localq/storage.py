"""JobStorage: Huey's storage interface on the Job table, through the app's Peewee database.

Why this exists: Huey's SqliteStorage deletes a task row when a worker takes
it, keeps no state, and uses its own connection. Here the queue *is* the Job
table, so
  - a claim marks the row STARTED instead of deleting it (a dead worker's job
    can be found and run again: see recovery.py);
  - enqueue writes the job's record in the same statement that queues it, on
    the caller's Peewee connection, so it commits or rolls back with the
    app's own transaction;
  - the claim honours eta, queue, priority and paused queues in one query,
    so there is no separate schedule to move jobs out of.
The hot path (enqueue, claim) is fixed SQL: building it with Peewee's query
builder costs more than SQLite itself (see shared/anchors/PERFORMANCE.md).
"""
import contextvars
import datetime
import json
import os
import re
import threading
import time

from huey.storage import BaseStorage

from . import counters
from .states import REVOKED, SQL_CLAIMABLE, SQL_RUNNING
from .db import is_sqlite, write_transaction
from .keyvalue import KeyValueStore
from .leases import HeldRuns

# Seconds a worker's task list is kept after its last heartbeat (LocalQ.missing_task_note).
TASK_MEMORY = 86400

# Per-call options of apply_async() that Huey's message has no field for.
enqueue_options = contextvars.ContextVar('localq_enqueue_options', default=None)
# Connections a forked worker process inherited (JobStorage.after_fork): never used, never closed.
INHERITED = []


def to_epoch(dt):
    """Huey's naive-UTC datetime (or None) as UNIX seconds."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


class TaskRoute:
    """What the storage needs to know about a task to write its row."""
    __slots__ = ('name', 'queue', 'max_retries', 'acks_late', 'ignore_result')

    def __init__(self, name=None, queue=None, max_retries=0, acks_late=False, ignore_result=False):
        self.name, self.queue, self.max_retries = name, queue, max_retries
        self.acks_late, self.ignore_result = acks_late, ignore_result


DEFAULT_ROUTE = TaskRoute()
NO_WORKFLOW = {'state': 'PENDING', 'root_id': None, 'parent_id': None, 'group_id': None, 'group_index': None,
               'waits_for': 0}

# Huey names a task's class after the module of the function it registers (always
# localq.task: Task._execute) and the task's name; a message names its task that way.
HUEY_PREFIX = 'localq.task.'


def task_name(huey_name):
    """The task name in a Huey message name ('localq.task.documents.process' -> 'documents.process')."""
    return huey_name[len(HUEY_PREFIX):] if huey_name.startswith(HUEY_PREFIX) else huey_name



class JobStorage(KeyValueStore, BaseStorage):
    blocking = False  # idle waiting is the worker's job (worker.py)

    # opener: returns the app's Peewee database, called on first use (whatever that use is:
    # an enqueue, a result read, a worker's claim); routes: Huey's registry string of a task
    # -> its TaskRoute (set by Task).
    def __init__(self, name='localq', opener=None, routes=None, **kwargs):
        super().__init__(name)
        self.opener = opener
        self.routes = routes if routes is not None else {}
        self.queues = None          # None: every queue; set by a worker
        self.known_tasks = None     # None: every task; a worker sets the names it has (claim_filter)
        self.default_queue = 'default'   # of a task declared without queue= (the app's setting)
        self.worker_id = None
        self.lease_seconds = 15.0     # a claim's lease: the app's lease_timeout
        self.held = HeldRuns()        # the runs this process claimed and has not written the outcome of
        self._database = None
        self._open_lock = threading.Lock()
        self._local = threading.local()
        self._statement_names = {}   # PostgreSQL: SQL text -> the name it is prepared under

    # -- plumbing ---------------------------------------------------------
    @property
    def database(self):
        return self._database if self._database is not None else self._open()

    def _open(self):
        with self._open_lock:
            if self._database is None:
                db = self.opener()
                self._is_sqlite = is_sqlite(db)
                self._param = '?' if self._is_sqlite else '%s'
                self._sql = {}
                self._database = db
        return self._database

    @property
    def is_sqlite(self):
        self.database
        return self._is_sqlite

    def sql(self, query, params=()):
        """Run fixed SQL written with '?' placeholders on this thread's connection."""
        db = self.database
        if self._param != '?':
            query = self._placeholders(query)
        return db.execute_sql(query, params)

    def table_by(self, index):
        """'job' pinned to one of its indexes where the planner would pick a worse one (SQLite)."""
        return 'job INDEXED BY %s' % index if self.is_sqlite else 'job'

    def close(self):
        """Close this thread's connection (Huey calls it before forking workers)."""
        if self._database is not None and not self._database.is_closed():
            self._database.close()
            return True
        return False

    def after_fork(self):
        """A forked worker process leaves its parent's connection alone and opens its own. Why:
        Huey forks a replacement process (--max-tasks-per-child, a crash) from a consumer whose
        main thread holds a connection; a child that closed it on exit closed it for the next
        child too ("server closed the connection unexpectedly", its claims failing)."""
        db = self._database
        if db is not None and db._state.conn is not None:
            INHERITED.append(db._state.conn)   # kept, so garbage collection never closes it here
            db._state.reset()
        self._local = threading.local()
        self.held.clear()   # the parent's runs are the parent's

    def close_all(self):
        """Close every connection of this process and forget the database; the next use reopens it."""
        with self._open_lock:
            db, self._database = self._database, None
        if db is not None:
            db.close_all()
        return db

    def _queue_filter(self):
        if not self.queues:
            return '', ()
        return ' AND queue IN (%s)' % ','.join('?' * len(self.queues)), tuple(self.queues)

    def register_tasks(self, worker_id):
        """Record the tasks this worker has, for the other workers' claims (claim_filter), and
        forget those of workers gone for longer than they count."""
        with self.write_transaction():
            self.sql('DELETE FROM worker_task WHERE worker = ? OR worker NOT IN '
                     '(SELECT id FROM worker WHERE last_seen > ?)', (worker_id, time.time() - TASK_MEMORY))
            for name in self.known_tasks:
                self.sql('INSERT INTO worker_task (worker, task) VALUES (?, ?)', (worker_id, name))

    def claim_filter(self, now):
        """What a worker may claim: its queues, and jobs of tasks it has. A job of a task this
        worker lacks is left to a worker that has it (another app's worker on the same data folder:
        run.py's dashboard beside `localq -A mytasks:app worker`); if no running worker has it yet,
        it waits for one, as Celery's does, until its `expires` (retention.expire_unclaimed).
        Why it waits, with the task names the workers do have, is on its page and in
        `AsyncResult.get()`'s TimeoutError (LocalQ.missing_task_note)."""
        qsql, qparams = self._queue_filter()
        if self.known_tasks is None:
            return qsql, qparams
        if not self.known_tasks:
            return qsql + ' AND 1 = 0', qparams
        return (qsql + ' AND task IN (%s)' % ','.join('?' * len(self.known_tasks)),
                qparams + tuple(self.known_tasks))

    # -- queue ------------------------------------------------------------
    def enqueue(self, data, priority=None):
        m = json.loads(bytes(data))['m']
        options = enqueue_options.get() or {}
        route = self.routes.get(m['name'], DEFAULT_ROUTE)
        now = time.time()
        eta = m.get('eta')
        eta = to_epoch(datetime.datetime.fromisoformat(eta['$dt'])) if eta else now
        expires = m.get('expires_resolved')
        expires = to_epoch(datetime.datetime.fromisoformat(expires['$dt'])) if expires else None
        text = data.decode('utf-8') if isinstance(data, bytes) else bytes(data).decode('utf-8')
        self._insert(m, text, route, options, priority, options.get('idempotency_key'), now, eta, expires)

    def _insert(self, m, text, route, options, priority, key, now, eta, expires):
        # A workflow member (canvas.py) may be inserted WAITING, with its links.
        wf = options.get('workflow') or NO_WORKFLOW
        # A retry or a re-queue sends an id that exists: refresh its message
        # and eta, keep its history; a waiting, revoked or finished row stays so.
        self.sql(
            'INSERT INTO job (id, task, queue, priority, state, args, kwargs, message, '
            'attempts, max_retries, acks_late, ignore_result, idempotency_key, queued_at, eta, '
            'expires_at, revoke_requested, root_id, parent_id, group_id, group_index, waits_for) '
            'VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) '
            'ON CONFLICT (id) DO UPDATE SET message = excluded.message, eta = excluded.eta, '
            "state = CASE WHEN job.state IN ('PENDING', 'RETRY', 'WAITING', 'SUCCESS', 'FAILURE', 'REVOKED') "
            "THEN job.state ELSE 'PENDING' END",
            (m['id'], route.name or task_name(m['name']), options.get('queue') or route.queue or self.default_queue,
             int(priority or 0), wf['state'], json.dumps(m['args']), json.dumps(m['kwargs']), text,
             route.max_retries, route.acks_late, route.ignore_result,
             key, now, eta, expires, False, wf['root_id'], wf['parent_id'], wf['group_id'], wf['group_index'],
             wf['waits_for']))
        # Idle workers of other processes learn of it from the commit itself (wakeup.py).

    def dequeue(self):
        now = time.time()
        claim = self._claim_statement(now)
        deferred = getattr(self._local, 'deferred', None)
        if deferred:
            # The previous job's outcome and the next claim, in one transaction.
            row = self._run_together(list(deferred) + [claim])
            self._written(deferred)
        elif self.is_sqlite and not self._anything_ready(now):
            return None   # SQLite: a cheap read first, so an idle worker never takes the write lock
        else:
            row = self._run_together([claim])
        if row is None:
            return None
        self._local.claim = (row[1], row[2])
        self.held.hold(row[1], row[2])   # its lease is renewed until its outcome is written (leases.py)
        return row[0].encode('utf-8')

    def _anything_ready(self, now):
        # (Not on PostgreSQL: there a claim that finds nothing is as cheap, and a round trip fewer.)
        qsql, qparams = self.claim_filter(now)
        return self.sql('SELECT 1 FROM %s WHERE %s AND eta <= ?%s LIMIT 1' % (
            self.table_by('job_claim'), SQL_CLAIMABLE, qsql), (now,) + qparams).fetchone() is not None

    def _claim_statement(self, now):
        """The claim: one UPDATE of the first ready job in claim order (priority, then eta) among
        this worker's queues and tasks (claim_filter), skipping paused queues, returning (message, id,
        attempt number)."""
        qsql, qparams = self.claim_filter(now)
        lock = '' if self.is_sqlite else ' FOR UPDATE SKIP LOCKED'
        return (
            "UPDATE job SET state = 'STARTED', started_at = ?, worker = ?, worker_pid = ?, "
            'lease_until = ?, attempts = attempts + 1, finished_at = NULL '
            'WHERE id = (SELECT id FROM %s WHERE %s AND eta <= ?%s '
            'AND queue NOT IN (SELECT name FROM queue_pause) '
            'ORDER BY priority DESC, eta LIMIT 1%s) AND %s '
            'RETURNING message, id, attempts' % (self.table_by('job_claim'), SQL_CLAIMABLE, qsql, lock, SQL_CLAIMABLE),
            (now, self.worker_id, os.getpid(), now + self.lease_seconds, now) + qparams)

    def _run_together(self, statements):
        """Run statements as one transaction; returns the last one's first row.

        PostgreSQL: one round trip, and no planning. Statements sent in one query string run
        as one implicit transaction (no BEGIN and COMMIT of their own: a job's outcome and the
        next claim took five round trips, now one), and each is a prepared statement of this
        connection (planning them cost the server as much as running them; see
        bench/bench_pg.py). Never re-sent after a lost connection: had the server run them
        before the connection dropped, a second claim would be a second job."""
        if not self.is_sqlite:
            db = self.database
            prepared = self._prepared_on(db.connection())
            calls, params = [], []
            for query, query_params in statements:
                name = self._statement_names.setdefault(query, 'localq_%d' % len(self._statement_names))
                if name not in prepared:
                    numbered = iter(range(1, query.count('?') + 1))
                    db.execute_once('PREPARE %s AS %s' % (name, re.sub(r'\?', lambda _: '$%d' % next(numbered),
                                                                       query)))
                    prepared.add(name)
                calls.append('EXECUTE %s(%s)' % (name, ', '.join(['%s'] * len(query_params))))
                params.extend(query_params)
            return db.execute_once(';\n'.join(calls), tuple(params)).fetchone()
        with self.write_transaction():
            for query, params in statements[:-1]:
                self.sql(query, params)
            return self.sql(*statements[-1]).fetchone()   # before COMMIT: SQLite steps RETURNING to its end

    def _prepared_on(self, conn):
        """Names of the statements prepared on this connection (a reconnect starts a new set)."""
        known = getattr(self._local, 'prepared', None)
        if known is None or known[0] is not conn:
            known = self._local.prepared = (conn, set())
        return known[1]

    def _placeholders(self, query):
        return self._sql.get(query) or self._sql.setdefault(query, query.replace('?', self._param))

    def defer_until_next_claim(self, statements, job_id):
        """Write these statements (job_id's outcome) with this thread's next claim (or flush_deferred()).

        Why: a worker claims its next job right after finishing one; writing
        both in one transaction halves the commits (fsyncs with synchronous=FULL)
        per job. The outcome is committed before the next job starts."""
        self._local.deferred = (getattr(self._local, 'deferred', None) or []) + list(statements)
        self._local.deferred_jobs = (getattr(self._local, 'deferred_jobs', None) or []) + [job_id]

    def flush_deferred(self):
        deferred = getattr(self._local, 'deferred', None)
        if deferred:
            with self.write_transaction():
                for query, params in deferred:
                    self.sql(query, params)
            self._written(deferred)

    def _written(self, deferred):
        """The deferred outcomes are committed: their runs are no longer held."""
        self._local.deferred = None
        for job_id in getattr(self._local, 'deferred_jobs', None) or ():
            self.held.let_go(job_id)
        self._local.deferred_jobs = None

    def write_transaction(self):
        return write_transaction(self.database)

    def claimed_attempt(self, job_id):
        """The attempt number this thread's claim of job_id took (None if it did not claim it here).

        The fence of every write about a running job: if a rescuer released it after its lease
        ran out and another worker claimed it since, attempts moved on, and this holder's late
        outcome or progress matches no row: the job gets one outcome, not two."""
        claim = getattr(self._local, 'claim', None)
        return claim[1] if claim and claim[0] == job_id else None

    def queue_size(self):
        qsql, qparams = self._queue_filter()
        return self.sql('SELECT COUNT(*) FROM job WHERE %s AND eta <= ?%s' % (SQL_CLAIMABLE, qsql),
                        (time.time(),) + qparams).fetchone()[0]

    def enqueued_items(self, limit=None):
        qsql, qparams = self._queue_filter()
        rows = self.sql('SELECT message FROM job WHERE %s AND eta <= ?%s '
                        'ORDER BY priority DESC, eta LIMIT ?' % (SQL_CLAIMABLE, qsql),
                        (time.time(),) + qparams + (limit or -1 if self.is_sqlite else limit,))
        return [m.encode('utf-8') for m, in rows]

    def flush_queue(self):
        """Huey's flush_queue: the jobs ready to run (of this worker's queues) are dropped, kept
        as REVOKED 'flushed' rows rather than deleted, so their history stays readable."""
        self._flush('eta <= ?')

    def _flush(self, when):
        qsql, qparams = self._queue_filter()
        now = time.time()
        with self.write_transaction():
            flushed = self.sql("UPDATE job SET state = 'REVOKED', finished_at = ?, wait_reason = 'flushed' "
                               'WHERE %s AND %s%s RETURNING task' % (SQL_CLAIMABLE, when, qsql),
                               (now, now) + qparams)
            counters.count_unrun(self, [t for t, in flushed.fetchall()], REVOKED)

    # -- schedule: the claim honours eta, so there is no separate schedule --
    def add_to_schedule(self, data, ts):
        m = json.loads(bytes(data))['m']
        text = bytes(data).decode('utf-8')
        # Huey re-queues a retry here after the outcome hook; fenced like every write about a run,
        # so a run that lost its lease meanwhile does not re-queue the job its successor holds.
        attempt = self.claimed_attempt(m['id'])
        fence, fence_params = ('', ()) if attempt is None else (' AND attempts = ?', (attempt,))
        self.sql("UPDATE job SET message = ?, eta = ?, state = CASE WHEN %s THEN 'PENDING' "
                 'ELSE state END WHERE id = ?%s' % (SQL_RUNNING, fence), (text, to_epoch(ts), m['id']) + fence_params)

    def read_schedule(self, ts):
        return []

    def schedule_size(self):
        return self.sql('SELECT COUNT(*) FROM job WHERE %s AND eta > ?' % SQL_CLAIMABLE,
                        (time.time(),)).fetchone()[0]

    def scheduled_items(self, limit=None):
        rows = self.sql('SELECT message FROM job WHERE %s AND eta > ? ORDER BY eta' % SQL_CLAIMABLE,
                        (time.time(),)).fetchall()
        return [m.encode('utf-8') for m, in rows[:limit]]

    def flush_schedule(self):
        """Huey's flush_schedule: the jobs waiting for a later eta (countdown, retry) are dropped
        as flush_queue drops the ready ones. Huey.flush() (BaseStorage.flush_all) calls both."""
        self._flush('eta > ?')

    # -- rate limits --------------------------------------------------------
    def reserve_rate_slot(self, key, interval, now=None):
        """Reserve the next start slot of a rate-limited task; returns its time.

        One atomic statement, so every worker process shares the pace."""
        now = time.time() if now is None else now
        (next_at,) = self.sql(
            'INSERT INTO rate_slot (key, next_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE '
            'SET next_at = %s(rate_slot.next_at, ?) + ? RETURNING next_at' % ('MAX' if self.is_sqlite else 'GREATEST'),
            (key, now + interval, now, interval)).fetchone()
        return next_at - interval
