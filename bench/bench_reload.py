"""--reload: from saving a task's file to the first job that runs the new code, side by side with
a restart by hand (SIGTERM the worker, start it again) in the same run.

    python bench/bench_reload.py [--rounds 5]

Each round saves mytasks.py with a new VERSION and times until a job sent right after the save
returns it. The hand restart starts timing at the same moment (the save) and is what a developer
without --reload does at best: stop and start at once, no reaction time counted.
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from localq import LocalQ  # noqa: E402

TASKS = '''from localq import LocalQ
app = LocalQ('mytasks')
VERSION = %d

@app.task(name='mytasks.version')
def version():
    return VERSION
'''


def save(folder, version):
    with open(os.path.join(folder, 'mytasks.py'), 'w') as fh:
        fh.write(TASKS % version)


def start(folder, *extra):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, '-m', 'localq', '-A', 'mytasks', '--data-dir',
                             os.path.join(folder, 'data'), 'worker', '-c', '2', *extra], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def first_new_job(client, version, started):
    """Seconds from `started` until a job returns `version` (each job sent after the last one ended)."""
    while True:
        value = client.send_task('mytasks.version').get(timeout=60)
        if value == version:
            return time.monotonic() - started


def rounds(folder, n, reload):
    client = LocalQ('client', data_dir=os.path.join(folder, 'data'))
    save(folder, 0)
    proc = start(folder, '--reload') if reload else start(folder)
    first_new_job(client, 0, time.monotonic())
    times = []
    for version in range(1, n + 1):
        time.sleep(0.5)   # the watcher's step; not counted
        t0 = time.monotonic()
        save(folder, version)
        if not reload:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            proc = start(folder)
        times.append(first_new_job(client, version, t0))
    proc.send_signal(signal.SIGINT if reload else signal.SIGTERM)
    proc.wait(timeout=30)
    client.close()
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    rows = []
    for label, reload in (('restart by hand', False), ('--reload', True)):
        with tempfile.TemporaryDirectory() as folder:
            times = rounds(folder, args.rounds, reload)
        rows.append((label, statistics.median(times), max(times)))
    base = rows[0][1]
    print('%-16s %10s %8s %8s' % ('', 'p50 (s)', 'max (s)', 'ratio'))
    for label, p50, worst in rows:
        print('%-16s %10.2f %8.2f %7.2fx' % (label, p50, worst, p50 / base))


if __name__ == '__main__':
    main()
