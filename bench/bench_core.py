"""localq vs bare Huey SqliteHuey, side by side in one run: enqueue, drain, pickup latency.

    python bench/bench_core.py [--n 10000] [--reps 3] [--what enqueue,drain,latency]

Both use the same no-op task, a fresh file per repetition, WAL, and workers in
a separate process started after the queue is filled (start-up included, as
in shared/anchors). Huey runs with its defaults (synchronous FULL); localq is
measured with its default (NORMAL) and with FULL. Prints one JSON line per
measurement and a ratio table at the end.
"""
import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))


def pct(xs, p):
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def emit(record):
    print(json.dumps(record, sort_keys=True), flush=True)


class LocalqSide:
    label = 'localq'

    def __init__(self, scratch, synchronous):
        self.scratch, self.synchronous = scratch, synchronous
        self.label = 'localq(sync=%s)' % synchronous

    def fresh(self):
        import bench_tasks
        self.dir = tempfile.mkdtemp(dir=self.scratch)
        bench_tasks.app.configure(data_dir=self.dir, synchronous=self.synchronous, database_url='')
        bench_tasks.app.setup()
        self.mod = bench_tasks

    def enqueue(self, i):
        self.mod.noop.delay(i)

    def done_count(self):
        return self.mod.app.query.sql("SELECT COUNT(*) FROM job WHERE state = 'SUCCESS'").fetchone()[0]

    def worker_argv(self, workers, kind):
        return [sys.executable, '-m', 'localq.cli', '-A', 'bench_tasks:app', '--data-dir', self.dir, 'worker',
                '-c', str(workers), '-P', kind]

    def env(self):
        return {'LOCALQ_SYNCHRONOUS': self.synchronous}

    def started_at(self, i):
        return self.mod.started_at.delay(i)

    def get(self, handle):
        return handle.get(timeout=60, interval=0.0005)

    def close(self):
        self.mod.app.database.close()


class HueySide:
    label = 'huey(SqliteHuey)'

    def __init__(self, scratch):
        self.scratch = scratch

    def fresh(self):
        self.path = os.path.join(tempfile.mkdtemp(dir=self.scratch), 'huey.db')
        os.environ['BENCH_HUEY_DB'] = self.path
        import importlib
        import bench_tasks
        self.mod = importlib.reload(bench_tasks)

    def enqueue(self, i):
        self.mod.huey_noop(i)

    def done_count(self):
        return self.mod.huey.result_count()

    def worker_argv(self, workers, kind):
        return [sys.executable, '-m', 'huey.bin.huey_consumer', 'bench_tasks.huey', '-w', str(workers),
                '-k', kind, '-q']

    def env(self):
        return {'BENCH_HUEY_DB': self.path}

    def started_at(self, i):
        return self.mod.huey_started_at(i)

    def get(self, handle):
        return handle.get(blocking=True, timeout=60, backoff=1.0, max_delay=0.0005)

    def close(self):
        self.mod.huey.storage.close()


def spawn(argv, env):
    full = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, 'bench')]))
    full.update(env)   # may name another checkout's code (bench_pg.py --baseline)
    return subprocess.Popen(argv, env=full, cwd=os.path.join(ROOT, 'bench'), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def bench_enqueue(side, n, reps, bulk=False):
    """n enqueues one by one; with bulk, all in one transaction (localq's db.atomic(); Huey has none)."""
    times = []
    for _ in range(reps):
        side.fresh()
        t0 = time.perf_counter()
        with side.mod.app.database.atomic() if bulk else contextlib.nullcontext():
            for i in range(n):
                side.enqueue(i)
        times.append(time.perf_counter() - t0)
        side.close()
    rate = n / statistics.median(times)
    emit({'bench': 'enqueue_bulk' if bulk else 'enqueue', 'system': side.label, 'n': n,
          'tasks_per_s': round(rate, 1)})
    return rate


class TxnCounter:
    """Counts SQLite write transactions from the statements a connection runs."""

    def __init__(self):
        self.count, self.in_txn = 0, {}

    def attach(self, conn):
        key = id(conn)
        self.in_txn[key] = False

        def trace(sql):
            head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ''
            if head == 'BEGIN':
                self.in_txn[key] = True
                self.count += 1
            elif head in ('COMMIT', 'ROLLBACK', 'END'):
                self.in_txn[key] = False
            elif head in ('INSERT', 'UPDATE', 'DELETE', 'REPLACE') and not self.in_txn[key]:
                self.count += 1
        conn.set_trace_callback(trace)


def bench_txns(side, n):
    """Write transactions per job: n enqueues, then an in-process 1-thread worker drains them."""
    import sqlite3
    counter = TxnCounter()
    original_connect = sqlite3.connect

    def counting_connect(*a, **k):
        conn = original_connect(*a, **k)
        counter.attach(conn)
        return conn
    sqlite3.connect = counting_connect
    try:
        side.fresh()
        for i in range(n):
            side.enqueue(i)
        enqueue_txns = counter.count
        if isinstance(side, LocalqSide):
            from localq.worker import LocalqConsumer
            consumer = LocalqConsumer(side.mod.app, workers=1)
            consumer.start_in_thread()
            stop_consumer = consumer.shutdown
        else:
            consumer = side.mod.huey.create_consumer(workers=1, initial_delay=0.001, max_delay=0.01)
            consumer._set_signal_handlers = lambda: None
            consumer.start()
            stop_consumer = lambda: consumer.stop(graceful=True)  # noqa: E731
        while side.done_count() < n:
            time.sleep(0.02)
        stop_consumer()
        total = counter.count
        side.close()
    finally:
        sqlite3.connect = original_connect
    record = {'bench': 'write_txns_per_job', 'system': side.label, 'n': n,
              'enqueue': round(enqueue_txns / n, 2), 'drain': round((total - enqueue_txns) / n, 2),
              'total': round(total / n, 2)}
    emit(record)
    return record


def bench_drain(side, n, reps, workers, kind):
    times = []
    for _ in range(reps):
        side.fresh()
        for i in range(n):
            side.enqueue(i)
        t0 = time.perf_counter()
        proc = spawn(side.worker_argv(workers, kind), side.env())
        try:
            while side.done_count() < n:
                if proc.poll() is not None:
                    raise SystemExit('%s worker exited early' % side.label)
                time.sleep(0.02)
            times.append(time.perf_counter() - t0)
        finally:
            stop(proc)
            side.close()
    rate = n / statistics.median(times)
    emit({'bench': 'drain', 'system': side.label, 'n': n, 'workers': '%d %s' % (workers, kind),
          'tasks_per_s': round(rate, 1), 'all_s': [round(t, 2) for t in times]})
    return rate


def bench_latency(side, samples):
    side.fresh()
    proc = spawn(side.worker_argv(1, 'thread'), side.env())
    rng = random.Random(42)
    lats = []
    try:
        side.get(side.started_at(-1))  # worker is up
        for i in range(samples):
            time.sleep(rng.uniform(0.02, 0.2))
            t0 = time.time()
            lats.append((side.get(side.started_at(i)) - t0) * 1000)
    finally:
        stop(proc)
        side.close()
    record = {'bench': 'latency', 'system': side.label, 'samples': samples,
              'p50_ms': round(pct(lats, 50), 2), 'p99_ms': round(pct(lats, 99), 2)}
    emit(record)
    return record


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=10000)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--samples', type=int, default=100)
    ap.add_argument('--what', default='enqueue,bulk,txns,drain,latency')
    ap.add_argument('--drain-configs', default='1:thread,4:thread,2:process,4:process')
    args = ap.parse_args()
    what = args.what.split(',')
    scratch = tempfile.mkdtemp(prefix='localq-bench-')
    sides = [HueySide(scratch), LocalqSide(scratch, 'NORMAL'), LocalqSide(scratch, 'FULL')]
    table = []
    try:
        if 'enqueue' in what:
            rates = [bench_enqueue(s, args.n, args.reps) for s in sides]
            table.append(('enqueue tasks/s', rates))
        if 'bulk' in what:
            rates = [bench_enqueue(s, args.n, args.reps, bulk=True) for s in sides[1:]]
            table.append(('bulk enqueue tasks/s', [float('nan')] + rates))
        if 'txns' in what:
            recs = [bench_txns(s, min(args.n, 2000)) for s in sides]
            table.append(('write txns per job', [r['total'] for r in recs]))
        if 'drain' in what:
            for cfg in args.drain_configs.split(','):
                w, kind = cfg.split(':')
                rates = [bench_drain(s, args.n, args.reps, int(w), kind) for s in sides]
                table.append(('drain %s tasks/s' % cfg, rates))
        if 'latency' in what:
            recs = [bench_latency(s, args.samples) for s in sides]
            table.append(('pickup p50 ms', [r['p50_ms'] for r in recs]))
            table.append(('pickup p99 ms', [r['p99_ms'] for r in recs]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print('\n%-24s %14s %16s %16s %10s %10s' % ('measurement', sides[0].label, sides[1].label, sides[2].label,
                                               'ratio N/h', 'ratio F/h'))
    for name, (h, ln, lf) in table:
        print('%-24s %14.1f %16.1f %16.1f %9.2fx %9.2fx' % (name, h, ln, lf, ln / h, lf / h))


if __name__ == '__main__':
    main()
