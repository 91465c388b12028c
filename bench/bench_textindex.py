"""What the job list's text index costs an enqueue: the same app, with the index and with it
dropped, alternating in one process (SQLite, synchronous=NORMAL).

    python bench/bench_textindex.py [--n 4000] [--reps 4]

The arguments are indexed in batches off the enqueue (textindex.catch_up); the error table's
triggers fire only when an error column changes. Prints both rates and their ratio.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from localq import LocalQ  # noqa: E402

INDEX_OBJECTS = ('TRIGGER job_text_delete', 'TRIGGER job_error_text_insert', 'TRIGGER job_error_text_update',
                 'TRIGGER job_error_text_delete', 'TABLE job_text', 'TABLE job_error_text')


def enqueue_rate(with_index, n):
    app = LocalQ('bench', data_dir=tempfile.mkdtemp(prefix='localq-bench-textindex-'))

    @app.task(name='noop')
    def noop(name, size):
        return None
    app.setup()
    if not with_index:
        for what in INDEX_OBJECTS:
            app.huey.storage.database.execute_sql('DROP %s IF EXISTS %s' % tuple(what.split()))
    started = time.perf_counter()
    for i in range(n):
        noop.delay('invoice-%d.pdf' % i, i)
    rate = n / (time.perf_counter() - started)
    app.close()
    return rate


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=4000)
    ap.add_argument('--reps', type=int, default=4)
    args = ap.parse_args()
    rates = {False: [], True: []}
    for _ in range(args.reps):
        for with_index in (False, True):
            rates[with_index].append(enqueue_rate(with_index, args.n))
    without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
    print('enqueue tasks/s, median of %d: without the text index %.0f, with it %.0f, ratio %.2f'
          % (args.reps, without, with_, with_ / without))


if __name__ == '__main__':
    main()
