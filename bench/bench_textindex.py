"""What the job list's text index costs (SQLite, synchronous=NORMAL), side by side in one process:

  enqueue   the enqueue rate with the index and with it dropped, alternating;
  catchup   one catch-up (textindex.catch_up, in a worker's heartbeat, holding the write lock)
            over jobs with large arguments: their first INDEXED_CHARS characters, as localq
            indexes them, beside their whole text, as it did first (3 jobs of 2 MB: 8.7 s alone,
            17.6 s beside a test run, so other writers failed "database is locked").

    python bench/bench_textindex.py [--what enqueue,catchup] [--n 4000] [--reps 4] [--big-mb 2] [--big-jobs 3]

The arguments are indexed in batches off the enqueue; the error table's triggers fire only
when an error column changes. Prints both figures of each pair and their ratio.
"""
import argparse
import base64
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from localq import LocalQ  # noqa: E402
from localq.textindex import catch_up  # noqa: E402

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
            app.query.database.execute_sql('DROP %s IF EXISTS %s' % tuple(what.split()))
    started = time.perf_counter()
    for i in range(n):
        noop.delay('invoice-%d.pdf' % i, i)
    rate = n / (time.perf_counter() - started)
    app.close()
    return rate


def catch_up_seconds(whole, mb, jobs):
    """Seconds of one catch-up over `jobs` jobs whose argument is `mb` MB of base64 (random, so
    nearly every trigram is new): localq's, or the same insert over the whole text."""
    app = LocalQ('bench', data_dir=tempfile.mkdtemp(prefix='localq-bench-textindex-'))

    @app.task(name='checksum')
    def checksum(data):
        return None
    app.setup()
    for _ in range(jobs):
        checksum.delay(base64.b64encode(os.urandom(int(mb * 1024 * 1024))).decode('ascii'))
    db = app.query.database
    started = time.perf_counter()
    if whole:
        with app.write_transaction():
            db.execute_sql('INSERT INTO job_text (rowid, args, kwargs) SELECT rowid, args, kwargs FROM job')
    else:
        assert catch_up(db)[0] == jobs
    seconds = time.perf_counter() - started
    app.close()
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--what', default='enqueue,catchup')
    ap.add_argument('--n', type=int, default=4000)
    ap.add_argument('--reps', type=int, default=4)
    ap.add_argument('--big-mb', type=float, default=2.0)
    ap.add_argument('--big-jobs', type=int, default=3)
    args = ap.parse_args()
    if 'enqueue' in args.what:
        rates = {False: [], True: []}
        for _ in range(args.reps):
            for with_index in (False, True):
                rates[with_index].append(enqueue_rate(with_index, args.n))
        without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
        print('enqueue tasks/s, median of %d: without the text index %.0f, with it %.0f, ratio %.2f'
              % (args.reps, without, with_, with_ / without))
    if 'catchup' in args.what:
        prefix, whole = catch_up_seconds(False, args.big_mb, args.big_jobs), catch_up_seconds(True, args.big_mb,
                                                                                               args.big_jobs)
        print('catch-up of %d jobs with %.1f MB arguments, seconds: their first characters (localq) %.3f, '
              'their whole text %.3f, ratio %.0fx' % (args.big_jobs, args.big_mb, prefix, whole, whole / prefix))


if __name__ == '__main__':
    main()
