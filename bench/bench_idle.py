"""An idle localq worker: CPU it burns while idle, and pickup latency after a long idle spell,
beside bare Huey's consumer with default polling, in one run.

    python bench/bench_idle.py [--idle 70] [--samples 3]

Also prints the embedded (same-process) worker's pickup latency.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))

from bench_core import HueySide, LocalqSide, emit, spawn, stop  # noqa: E402


def cpu_seconds(pid):
    """utime + stime of a process and its threads, from /proc."""
    with open('/proc/%d/stat' % pid) as fh:
        fields = fh.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def idle_run(side, idle, samples):
    side.fresh()
    proc = spawn(side.worker_argv(1, 'thread'), side.env())
    try:
        side.get(side.started_at(-1))
        cpu0, t0 = cpu_seconds(proc.pid), time.time()
        lats = []
        for i in range(samples):
            time.sleep(idle)
            start = time.time()
            lats.append((side.get(side.started_at(i)) - start) * 1000)
        cpu = (cpu_seconds(proc.pid) - cpu0) / (time.time() - t0) * 100
    finally:
        stop(proc)
        side.close()
    emit({'bench': 'after_idle', 'system': side.label, 'idle_s': idle, 'latency_ms': [round(x, 1) for x in lats],
          'idle_cpu_percent_of_one_core': round(cpu, 2)})


def embedded_latency(samples=200):
    import random
    import bench_tasks
    from localq.worker import LocalqConsumer
    side = LocalqSide(tempfile.mkdtemp(), 'NORMAL')
    side.fresh()
    consumer = LocalqConsumer(bench_tasks.app, workers=1)
    consumer.start_in_thread()
    rng = random.Random(3)
    lats = []
    try:
        for i in range(samples):
            time.sleep(rng.uniform(0.01, 0.05))
            start = time.time()
            lats.append((bench_tasks.started_at.delay(i).get(timeout=10, interval=0.0005) - start) * 1000)
    finally:
        consumer.shutdown()
    lats.sort()
    emit({'bench': 'embedded_latency', 'system': side.label, 'samples': samples,
          'p50_ms': round(statistics.median(lats), 3), 'p99_ms': round(lats[int(0.99 * len(lats)) - 1], 3)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--idle', type=float, default=70.0)
    ap.add_argument('--samples', type=int, default=3)
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix='localq-idle-')
    embedded_latency()
    for side in (HueySide(scratch), LocalqSide(scratch, 'NORMAL')):
        idle_run(side, args.idle, args.samples)


if __name__ == '__main__':
    main()
