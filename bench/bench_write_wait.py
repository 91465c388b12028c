"""How long a write transaction waits for SQLite's write lock when several processes write at once:
localq's write turns (localq/writeturn.py) beside SQLite's own busy handler, in the same run.

    python bench/bench_write_wait.py [--processes 6] [--threads 2] [--seconds 10] [--hold-ms 1]

Each of --processes processes runs --threads threads; each thread opens a write transaction
(db.write_transaction, as a claim or an enqueue does) every 0-4 ms, holds it --hold-ms with a
small INSERT, commits, and records how long it waited to get in. Printed per side: transactions
a second and the wait's p50, p99, p99.9 and max; then the ratio of each to SQLite's busy handler.
"""
import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))]


def writer(path, turns, threads, seconds, hold, out):
    from localq import db as localq_db
    from localq.config import Config
    if not turns:
        localq_db.turn_for = lambda database: None   # every writer waits in SQLite's busy handler
    config = Config().replace(data_dir=path)
    database = localq_db.open_database(config)
    waits = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop(seed):
        rng = random.Random(seed)
        mine = []
        while time.monotonic() < stop_at:
            time.sleep(rng.uniform(0, 0.004))
            asked = time.perf_counter()
            with localq_db.write_transaction(database):
                mine.append(time.perf_counter() - asked)
                database.execute_sql('INSERT INTO t (pid, at) VALUES (?, ?)', (os.getpid(), time.time()))
                end = time.perf_counter() + hold
                while time.perf_counter() < end:
                    pass
        database.close()
        with lock:
            waits.extend(mine)

    running = [threading.Thread(target=loop, args=(os.getpid() * 100 + i,)) for i in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    out.put(waits)


def side(turns, args):
    scratch = tempfile.mkdtemp(prefix='localq-bench-write-wait-')
    from localq import db as localq_db
    from localq.config import Config
    database = localq_db.open_database(Config().replace(data_dir=scratch))
    database.execute_sql('CREATE TABLE t (id INTEGER PRIMARY KEY, pid INTEGER, at REAL)')
    database.close()
    ctx = multiprocessing.get_context('spawn')
    out = ctx.Queue()
    procs = [ctx.Process(target=writer, args=(scratch, turns, args.threads, args.seconds, args.hold_ms / 1000.0, out))
             for _ in range(args.processes)]
    for proc in procs:
        proc.start()
    waits = []
    for _ in procs:
        waits.extend(out.get())
    for proc in procs:
        proc.join()
    return {'tx_per_s': len(waits) / args.seconds, 'p50': pct(waits, 50) * 1000, 'p99': pct(waits, 99) * 1000,
            'p99.9': pct(waits, 99.9) * 1000, 'max': max(waits) * 1000}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--processes', type=int, default=6)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seconds', type=float, default=10.0)
    ap.add_argument('--hold-ms', type=float, default=1.0)
    ap.add_argument('--rounds', type=int, default=2, help='each side this many times, alternating')
    args = ap.parse_args()
    results = {'busy handler': [], 'write turns': []}
    for _ in range(args.rounds):
        results['busy handler'].append(side(False, args))
        results['write turns'].append(side(True, args))
    print('%-14s %9s %9s %9s %9s %9s' % ('side', 'tx/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms'))
    summary = {}
    for name, runs in results.items():
        summary[name] = {key: sum(r[key] for r in runs) / len(runs) for key in runs[0]}
        s = summary[name]
        print('%-14s %9.0f %9.2f %9.2f %9.2f %9.2f' % (name, s['tx_per_s'], s['p50'], s['p99'], s['p99.9'], s['max']))
    base, turns = summary['busy handler'], summary['write turns']
    print('write turns / busy handler: tx/s %.2fx, p99 %.2fx, p99.9 %.2fx, max %.2fx (means of %d rounds)'
          % (turns['tx_per_s'] / base['tx_per_s'], turns['p99'] / base['p99'], turns['p99.9'] / base['p99.9'],
             turns['max'] / base['max'], args.rounds))


if __name__ == '__main__':
    main()
