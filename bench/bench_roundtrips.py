"""Database calls per finished job: what one worker thread sends to the database for each no-op
job it claims, runs and finishes, grouped by statement (SQLite and PostgreSQL side by side).

    python bench/bench_roundtrips.py [--n 300] [--database-url URL]

On PostgreSQL each call is a network round trip, so this is the number behind the claim path's
design (storage.py `_run_together`: a job's outcome and the next claim go as one call; the
first cut took five). On SQLite a call is a library call, not a round trip; it is shown for
the shape. Without --database-url a throwaway PostgreSQL is started (bench_pg.start_postgres);
--no-postgres skips that side. Counts, not timings: they do not depend on the machine.
"""
import argparse
import collections
import os
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))

from bench_core import emit  # noqa: E402


class CountingCursor:
    """A DB-API cursor that counts the calls made from worker threads, by the statement's start."""

    def __init__(self, cursor, counts):
        self._cursor, self._counts = cursor, counts

    def execute(self, sql, *params):
        if threading.current_thread().name.startswith('Worker'):   # Huey's worker threads
            self._counts[' '.join(sql.split()[:3])] += 1
        return self._cursor.execute(sql, *params)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def count_calls(n, database_url=None):
    """({statement start: calls per job}, total calls per job) for n no-op jobs on one worker thread."""
    import bench_tasks
    from localq.models import Job
    from localq.worker import LocalqConsumer
    app = bench_tasks.app
    if database_url:
        from playhouse.db_url import connect
        db = connect(database_url)
        db.execute_sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public')
        db.close()
    app.configure(data_dir=tempfile.mkdtemp(prefix='localq-rt-'), database_url=database_url)
    app.setup()
    with app.write_transaction():
        for i in range(n):
            bench_tasks.noop.delay(i)
    database = app.query.database
    counts = collections.Counter()
    plain_cursor = database.cursor
    database.cursor = lambda *a, **k: CountingCursor(plain_cursor(*a, **k), counts)   # this instance only
    consumer = LocalqConsumer(app, workers=1)
    consumer.start_in_thread()
    try:
        while Job.select().where(Job.state == 'SUCCESS').count() < n:
            time.sleep(0.05)
    finally:
        consumer.shutdown()
        del database.cursor
        app.close()
    return {k: v / n for k, v in counts.most_common()}, sum(counts.values()) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=300)
    ap.add_argument('--database-url')
    ap.add_argument('--no-postgres', action='store_true')
    args = ap.parse_args()
    sides = [('sqlite', None)]
    stop_server = None
    if args.database_url:
        sides.append(('postgresql', args.database_url))
    elif not args.no_postgres:
        from bench_pg import start_postgres
        url, stop_server = start_postgres()
        sides.append(('postgresql', url))
    try:
        for label, url in sides:
            per_statement, total = count_calls(args.n, url)
            emit({'bench': 'calls_per_job', 'system': label, 'n': args.n, 'calls_per_job': round(total, 2),
                  'by_statement': {k: round(v, 2) for k, v in per_statement.items()}})
    finally:
        if stop_server:
            stop_server()


if __name__ == '__main__':
    main()
