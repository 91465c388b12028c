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

This module is Huey's storage interface and nothing else: the SQL runs through the app's
`Query` (query.py), every later change of a job is lifecycle.py's, and the app's own reads
(dashboard, documents, lab, CLI) use `app.query`, not the storage. localq's enqueue hands
`insert()` an explicit `JobRow`; Huey's own `enqueue(data)` builds one from the message.
"""
import dataclasses
import datetime
import json
import os
import threading
import time

from huey.storage import BaseStorage

from . import lifecycle
from .keyvalue import KeyValueStore
from .leases import HeldRuns
from .states import RUNNING, SQL_CLAIMABLE, where


def to_epoch(dt):
    """Huey's naive-UTC datetime (or None) as UNIX seconds."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


class TaskRoute:
    """What the storage needs to know about a task to write its row."""
    __slots__ = ('name', 'queue', 'max_retries', 'acks_late', 'ignore_result', 'keyed')

    def __init__(self, name=None, queue=None, max_retries=0, acks_late=False, ignore_result=False, keyed=False):
        self.name, self.queue, self.max_retries = name, queue, max_retries
        self.acks_late, self.ignore_result, self.keyed = acks_late, ignore_result, keyed


DEFAULT_ROUTE = TaskRoute()


@dataclasses.dataclass
class JobRow:
    """A job's row as it is queued: what Huey's message says, and what it has no field for
    (the queue, the idempotency key, a workflow member's links)."""
    id: str
    task: str
    message: str                 # Huey's message, serialized (serializer.py)
    args: str                    # JSON text, for the dashboard's reads
    kwargs: str
    eta: float
    queue: str = None            # None: the task's, else the app's default
    priority: int = 0
    expires_at: float = None
    idempotency_key: str = None
    state: str = 'PENDING'       # WAITING: a workflow member waiting for its parents
    root_id: str = None
    parent_id: str = None
    group_id: str = None
    group_index: int = None
    waits_for: int = 0
    concurrency_key: str = None   # at most concurrency_limit of its key's jobs run at once
    concurrency_limit: int = None

# Huey names a task's class after the module of the function it registers (always
# localq.task: Task._execute) and the task's name; a message names its task that way.
HUEY_PREFIX = 'localq.task.'

# Per-key concurrency: a job with a key is claimable while fewer than its limit of runs with that
# key are STARTED with a live lease (a dead holder's lease runs out: its slot is free again, and
# recovery requeues it). A job without a key pays one NULL test. SQLite serialises claims by its
# write lock, so the count is exact there. (On PostgreSQL two READ COMMITTED claimers can both see
# one free slot: _key_lock serialises the claims of workers with keyed tasks.)
KEY_CLAIM_LOCK = 0x6c6f636b   # the advisory lock id of keyed claims (PostgreSQL)
SQL_KEY_FREE = ('(SELECT COUNT(*) FROM job AS holder WHERE holder.concurrency_key = job.concurrency_key '
                'AND %s AND holder.lease_until > ?) < job.concurrency_limit' % where(RUNNING, 'holder.state'))


# What a claim writes (the queue's claim and `claim_by_id`): parameters now, worker, pid, lease end.
CLAIM_SET = ("UPDATE job SET state = 'STARTED', started_at = ?, worker = ?, worker_pid = ?, "
             'lease_until = ?, attempts = attempts + 1, finished_at = NULL ')


def task_name(huey_name):
    """The task name in a Huey message name ('localq.task.documents.process' -> 'documents.process')."""
    return huey_name[len(HUEY_PREFIX):] if huey_name.startswith(HUEY_PREFIX) else huey_name



class JobStorage(KeyValueStore, BaseStorage):
    blocking = False  # idle waiting is the worker's job (worker.py)

    # query: the app's Query (opens the database on first use, whatever that use is: an enqueue,
    # a result read, a worker's claim); routes: Huey's registry string of a task -> its
    # TaskRoute (set by Task); held: the app's HeldRuns.
    def __init__(self, name='localq', query=None, routes=None, held=None, **kwargs):
        super().__init__(name)
        self.query = query
        self.routes = routes if routes is not None else {}
        self.queues = None          # None: every queue; set by a worker
        self.known_tasks = None     # None: every task; a worker sets the names it has (claim_filter)
        self.default_queue = 'default'   # of a task declared without queue= (the app's setting)
        self.worker_id = None
        self.lease_seconds = 15.0     # a claim's lease: the app's lease_timeout
        self.held = held if held is not None else HeldRuns()   # the runs this process claimed, until their outcome
        self._local = threading.local()
        self.app = None   # the LocalQ: a flush revokes through its lifecycle, which moves workflows

    # -- plumbing ---------------------------------------------------------
    def sql(self, query, params=()):
        return self.query.sql(query, params)

    @property
    def is_sqlite(self):
        return self.query.is_sqlite

    def close(self):
        """Close this thread's connection (Huey calls it before forking workers)."""
        return self.query.close()

    def after_fork(self):
        """A forked worker process opens its own connection (Query.after_fork) and holds no run."""
        self.query.after_fork()
        self._local = threading.local()
        self.held.clear()   # the parent's runs are the parent's

    def _queue_filter(self):
        if not self.queues:
            return '', ()
        return ' AND queue IN (%s)' % ','.join('?' * len(self.queues)), tuple(self.queues)

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
        """Huey's enqueue (its immediate mode, its own re-queues): the row from the message."""
        m = json.loads(bytes(data))['m']
        route = self.routes.get(m['name'], DEFAULT_ROUTE)
        eta, expires = m.get('eta'), m.get('expires_resolved')
        self.insert(JobRow(
            id=m['id'], task=route.name or task_name(m['name']), message=bytes(data).decode('utf-8'),
            args=json.dumps(m['args']), kwargs=json.dumps(m['kwargs']), priority=int(priority or 0),
            eta=to_epoch(datetime.datetime.fromisoformat(eta['$dt'])) if eta else time.time(),
            expires_at=to_epoch(datetime.datetime.fromisoformat(expires['$dt'])) if expires else None), route)

    def insert(self, row, route=None):
        """Queue a job: one INSERT of its row, on the caller's connection (so inside the caller's
        transaction if one is open). A retry or a re-queue sends an id that exists: its message and
        eta are refreshed and its history kept; a waiting, revoked or finished row stays so."""
        route = route or self.routes.get(HUEY_PREFIX + row.task, DEFAULT_ROUTE)
        self.query.write(
            'INSERT INTO job (id, task, queue, priority, state, args, kwargs, message, '
            'attempts, max_retries, acks_late, ignore_result, idempotency_key, queued_at, eta, '
            'expires_at, revoke_requested, root_id, parent_id, group_id, group_index, waits_for, '
            'concurrency_key, concurrency_limit) '
            'VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) '
            'ON CONFLICT (id) DO UPDATE SET message = excluded.message, eta = excluded.eta, '
            "state = CASE WHEN %s THEN 'PENDING' ELSE job.state END" % lifecycle.RESEND.where.replace(
                'state', 'job.state', 1),
            (row.id, row.task, row.queue or route.queue or self.default_queue, row.priority, row.state, row.args,
             row.kwargs, row.message, route.max_retries, route.acks_late, route.ignore_result, row.idempotency_key,
             time.time(), row.eta, row.expires_at, False, row.root_id, row.parent_id, row.group_id, row.group_index,
             row.waits_for, row.concurrency_key, row.concurrency_limit))
        # Idle workers of other processes learn of it from the commit itself (wakeup.py).

    def dequeue(self):
        now = time.time()
        claim = self._claim_statement(now)
        deferred = getattr(self._local, 'deferred', None)
        if deferred:
            # The previous job's outcome and the next claim, in one transaction.
            row = self.query.run_together(list(deferred) + self._key_lock() + [claim])
            self._written(deferred)
        elif self.is_sqlite and not self._anything_ready(now):
            return None   # SQLite: a cheap read first, so an idle worker never takes the write lock
        else:
            row = self.query.run_together(self._key_lock() + [claim])
        return self._claimed(row)

    def _claimed(self, row):
        """After a claim's (message, id, attempt): this thread's fence, and a run this process holds."""
        if row is None:
            return None
        self._local.claim = (row[1], row[2])
        self.held.hold(row[1], row[2])   # its lease is renewed until its outcome is written (leases.py)
        return row[0].encode('utf-8')

    def _key_lock(self):
        """PostgreSQL, for a worker that has a task with a concurrency_key: a transaction-scoped
        advisory lock before the claim, so claims that may take a keyed job run one at a time and
        each one's count (a new snapshot, in READ COMMITTED) sees the others' commits. Why not a
        lock per key: the key is not known before the claim picks its job. Workers without keyed
        tasks never claim keyed jobs (claim_filter) and take no lock."""
        if self.is_sqlite or not any(r.keyed for r in self.routes.values()):
            return []
        return [('SELECT pg_advisory_xact_lock(?)', (KEY_CLAIM_LOCK,))]

    def _anything_ready(self, now):
        # (Not on PostgreSQL: there a claim that finds nothing is as cheap, and a round trip fewer.)
        qsql, qparams = self.claim_filter(now)
        return self.sql('SELECT 1 FROM %s WHERE %s AND eta <= ?%s LIMIT 1' % (
            self.query.table_by('job_claim'), SQL_CLAIMABLE, qsql), (now,) + qparams).fetchone() is not None

    def _claim_statement(self, now):
        """The claim: one UPDATE of the first ready job in claim order (priority, then eta) among
        this worker's queues and tasks (claim_filter), skipping paused queues, returning (message, id,
        attempt number)."""
        qsql, qparams = self.claim_filter(now)
        lock = '' if self.is_sqlite else ' FOR UPDATE SKIP LOCKED'
        return (
            CLAIM_SET + 'WHERE id = (SELECT id FROM %s WHERE %s AND eta <= ?%s '
            'AND queue NOT IN (SELECT name FROM queue_pause) '
            'AND (concurrency_key IS NULL OR %s) '
            'ORDER BY priority DESC, eta LIMIT 1%s) AND %s '
            'RETURNING message, id, attempts' % (self.query.table_by('job_claim'), SQL_CLAIMABLE, qsql, SQL_KEY_FREE,
                                                 lock, SQL_CLAIMABLE),
            (now, self.worker_id, os.getpid(), now + self.lease_seconds, now) + qparams + (now,))

    def claim_by_id(self, job_id):
        """Claim this job now, whatever its eta, queue or key: a person asked for it to run here
        (`localq replay --record`). Returns its message, or None if it is not waiting to run."""
        now = time.time()
        return self._claimed(self.sql(
            CLAIM_SET + 'WHERE id = ? AND %s RETURNING message, id, attempts' % SQL_CLAIMABLE,
            (now, self.worker_id, os.getpid(), now + self.lease_seconds, job_id)).fetchone())

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
            with self.query.write_transaction():
                for query, params in deferred:
                    self.sql(query, params)
            self._written(deferred)

    def _written(self, deferred):
        """The deferred outcomes are committed: their runs are no longer held."""
        self._local.deferred = None
        for job_id in getattr(self._local, 'deferred_jobs', None) or ():
            self.held.let_go(job_id)
        self._local.deferred_jobs = None

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
        lifecycle.revoke_waiting(self.app, '%s%s' % (when, qsql), (time.time(),) + qparams, 'flushed',
                                 move=lifecycle.FLUSH)

    # -- schedule: the claim honours eta, so there is no separate schedule --
    def add_to_schedule(self, data, ts):
        m = json.loads(bytes(data))['m']
        text = bytes(data).decode('utf-8')
        # Huey re-queues a retry here after the outcome hook; fenced like every write about a run,
        # so a run that lost its lease meanwhile does not re-queue the job its successor holds.
        lifecycle.reschedule(self.query, m['id'], text, to_epoch(ts), self.claimed_attempt(m['id']))

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
