"""SQLite and PostgreSQL side by side: drain rate with 1, 4 and 8 worker processes, and the
pickup latency of an idle worker in another process (woken by data_version / LISTEN-NOTIFY).

    python bench/bench_pg.py [--n 5000] [--reps 2] [--procs 1,4,8] [--samples 50] [--database-url URL]
                             [--baseline DIR]

--baseline DIR runs the PostgreSQL side's workers a second time from another checkout of
localq (e.g. `git worktree add /tmp/before <commit>`), beside this one, in the same run.

Without --database-url it starts a throwaway PostgreSQL from Debian's binaries on a free
loopback port (as .ci/run does) and removes it afterwards. Each worker process is
`localq worker -c 1`, as if each ran on its own host; PostgreSQL is reached over TCP.
"""
import argparse
import glob
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))

from bench_core import LocalqSide, bench_latency, emit, spawn, stop  # noqa: E402


class PostgresSide(LocalqSide):
    def __init__(self, scratch, url, code=None):
        super().__init__(scratch, 'NORMAL')
        self.url, self.code = url, code
        self.label = 'postgresql' if code is None else 'postgresql@%s' % git_commit(code)

    def env(self):
        env = super().env()
        if self.code is not None:   # the workers run that checkout's localq
            env['PYTHONPATH'] = os.pathsep.join([self.code, os.path.join(self.code, 'bench')])
        return env

    def fresh(self):
        import bench_tasks
        from playhouse.db_url import connect
        db = connect(self.url)
        db.execute_sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public')
        db.close()
        self.dir = tempfile.mkdtemp(dir=self.scratch)
        bench_tasks.app.configure(data_dir=self.dir, database_url=self.url)
        bench_tasks.app.setup()
        self.mod = bench_tasks

    def worker_argv(self, workers, kind):
        return super().worker_argv(workers, kind) + ['--database-url', self.url]


def git_commit(folder):
    return subprocess.run(['git', '-C', folder, 'rev-parse', '--short', 'HEAD'], capture_output=True,
                          text=True).stdout.strip() or os.path.basename(folder)


def sqlite_side(scratch, synchronous):
    side = LocalqSide(scratch, synchronous)
    side.label = 'sqlite(%s)' % synchronous
    return side


def drain(side, n, reps, procs):
    """n no-op jobs queued first in a paused queue; `procs` worker processes (1 thread each) start
    and register; the clock starts when the queue is resumed (process start-up is not timed)."""
    times = []
    for _ in range(reps):
        side.fresh()
        app = side.mod.app
        queue = side.mod.noop.options.queue or app.config.default_queue
        app.pause_queue(queue)
        with app.write_transaction():
            for i in range(n):
                side.enqueue(i)
        workers = [spawn(side.worker_argv(1, 'thread'), side.env()) for _ in range(procs)]
        try:
            while app.query.sql('SELECT COUNT(*) FROM worker WHERE stopped_at IS NULL').fetchone()[0] < procs:
                if any(w.poll() is not None for w in workers):
                    raise SystemExit('%s: a worker exited early' % side.label)
                time.sleep(0.02)
            t0 = time.perf_counter()
            app.resume_queue(queue)
            while side.done_count() < n:
                if any(w.poll() is not None for w in workers):
                    raise SystemExit('%s: a worker exited early' % side.label)
                time.sleep(0.01)
            times.append(time.perf_counter() - t0)
        finally:
            for w in workers:
                stop(w)
            side.close()
    rate = n / statistics.median(times)
    emit({'bench': 'drain', 'system': side.label, 'n': n, 'worker_processes': procs,
          'tasks_per_s': round(rate, 1), 'all_s': [round(t, 2) for t in times]})
    return rate


def start_postgres():
    """A throwaway server: (url, stop function)."""
    bins = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
    if not bins:
        raise SystemExit('no PostgreSQL server binaries: apt-get install postgresql, or pass --database-url')
    bin_dir = os.path.dirname(bins[-1])
    folder = tempfile.mkdtemp(prefix='localq-bench-pg-')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    as_root = os.getuid() == 0

    def run(cmd):
        argv = ['su', 'postgres', '-s', '/bin/sh', '-c', cmd] if as_root else ['sh', '-c', cmd]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)

    if as_root:
        shutil.chown(folder, 'postgres')
    run('%s/initdb -D %s/data -A trust -U postgres' % (bin_dir, folder))
    run("%s/pg_ctl -D %s/data -o '-p %d -k %s -c listen_addresses=127.0.0.1' -l %s/log start -w" % (
        bin_dir, folder, port, folder, folder))
    run('%s/createdb -h 127.0.0.1 -p %d -U postgres bench' % (bin_dir, port))

    def stop_server():
        run('%s/pg_ctl -D %s/data stop -m fast' % (bin_dir, folder))
        shutil.rmtree(folder, ignore_errors=True)
    return 'postgresql://postgres@127.0.0.1:%d/bench' % port, stop_server


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=5000)
    ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--procs', default='1,4,8')
    ap.add_argument('--samples', type=int, default=50)
    ap.add_argument('--database-url', help='an empty PostgreSQL database to use (it is wiped)')
    ap.add_argument('--baseline', help="another checkout of localq whose workers run beside this one's")
    args = ap.parse_args()
    url, stop_server = (args.database_url, lambda: None) if args.database_url else start_postgres()
    scratch = tempfile.mkdtemp(prefix='localq-bench-')
    try:
        # SQLite FULL fsyncs every commit, as PostgreSQL does by default: the like-for-like pair.
        sides = [sqlite_side(scratch, 'NORMAL'), sqlite_side(scratch, 'FULL'), PostgresSide(scratch, url)]
        if args.baseline:
            sides.append(PostgresSide(scratch, url, os.path.abspath(args.baseline)))
        procs = [int(p) for p in args.procs.split(',')]
        rates = {(s.label, p): drain(s, args.n, args.reps, p) for p in procs for s in sides}
        lat = {s.label: bench_latency(s, args.samples) for s in sides}
    finally:
        stop_server()
        shutil.rmtree(scratch, ignore_errors=True)
    labels = [s.label for s in sides]
    base = ' PG/%s |' % labels[3] if args.baseline else ''
    print('\n| measurement | %s | PG/SQLite NORMAL | PG/SQLite FULL |%s' % (' | '.join(labels), base))
    print('|---|%s---|---|%s' % ('---|' * len(labels), '---|' if base else ''))

    def ratios(row):
        return '%.2fx | %.2fx |%s' % (row[2] / row[0], row[2] / row[1], ' %.2fx |' % (row[2] / row[3]) if base else '')
    for p in procs:
        row = [rates[(label, p)] for label in labels]
        print('| drain, %d worker process%s, jobs/s | %s | %s' % (
            p, '' if p == 1 else 'es', ' | '.join('%.0f' % r for r in row), ratios(row)))
    for key in ('p50_ms', 'p99_ms'):
        row = [lat[label][key] for label in labels]
        print('| pickup latency %s ms (other process) | %s | %s' % (
            key[:3], ' | '.join('%.2f' % r for r in row), ratios(row)))


if __name__ == '__main__':
    main()
