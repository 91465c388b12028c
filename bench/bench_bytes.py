"""Where the bytes written per job go (SQLite): each step of a job's life measured on its own.

    python bench/bench_bytes.py [--n 3000]

In one process, on a fresh data folder, with SQLite's automatic checkpoints and localq's upkeep
turned off so that the WAL only grows: n no-op jobs are queued (one transaction each, as
`.delay()` does), the text index catches up with them, one worker thread drains them (claim,
outcome, attempt row and counter; a success rides on the next claim's transaction), and
retention prunes them. After each step: the WAL's growth per job, in KB and in pages (WAL frames)
(SQLite writes a whole page, plus a 24-byte header, for every page a transaction changed).
Then one checkpoint copies the WAL's pages into the database file: its bytes per job too.
`write_bytes` is the process's /proc/self/io figure over each step (what reaches the disk).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))


def size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def write_bytes():
    with open('/proc/self/io') as fh:
        return int(next(line for line in fh if line.startswith('write_bytes')).split()[1])


def frames_by_btree(db, wal, start, frame):
    """Count the WAL frames from byte `start` on by the table or index their page belongs to (SQLite's
    dbstat); a page freed since (pruning) counts as 'freed'."""
    import collections
    import struct
    owner = dict((page, name) for name, page in db.execute_sql('SELECT name, pageno FROM dbstat').fetchall())
    counts = collections.Counter()
    with open(wal, 'rb') as fh:
        fh.seek(start)
        while True:
            header = fh.read(24)
            if len(header) < 24:
                return counts
            counts[owner.get(struct.unpack('>I', header[:4])[0], 'freed')] += 1
            fh.seek(frame - 24, os.SEEK_CUR)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=3000)
    ap.add_argument('--synchronous', default='NORMAL')
    args = ap.parse_args()
    import localq.db
    import localq.upkeep
    opened = localq.db.open_database

    def without_autocheckpoint(config):
        db = opened(config)
        if localq.db.is_sqlite(db):
            db._pragmas = list(db._pragmas) + [('wal_autocheckpoint', 0)]
        return db
    localq.db.open_database = without_autocheckpoint
    localq.upkeep.Upkeep.tick = lambda self, now=None: None
    import soak_tasks
    from localq.retention import prune_jobs
    from localq.textindex import catch_up
    from localq.worker import LocalqConsumer

    scratch = tempfile.mkdtemp(prefix='localq-bytes-')
    app = soak_tasks.app
    app.configure(data_dir=scratch, synchronous=args.synchronous, database_url='')
    app.setup()
    wal = os.path.join(scratch, 'localq.db-wal')
    db_file = os.path.join(scratch, 'localq.db')
    n = args.n
    rows, parts = [], []
    frame = app.database.execute_sql('PRAGMA page_size').fetchone()[0] + 24   # a WAL frame: its page and a header

    def step(name, fn):
        os.sync()
        w0, wal0, db0 = write_bytes(), size(wal), size(db_file)
        t0 = time.perf_counter()
        fn()
        took = time.perf_counter() - t0
        os.sync()
        grown = size(wal) - wal0
        rows.append((name, grown / n / 1024, grown / n / frame, (write_bytes() - w0) / n / 1024, took))
        parts.append((name, frames_by_btree(app.database, wal, max(wal0, 32), frame)))

    def enqueue():
        for i in range(n):
            soak_tasks.noop.delay(i)

    def index():
        while catch_up(app.database)[0]:
            pass

    def drain():
        consumer = LocalqConsumer(app, workers=1, name='bytes-worker')
        consumer.start_in_thread()
        storage = app.query
        while storage.sql("SELECT COUNT(*) FROM job WHERE state = 'SUCCESS'").fetchone()[0] < n:
            time.sleep(0.05)
        consumer.shutdown()

    def prune():
        app.config.keep_max_jobs = 0
        prune_jobs(app)

    step('enqueue', enqueue)
    step('text index', index)
    step('claim + outcome', drain)
    step('prune', prune)
    before = size(db_file)
    w0 = write_bytes()
    wal_size = size(wal)
    frames = app.database.execute_sql('PRAGMA wal_checkpoint(TRUNCATE)').fetchone()
    os.sync()
    print('%-16s %10s %10s %14s %8s' % ('step', 'WAL KB/job', 'pages/job', 'write_bytes KB', 'seconds'))
    for name, kb, pages, wb, took in rows:
        print('%-16s %10.2f %10.2f %14.2f %8.2f' % (name, kb, pages, wb, took))
    print('%-16s %10s %10s %14.2f   (WAL %.1f MB, %d frames; database file %.1f -> %.1f MB)' % (
        'checkpoint', '', '', (write_bytes() - w0) / n / 1024, wal_size / 2 ** 20, frames[1], before / 2 ** 20,
        size(db_file) / 2 ** 20))
    print('total WAL KB/job: %.1f' % sum(r[1] for r in rows))
    print('\nwhere the WAL frames go, per job (a frame is one page a transaction changed):')
    for name, counts in parts:
        if counts:
            print('  %-16s %s' % (name, ', '.join('%s %.2f' % (tree, c / n) for tree, c in counts.most_common()
                                                   if c / n >= 0.05)))
    app.close()
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == '__main__':
    main()
