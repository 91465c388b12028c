"""No statement that runs per job, per heartbeat, per prune or per dashboard refresh reads the
whole job table: each is served by an index, as its plan on a table of many rows shows.

The statements are not a hand-kept list: every SQL statement the code runs is recorded while a
real worker drains jobs of every kind (success, retry, failure, progress, a revoke while
running), its heartbeats beat, retention prunes, the text index catches up and the dashboard's
pages load; each distinct one is then explained (SQLite: EXPLAIN QUERY PLAN; PostgreSQL, with
LOCALQ_DATABASE_URL: EXPLAIN) against a job table of SEEDED rows. A statement added to any of
those paths is checked the day it is written."""
import re
import threading

import peewee
import pytest

from localq import states
from localq.db import is_sqlite
from localq.recovery import recover_stale_jobs
from localq.retention import prune_step
from localq.query import Query
from localq.textindex import catch_up
from localq.web import create_app
from localq.worker import LocalqConsumer
from tests.conftest import wait_for
from tests.sample_tasks import add, fail, flaky, gate, gates, loop_until_revoked, progress

SEEDED = 30000   # finished jobs already in the table, as after a day of work
BIG_TABLES = ('job', 'attempt')


class Recorder:
    """Every statement run through Peewee (and every statement of a claim's transaction, which
    PostgreSQL runs as prepared statements), with the parameters of its first run."""

    def __init__(self):
        self.seen, self.lock, self.on = {}, threading.Lock(), False

    def add(self, sql, params):
        if self.on:
            with self.lock:
                self.seen.setdefault(sql, tuple(params or ()))


@pytest.fixture
def recorder(monkeypatch):
    rec = Recorder()
    execute_sql = peewee.Database.execute_sql
    run_together = Query.run_together

    def recording_execute_sql(self, sql, params=None, *args, **kwargs):
        rec.add(sql, params)
        return execute_sql(self, sql, params, *args, **kwargs)

    def recording_run_together(self, statements):
        for query, params in statements:
            rec.add(self._placeholders(query), params)
        return run_together(self, statements)

    monkeypatch.setattr(peewee.Database, 'execute_sql', recording_execute_sql)
    monkeypatch.setattr(Query, "run_together", recording_run_together)
    return rec


def seed(app, n):
    """n finished jobs (one in ten failed) with an attempt each, finished over the last day."""
    db = app.database
    sqlite = is_sqlite(db)
    numbers = ('WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %d) '
               'SELECT n FROM seq' % n) if sqlite else 'SELECT generate_series(1, %d) AS n' % n
    with app.write_transaction():
        db.execute_sql(
            "INSERT INTO job (id, task, queue, priority, state, args, kwargs, message, attempts, max_retries, "
            "acks_late, ignore_result, queued_at, eta, started_at, finished_at, updated_at, worker, worker_pid, "
            "revoke_requested, waits_for, error_type) "
            "SELECT 'seed-' || n, 'tests.add', 'default', 0, CASE WHEN n - n / 10 * 10 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END, "
            "'[1, 2]', '{}', '{}', 1, 0, false, false, 1e9 + n, 1e9 + n, 1e9 + n, 1e9 + n + 1, 1e9 + n + 1, "
            "'old-worker', 1, false, 0, CASE WHEN n - n / 10 * 10 = 0 THEN 'ValueError' END FROM (%s) AS seq" % numbers)
        app.query.sql('INSERT INTO attempt (job_id, number, worker, started_at, finished_at, outcome) '
                             'SELECT id, 1, worker, started_at, finished_at, state FROM job WHERE id LIKE ?', ('seed-%',))
        if sqlite:   # the text index catches up with them, as the heartbeats would
            while catch_up(db, limit=n)[0]:
                pass
    if not sqlite:
        db.execute_sql('ANALYZE job')
        db.execute_sql('ANALYZE attempt')


def run_the_paths(app):
    """Jobs of every kind through a real worker with its heartbeats, a prune, the text index,
    and the dashboard's pages as a browser tab refreshes them."""
    gates.clear()
    consumer = LocalqConsumer(app, workers=2, name='plans-worker')
    consumer.start_in_thread()
    try:
        done = [add.delay(i, i) for i in range(20)] + [flaky.delay(1), fail.delay(3)]
        running = progress.delay('plans-progress')
        revoked = loop_until_revoked.delay('plans-loop')
        wait_for(lambda: gate('plans-loop').is_set(), what='the job to revoke running')
        wait_for(lambda: app.AsyncResult(running.id).state == 'PROCESSING', what='progress reported')
        # Two heartbeats beat with a job running: lease renewal, the sweep, revokes.
        beats = app.query.sql('SELECT last_seen FROM worker WHERE id = ?', ('plans-worker',)).fetchone()[0]
        wait_for(lambda: app.query.sql('SELECT last_seen FROM worker WHERE id = ?',
                                              ('plans-worker',)).fetchone()[0] > beats, timeout=10, what='a heartbeat')
        app.revoke(revoked.id)
        wait_for(lambda: app.AsyncResult(revoked.id).state == 'REVOKED', timeout=10, what='the revoke delivered')
        gate('plans-progress').set()
        for r in done + [running]:
            r.get(timeout=30, propagate=False)
        recover_stale_jobs(app)
        catch_up(app.database)
        # A prune step that has work to do: the cap lies below the table's size.
        app.config.keep_max_jobs = SEEDED - 100
        prune_step(app)
        client = create_app(app).test_client()
        for url in ('/', '/?partial=1', '/jobs', '/jobs?partial=1', '/jobs?state=FAILURE', '/jobs?state=STARTED',
                    '/jobs?state=PENDING', '/jobs?state=WAITING', '/jobs?task=tests.add', '/jobs/%s' % done[0].id, '/api/tasks',
                    '/api/overview', '/api/workers', '/api/queues/length', '/metrics', '/healthcheck', '/errors',
                    '/api/errors'):
            assert client.get(url).status_code == 200, url
    finally:
        consumer.shutdown()


WRITES_OR_READS = re.compile(r'^\s*(SELECT|UPDATE|DELETE|INSERT|WITH)\b', re.I)


def reads_big_table(sql):
    return any(re.search(r'\b%s\b' % table, sql, re.I) for table in BIG_TABLES)


def names_of_big_tables(sql):
    """The big tables and the aliases the statement gives them ('FROM "job" AS "t1"')."""
    names = set(BIG_TABLES)
    for table, alias in re.findall(r'\b"?(%s)"?\s+(?:AS\s+)?"?(\w+)"?' % '|'.join(BIG_TABLES), sql, re.I):
        if alias.upper() not in ('WHERE', 'SET', 'ON', 'INDEXED', 'GROUP', 'ORDER', 'LIMIT', 'VALUES', 'JOIN', 'AND'):
            names.add(alias)
    return names


def full_scans(db, sql, params):
    """The plan lines that read every row of a big table, on this database."""
    if is_sqlite(db):
        plan = [row[-1] for row in db.execute_sql('EXPLAIN QUERY PLAN ' + sql, params).fetchall()]
        # 'SCAN job' reads every row. A SEARCH reads a range of an index; 'SCAN job USING INDEX'
        # walks one in order (a partial one's few rows, or a page that stops at its LIMIT).
        names = names_of_big_tables(sql)
        return [line for line in plan if re.fullmatch(r'SCAN (TABLE )?"?(\w+)"?( AS \w+)?', line)
                and re.fullmatch(r'SCAN (TABLE )?"?(\w+)"?( AS \w+)?', line).group(2) in names]
    plan = [row[0] for row in db.execute_sql('EXPLAIN ' + sql, params).fetchall()]
    # PostgreSQL reads a table in order where most rows match and a LIMIT stops it early (the seeded
    # jobs are all past their age), and counts every row for COUNT(*) (SQLite walks a covering index
    # for those, allowed above): neither is what this test is after.
    if plan[0].startswith('Limit') or re.match(r'\s*SELECT COUNT\(\*\) FROM job\b', sql):
        return []
    return [line.strip() for line in plan if re.search(r'Seq Scan on "?(%s)"?\b' % '|'.join(BIG_TABLES), line)]


def test_no_periodic_or_per_job_statement_scans_the_job_table(app, recorder):
    seed(app, SEEDED)
    recorder.on = True
    run_the_paths(app)
    recorder.on = False
    statements = {sql: params for sql, params in recorder.seen.items()
                  if WRITES_OR_READS.match(sql) and reads_big_table(sql)}
    assert len(statements) > 30, sorted(statements)   # the recording saw the paths, not a few stray reads
    db = app.database
    scanning = {}
    for sql, params in statements.items():
        lines = full_scans(db, sql, params)
        if lines:
            scanning[sql] = lines
    assert not scanning, '\n\n'.join('%s\n  -> %s' % (sql, lines) for sql, lines in scanning.items())
    if is_sqlite(db):
        unpinned = {sql: lines for sql, lines in ((sql, not_by_claim_index(db, sql, params))
                                                  for sql, params in statements.items()) if lines}
        assert not unpinned, '\n\n'.join('%s\n  -> %s' % (sql, lines) for sql, lines in unpinned.items())
        by_id = {sql: lines for sql, lines in ((sql, not_by_key(db, sql, params)) for sql, params in statements.items())
                 if lines}
        assert not by_id, '\n\n'.join('%s\n  -> %s' % (sql, lines) for sql, lines in by_id.items())


def not_by_claim_index(db, sql, params):
    """A read of the claimable jobs (the claim, an idle worker's next eta, the queue's length) must
    walk job_claim, the few waiting jobs (SQLite). Without the full state index, a worker's task
    filter once led SQLite to the (task, queued_at) index instead: a SEARCH, not a SCAN, over every
    job of those tasks, 150 ms per idle wait at 50k rows. Returns the plan if it does not."""
    if not re.match(r'^\s*SELECT\b', sql, re.I) or not re.search(r"\bFROM (job|job INDEXED BY \w+) WHERE %s"
                                                              % re.escape(states.SQL_CLAIMABLE), sql):
        return []
    plan = [row[-1] for row in db.execute_sql('EXPLAIN QUERY PLAN ' + sql, params).fetchall()]
    return [] if any('job_claim' in line for line in plan) else plan


NAMES_ROWS_BY_ID = re.compile(r'^\s*(UPDATE|DELETE FROM)\s+"?job"?\s.*?\bWHERE\s+\(?"?(job"?\.)?"?id"?\s*(=|IN)\s', re.I | re.S)


def not_by_key(db, sql, params):
    """A write that names its jobs by id must find them by the key (SQLite). A state test beside
    the ids once led SQLite's planner (it keeps no statistics) to range over the state index
    instead: no full scan, but every finished row read per batch of 50, and pruning fell from
    ~2,000 to ~100 jobs a second at 400k rows. Returns the plan if it does not use the key."""
    if not NAMES_ROWS_BY_ID.match(sql):
        return []
    plan = [row[-1] for row in db.execute_sql('EXPLAIN QUERY PLAN ' + sql, params).fetchall()]
    outer = [line for line in plan if re.match(r'(SEARCH|SCAN) "?job"?\b', line)]
    return [] if outer and re.search(r'\(id=\?\)|INTEGER PRIMARY KEY|rowid=', outer[0]) else plan
