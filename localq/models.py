"""Peewee models: one Job row per enqueued call, one Attempt row per finished execution.

Times are UNIX seconds in DoubleFields (8-byte; PostgreSQL's REAL would round them to minutes).
"""
import peewee as pw

from .db import database
from .states import SQL_CLAIMABLE, SQL_RUNNING


class BaseModel(pw.Model):
    class Meta:
        database = database


class Job(BaseModel):
    """One enqueued call of a task; its id is the task id users hold."""
    id = pw.CharField(primary_key=True, max_length=64)
    task = pw.CharField(max_length=200)
    queue = pw.CharField(max_length=100, default='default')
    priority = pw.IntegerField(default=0)
    state = pw.CharField(max_length=40, default='PENDING')
    args = pw.TextField(default='[]')          # JSON, for people and search
    kwargs = pw.TextField(default='{}')        # JSON
    message = pw.TextField()                   # the Huey message, JSON: what a worker runs
    meta = pw.TextField(null=True)             # JSON from update_state(meta=...)
    result = pw.TextField(null=True)           # JSON return value
    error_type = pw.CharField(max_length=200, null=True)
    error_message = pw.TextField(null=True)
    traceback = pw.TextField(null=True)
    attempts = pw.IntegerField(default=0)      # executions started so far
    max_retries = pw.IntegerField(default=0)
    acks_late = pw.BooleanField(default=False)
    ignore_result = pw.BooleanField(default=False)
    idempotency_key = pw.CharField(max_length=200, null=True)   # unique where set: job_idempotency_key
    queued_at = pw.DoubleField()
    eta = pw.DoubleField()                      # not claimed before this time
    expires_at = pw.DoubleField(null=True)
    started_at = pw.DoubleField(null=True)
    finished_at = pw.DoubleField(null=True)
    updated_at = pw.DoubleField(null=True)      # last outcome written by a worker
    worker = pw.CharField(max_length=200, null=True)
    worker_pid = pw.IntegerField(null=True)
    lease_until = pw.DoubleField(null=True)     # a running job whose lease passes is lost
    wait_reason = pw.CharField(max_length=200, null=True)
    revoke_requested = pw.BooleanField(default=False)
    # Per-key concurrency (@task(concurrency_key=..., concurrency_limit=N)): at most limit runs
    # of jobs with this key are STARTED with a live lease at once (storage.py's claim).
    concurrency_key = pw.CharField(max_length=200, null=True)
    concurrency_limit = pw.IntegerField(null=True)
    # Workflows (canvas.py): the first job (or group) of this job's workflow; the job (or group)
    # whose result it waits for; the group its own result belongs to, at which position; and how
    # many parents must still succeed before it is released (WAITING -> PENDING).
    root_id = pw.CharField(max_length=64, null=True)
    parent_id = pw.CharField(max_length=64, null=True)
    group_id = pw.CharField(max_length=64, null=True)
    group_index = pw.IntegerField(null=True)
    waits_for = pw.IntegerField(default=0)
    error_group = pw.CharField(max_length=16, null=True)   # a failure's group (errorgroups.py)

    class Meta:
        table_name = 'job'
        indexes = (
            (('queued_at',), False),
            (('task', 'queued_at'), False),   # the jobs list filtered by task, newest first
        )


class Attempt(BaseModel):
    """One execution of a job, written when it ends (success, error, retry, lost)."""
    # index=False: attempt_job (job_id, number) serves the key and the cascade; Peewee's own
    # attempt_job_id index duplicated it, at ~1.8 KB of WAL a job (bench_bytes.py).
    job = pw.ForeignKeyField(Job, backref='attempt_rows', on_delete='CASCADE', column_name='job_id', index=False)
    number = pw.IntegerField()
    worker = pw.CharField(max_length=200, null=True)
    started_at = pw.DoubleField(null=True)
    finished_at = pw.DoubleField()
    outcome = pw.CharField(max_length=40)
    error_type = pw.CharField(max_length=200, null=True)
    error_message = pw.TextField(null=True)
    traceback = pw.TextField(null=True)

    class Meta:
        table_name = 'attempt'


class WorkerRecord(BaseModel):
    """A running consumer process, kept alive by its heartbeat."""
    id = pw.CharField(primary_key=True, max_length=200)
    host = pw.CharField(max_length=200)
    pid = pw.IntegerField()
    queues = pw.CharField(max_length=500)
    concurrency = pw.IntegerField()
    worker_type = pw.CharField(max_length=20)
    started_at = pw.DoubleField()
    last_seen = pw.DoubleField()
    stopped_at = pw.DoubleField(null=True)
    processed = pw.IntegerField(default=0)
    stop_requested = pw.DoubleField(null=True)   # set from the dashboard; its heartbeat stops it gracefully

    class Meta:
        table_name = 'worker'


class WorkerTask(BaseModel):
    """A task a worker has (registered when it starts). A worker claims only jobs of tasks it has;
    the others' pages say which tasks the running workers have (LocalQ.missing_task_note)."""
    worker = pw.CharField(max_length=200)
    task = pw.CharField(max_length=200)

    class Meta:
        table_name = 'worker_task'
        primary_key = pw.CompositeKey('worker', 'task')


class QueuePause(BaseModel):
    """A paused queue: workers skip it until the row is removed."""
    name = pw.CharField(primary_key=True, max_length=100)
    paused_at = pw.DoubleField()

    class Meta:
        table_name = 'queue_pause'


class KeyValue(BaseModel):
    """Huey's key/value storage (task locks, chords)."""
    queue = pw.CharField(max_length=100)
    key = pw.CharField(max_length=300)
    value = pw.BlobField()

    class Meta:
        table_name = 'kv'
        primary_key = pw.CompositeKey('queue', 'key')


class Counter(BaseModel):
    """Huey's counters (chords)."""
    queue = pw.CharField(max_length=100)
    key = pw.CharField(max_length=300)
    value = pw.IntegerField(default=0)

    class Meta:
        table_name = 'counter'
        primary_key = pw.CompositeKey('queue', 'key')


class RateSlot(BaseModel):
    """Next free start time of each rate-limited task, shared by all workers."""
    key = pw.CharField(primary_key=True, max_length=300)
    next_at = pw.DoubleField()

    class Meta:
        table_name = 'rate_slot'


class OutcomeCounter(BaseModel):
    """Outcomes counted for /metrics (counters.py): bumped with each outcome, never lowered, so
    they outlive the Job and Attempt rows retention prunes. One row per task, the job's state
    after the outcome, the attempt's outcome ('' if none), runtime bucket ('' if untimed) and
    shard (PostgreSQL: a counter is split over a few rows, so workers do not queue for one)."""
    task = pw.CharField(max_length=200)
    state = pw.CharField(max_length=40)
    attempt = pw.CharField(max_length=40)
    le = pw.CharField(max_length=20)
    shard = pw.SmallIntegerField(default=0)
    n = pw.BigIntegerField(default=0)
    seconds = pw.DoubleField(default=0)

    class Meta:
        table_name = 'outcome_counter'
        primary_key = pw.CompositeKey('task', 'state', 'attempt', 'le', 'shard')


ALL_MODELS = [Job, Attempt, WorkerRecord, WorkerTask, QueuePause, KeyValue, Counter, RateSlot, OutcomeCounter]


# Columns added after the first release: a data folder made before them gets them on open.
LATER_COLUMNS = {'job': ('root_id', 'parent_id', 'group_id', 'group_index', 'waits_for', 'error_group',
                         'concurrency_key', 'concurrency_limit'),
                 'worker': ('stop_requested',)}


def add_missing_columns(db, model, names):
    """Add columns of `model` that an older data folder's table lacks, each in one
    ALTER TABLE ... ADD COLUMN (with its default, so NOT NULL holds for the existing rows).

    Not playhouse.migrate: on SQLite it adds a NOT NULL column by copying the table, and the
    copy's DROP TABLE fails while other tables reference it (attempt -> job)."""
    table = model._meta.table_name
    have = {c.name for c in db.get_columns(table)}
    for name in names:
        field = model._meta.fields[name]
        if field.column_name in have:
            continue
        ctx = db.get_sql_context()
        ddl = ctx.sql(field.ddl(ctx)).query()[0]
        if not field.null and field.default is not None and not callable(field.default):
            ddl += ' DEFAULT %s' % (field.default if isinstance(field.default, (int, float))
                                    else "'%s'" % str(field.default).replace("'", "''"))
        db.execute_sql('ALTER TABLE "%s" ADD COLUMN %s' % (table, ddl))


def create_extra_indexes(db):
    """Indexes Peewee's Meta cannot express (partial, DESC), and renames of older ones."""
    add_missing_columns(db, Job, LATER_COLUMNS['job'])
    add_missing_columns(db, WorkerRecord, LATER_COLUMNS['worker'])
    # Claim order. The queue is the last column, so the claim's queue filter
    # and the overview's per-queue counts are read from the index alone.
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS job_claim ON job (priority DESC, eta, queue) WHERE ' + SQL_CLAIMABLE)
    # Running jobs. SQLite uses a partial index only for a query with the same predicate,
    # so the index is made from the one constant the queries use.
    db.execute_sql('CREATE INDEX IF NOT EXISTS job_active ON job (lease_until) WHERE ' + SQL_RUNNING)
    # Finished jobs (finished_at is set exactly when a job is SUCCESS, FAILURE or REVOKED): counts
    # per state, the finished tabs' order, per-minute throughput, failures per queue and pruning
    # are ranges of this one index. Partial, so that a job enters it once, when it ends, instead
    # of moving through it at its enqueue, claim and outcome (~3 KB of WAL a job, bench_bytes.py).
    # A query uses it only if it says `finished_at IS NOT NULL` or compares finished_at.
    db.execute_sql('CREATE INDEX IF NOT EXISTS job_finished ON job (state, finished_at, queue) '
                   'WHERE finished_at IS NOT NULL')
    # Idempotency keys are unique where set; most jobs have none, and leave no entry. (Data folders
    # made before this have the full unique index of the same name: it still works.)
    db.execute_sql('CREATE UNIQUE INDEX IF NOT EXISTS job_idempotency_key ON job (idempotency_key) '
                   'WHERE idempotency_key IS NOT NULL')
    db.execute_sql('CREATE INDEX IF NOT EXISTS attempt_job ON attempt (job_id, number)')
    # Workflows: the members waiting for a job or group, a group's members, a workflow's members.
    db.execute_sql("CREATE INDEX IF NOT EXISTS job_waiting ON job (parent_id) WHERE state = 'WAITING'")
    db.execute_sql('CREATE INDEX IF NOT EXISTS job_group ON job (group_id, group_index) WHERE group_id IS NOT NULL')
    # Per-key concurrency: the running jobs holding a key (the claim counts them).
    db.execute_sql('CREATE INDEX IF NOT EXISTS job_key_running ON job (concurrency_key, lease_until) '
                   'WHERE concurrency_key IS NOT NULL')
    db.execute_sql('CREATE INDEX IF NOT EXISTS job_root ON job (root_id) WHERE root_id IS NOT NULL')
    # Error groups (monitor/errors.py): failed jobs only, by group then time.
    db.execute_sql('CREATE INDEX IF NOT EXISTS job_error_group ON job (error_group, finished_at) '
                   'WHERE error_group IS NOT NULL')
    # Replaced by the ones above (data folders made before the dashboard, before workflows).
    for old in ('job_ready', 'job_state_finished_at', 'job_task', 'job_running', 'job_state_done', 'attempt_job_id'):
        db.execute_sql('DROP INDEX IF EXISTS %s' % old)
