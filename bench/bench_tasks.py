"""Tasks for the benchmarks: localq's app and a bare SqliteHuey app, same no-op task.

The database paths come from BENCH_DB (localq data dir / huey file) so that
worker subprocesses open the same file as the benchmark script.
"""
import os
import time

from huey import SqliteHuey

from localq import LocalQ

app = LocalQ('bench')
huey = SqliteHuey('bench', filename=os.environ.get('BENCH_HUEY_DB', '/tmp/bench-huey.db'))


@app.task(name='bench.noop')
def noop(x):
    return x


@app.task(name='bench.started_at')
def started_at(x):
    return time.time()


@huey.task()
def huey_noop(x):
    return x


@huey.task()
def huey_started_at(x):
    return time.time()
