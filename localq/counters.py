"""Durable, monotonic counters of outcomes for /metrics, kept in the `outcome_counter` table.

Why a table: outcomes are written by every worker process (and host, on PostgreSQL) while
/metrics is served by the web process, and counting Job or Attempt rows at scrape time would go
down when retention prunes them. So each outcome also bumps one row, in the transaction that
writes it (tracking.py), and nothing ever deletes or lowers a row.

One row per (task, job state after the outcome, attempt outcome, runtime bucket): `n` outcomes,
`seconds` their total runtime (attempt start to end). A row without a runtime (a LOST attempt,
a job that expired before it ran) has le = ''; a job that ended without an attempt has attempt = ''.
On PostgreSQL each of those is split over up to SHARDS rows, one per server connection
(pg_backend_pid() mod SHARDS): with one row, every worker bumping a hot counter (a no-op task's
successes, all in its first bucket) would wait for the previous bumper's commit, since the row
stays locked until then, and commits would go one at a time (8 worker processes drained at half
the rate; bench/bench_pg.py). The server numbers its backends in turn, so workers that connect
together (on any host) get rows of their own. SQLite has one writer at a time anyway: one row.
Rows stay few (tasks x outcomes x buckets hit x connections), and a scrape sums them.
"""
import collections

from .states import FAILURE, PENDING, TERMINAL

# Upper bounds (seconds) of the runtime histogram's buckets: Prometheus' defaults, then longer
# ones for a task queue's long jobs. Fixed: rows name their bucket by its bound (Prometheus'
# spelling, as the `le` label shows it), so a changed list would mix old and new buckets.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
           30.0, 60.0, 300.0, 900.0, 3600.0)
INF = '+Inf'
LE = tuple(repr(b) for b in BUCKETS) + (INF,)

NO_RUNTIME = ''
SHARDS = 64   # at most this many rows per counter on PostgreSQL (see above)
SHARD_SQL = {True: '0', False: 'mod(pg_backend_pid(), %d)' % SHARDS}   # by storage.is_sqlite

# The job's state after an attempt that ended this way (tracking.JobTracker._finish).
STATE_AFTER = {'TIMEOUT': FAILURE, 'REJECTED': PENDING}   # a Reject(requeue=True) goes back to its queue

_UPSERT = ('ON CONFLICT (task, state, attempt, le, shard) DO UPDATE SET n = outcome_counter.n + excluded.n, '
           'seconds = outcome_counter.seconds + excluded.seconds')

# An outcome's statements may be sent twice: on PostgreSQL a connection can die after the server
# committed them and before the worker heard so; the worker sends them again with its next claim.
# Counting and recording an attempt is idempotent: only while the job's current attempt has no row.
# (Counted before that row is inserted, in the same transaction: tracking.JobTracker._finish.)
NOT_YET_RECORDED = ('AND NOT EXISTS (SELECT 1 FROM attempt WHERE attempt.job_id = job.id '
                    'AND attempt.number = job.attempts)')

# An attempt's outcome, timed from the job's started_at (the claim) to `now`, read from the row
# the outcome's UPDATE just stamped (updated_at = now), like the Attempt row: if that update
# applied to nothing (fenced out), nothing is counted. Fixed SQL with '?' only: on PostgreSQL it
# is prepared and rides on the worker's next claim (casts: a bare parameter in a select list
# would be typed text). `WHERE true`: SQLite's upsert after a SELECT needs a WHERE clause.
AFTER_ATTEMPT = {sqlite: (
    'INSERT INTO outcome_counter (task, state, attempt, le, shard, n, seconds) '
    'SELECT task, CAST(? AS TEXT), CAST(? AS TEXT), CASE %s ELSE \'%s\' END, %s, 1, runtime '
    'FROM (SELECT task, CASE WHEN started_at < CAST(? AS DOUBLE PRECISION) '
    'THEN CAST(? AS DOUBLE PRECISION) - started_at ELSE 0 END AS runtime '
    'FROM job WHERE id = ? AND updated_at = ? %s) AS ended WHERE true ' % (
        ' '.join("WHEN runtime <= %s THEN '%s'" % (le, le) for le in LE[:-1]), INF, shard, NOT_YET_RECORDED) + _UPSERT)
    for sqlite, shard in SHARD_SQL.items()}

# Outcomes without a runtime: (task, state, attempt, how many) given.
UNTIMED = {sqlite: ('INSERT INTO outcome_counter (task, state, attempt, le, shard, n, seconds) '
                   "VALUES (?, ?, ?, '', %s, ?, 0) " % shard + _UPSERT) for sqlite, shard in SHARD_SQL.items()}


def after_attempt(storage, job_id, outcome, now):
    """(sql, params) counting a timed attempt of job_id that ended with `outcome` at `now`."""
    return AFTER_ATTEMPT[storage.is_sqlite], (STATE_AFTER.get(outcome, outcome), outcome, now, now, job_id, now)


def untimed(storage, task, state, attempt='', n=1):
    """(sql, params) counting an outcome with no runtime (a lost attempt, an expiry)."""
    return UNTIMED[storage.is_sqlite], (task, state, attempt, n)


def count_unrun(storage, tasks, state):
    """Count jobs that ended in `state` without an attempt (revoked or flushed while waiting, a
    workflow member cancelled), given the task of each (an UPDATE's RETURNING task)."""
    for task, n in sorted(collections.Counter(tasks).items()):
        storage.sql(*untimed(storage, task, state, n=n))


def _bound(le):
    """le, or for a bucket of another list than BUCKETS, the smallest of ours that holds it."""
    if le in LE:
        return le
    try:
        return next((b for b in LE[:-1] if float(b) >= float(le)), INF)
    except ValueError:
        return INF


def read(storage):
    """Every task's counters, for /metrics: {task: {'finished': {state: n}, 'retries': n, 'lost': n,
    'buckets': [(le, cumulative n), ...] ending with '+Inf', 'count': n, 'seconds': total}}.
    Each task that has a row gets every key (zeros included), so its series exist from the start."""
    tasks = {}
    for task, state, attempt, le, n, seconds in storage.sql(
            'SELECT task, state, attempt, le, SUM(n), SUM(seconds) FROM outcome_counter '
            'GROUP BY task, state, attempt, le'):
        n = int(n)   # PostgreSQL's SUM of a bigint is a numeric (Decimal)
        t = tasks.get(task)
        if t is None:
            t = tasks[task] = {'finished': dict.fromkeys(sorted(TERMINAL), 0), 'retries': 0, 'lost': 0,
                               'per_bucket': dict.fromkeys(LE, 0), 'seconds': 0.0}
        if state in TERMINAL:
            t['finished'][state] += n
        if attempt == 'RETRY':
            t['retries'] += n
        elif attempt == 'LOST':
            t['lost'] += n
        if le != NO_RUNTIME:
            t['per_bucket'][_bound(le)] += n
            t['seconds'] += seconds or 0.0
    for t in tasks.values():
        total, cumulative = 0, []
        for le in LE:
            total += t['per_bucket'][le]
            cumulative.append((le, total))
        t['buckets'], t['count'] = cumulative, total
        del t['per_bucket']
    return tasks
