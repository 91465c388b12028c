"""CPU of a thread worker running one long job beside a big job table (its heartbeats: lease
renewal, revokes, rescue sweep, text index, upkeep).

    python bench/bench_long_job.py [--rows 1000000] [--seconds 30]

Fills a fresh data folder with --rows finished jobs (finished over the last day), starts a
`localq worker -c 1` thread worker, queues one job that sleeps longer than the measurement,
and prints the worker process's CPU over --seconds as a percentage of one core.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, 'bench')
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)

from bench_idle import cpu_seconds  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rows', type=int, default=1000000)
    ap.add_argument('--seconds', type=float, default=30.0)
    args = ap.parse_args()
    import soak_tasks
    scratch = tempfile.mkdtemp(prefix='localq-longjob-')
    app = soak_tasks.app
    app.configure(data_dir=scratch)
    app.setup()
    now = time.time()
    with app.write_transaction():
        app.database.execute_sql(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?) "
            "INSERT INTO job (id, task, queue, priority, state, args, kwargs, message, attempts, max_retries, "
            "acks_late, ignore_result, queued_at, eta, started_at, finished_at, worker, worker_pid, "
            "revoke_requested, waits_for) SELECT 'old-' || n, 'soak.noop', 'default', 0, "
            "CASE WHEN n % 20 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END, '[' || n || ']', '{}', '{}', 1, 0, 0, 0, "
            "? + n * ?, ? + n * ?, ? + n * ?, ? + n * ?, 'old-worker', 1, 0, 0 FROM seq",
            (args.rows,) + (now - 86400, 86000.0 / args.rows) * 4)
    from localq.textindex import catch_up
    while catch_up(app.database, limit=100000)[0]:
        pass
    app.database.execute_sql('PRAGMA wal_checkpoint(TRUNCATE)')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, BENCH]))
    proc = subprocess.Popen([sys.executable, '-m', 'localq.cli', '-A', 'soak_tasks:app', '--data-dir', scratch,
                             'worker', '-c', '1'], env=env, cwd=BENCH, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        job = soak_tasks.work.delay(int((args.seconds + 30) * 1000))
        while app.AsyncResult(job.id).state not in ('PROCESSING', 'STARTED'):
            time.sleep(0.1)
        time.sleep(5)   # start-up settles
        cpu0, t0 = cpu_seconds(proc.pid), time.time()
        time.sleep(args.seconds)
        cpu = (cpu_seconds(proc.pid) - cpu0) / (time.time() - t0) * 100
        print('rows=%d worker running one long job: %.2f%% of a core over %.0f s' % (args.rows, cpu, args.seconds))
    finally:
        proc.terminate()
        proc.wait(60)
        app.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == '__main__':
    main()
