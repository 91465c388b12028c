"""Idle workers, side by side in one run: the CPU a worker process burns while idle, and how soon
it starts a job queued by another process (this one) after 1 s, 10 s and 60 s of idleness,
beside its warm pickup (jobs 20-200 ms apart).

    python bench/bench_idle.py [--idles 1,10,60] [--samples 3] [--workers 2]

Rows: bare Huey's consumer (SqliteHuey, default polling); localq with wakeup=auto (inotify on the
WAL), wakeup=watch (watchfiles on the WAL, what macOS and Windows use) and wakeup=poll
(data_version every poll_interval, the fallback), each a
`localq worker -c 2` process; and the embedded worker (same process as the producer).
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))

from bench_core import HueySide, LocalqSide, emit, spawn, stop  # noqa: E402


class WakeupSide(LocalqSide):
    def __init__(self, scratch, wakeup):
        super().__init__(scratch, 'NORMAL')
        self.wakeup = wakeup
        self.label = 'localq(wakeup=%s)' % wakeup

    def env(self):
        return dict(super().env(), LOCALQ_WAKEUP=self.wakeup)


def cpu_seconds(pid):
    """utime + stime of a process and its threads, from /proc."""
    with open('/proc/%d/stat' % pid) as fh:
        fields = fh.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def pickup_ms(side, i):
    start = time.time()
    return (side.get(side.started_at(i)) - start) * 1000


def idle_run(side, idles, samples, workers, idle_cpu_seconds):
    side.fresh()
    proc = spawn(side.worker_argv(workers, 'thread'), side.env())
    try:
        side.get(side.started_at(-1))   # the worker is up
        rng = random.Random(7)
        warm = []
        for i in range(50):
            time.sleep(rng.uniform(0.02, 0.2))
            warm.append(pickup_ms(side, i))
        time.sleep(2)   # let the burst's after-effects settle
        cpu0, t0 = cpu_seconds(proc.pid), time.time()
        time.sleep(idle_cpu_seconds)
        cpu = (cpu_seconds(proc.pid) - cpu0) / (time.time() - t0) * 100
        after = {}
        for idle in idles:
            lats = []
            for n in range(samples):
                time.sleep(idle)
                lats.append(pickup_ms(side, 1000 + n))
            after[idle] = lats
    finally:
        stop(proc)
        side.close()
    record = {'bench': 'idle', 'system': side.label, 'workers': workers,
              'idle_cpu_percent_of_one_core': round(cpu, 2),
              'warm_pickup_p50_ms': round(statistics.median(warm), 2)}
    for idle, lats in after.items():
        record['after_%gs_idle_ms' % idle] = [round(x, 1) for x in lats]
    emit(record)
    return record


def embedded_latency(scratch, samples=200):
    import bench_tasks
    from localq.worker import LocalqConsumer
    side = LocalqSide(scratch, 'NORMAL')
    side.fresh()
    consumer = LocalqConsumer(bench_tasks.app, workers=1)
    consumer.start_in_thread()
    rng = random.Random(3)
    lats = []
    try:
        for i in range(samples):
            time.sleep(rng.uniform(0.01, 0.05))
            lats.append(pickup_ms(side, i))
    finally:
        consumer.shutdown()
    lats.sort()
    emit({'bench': 'embedded_pickup', 'system': side.label, 'samples': samples,
          'p50_ms': round(statistics.median(lats), 3), 'p99_ms': round(lats[int(0.99 * len(lats)) - 1], 3)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--idles', default='1,10,60')
    ap.add_argument('--samples', type=int, default=3)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--idle-cpu-seconds', type=float, default=30.0)
    args = ap.parse_args()
    idles = [float(x) for x in args.idles.split(',')]
    scratch = tempfile.mkdtemp(prefix='localq-idle-')
    embedded_latency(scratch)
    rows = [idle_run(side, idles, args.samples, args.workers, args.idle_cpu_seconds)
            for side in (HueySide(scratch), WakeupSide(scratch, 'auto'), WakeupSide(scratch, 'watch'),
                         WakeupSide(scratch, 'poll'))]
    base = rows[0]['idle_cpu_percent_of_one_core'] or 0.01
    for row in rows[1:]:
        emit({'bench': 'idle_cpu_ratio', 'system': row['system'], 'vs': rows[0]['system'],
              'ratio': round(row['idle_cpu_percent_of_one_core'] / base, 2)})


if __name__ == '__main__':
    main()
