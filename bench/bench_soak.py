"""A soak: does a long run's cost stay flat? Run it for N minutes and read one line per interval.

    python bench/bench_soak.py [--minutes 30] [--rate 250] [--cap 50000] [--interval 30] [--keep]

The setup a laptop user would run: `localq run` (the web app and its embedded 2-thread worker),
a `localq worker -c 4` thread worker, a `localq worker -P process -c 2` process worker, and a
producer process offering --rate jobs a second of a mix (45% no-ops, 25% 5-50 ms jobs with two
progress updates, 10% failing once or more and retried with backoff, 1 in 10,000 failing for
good, 10% with a 20 KB result, 5% with a repeated idempotency key, 5% with a countdown), with
LOCALQ_KEEP_MAX_JOBS=--cap. Two "browser tabs" poll the overview, /jobs, the failed jobs,
/api/tasks and /metrics every 2 s. All on one SQLite file in a fresh folder.

Each interval prints: jobs finished per second; rows in the job table; the WAL and database
sizes; CPU and bytes written (/proc/PID/io write_bytes) per finished job, over every process of
the setup (producer included); pickup (claim time minus queue time of the no-op jobs without a
countdown that finished in the interval) p50 and max; dashboard request p50 and p95; the bytes
the processes logged so far; and RSS per process. At the end: the same over the whole run from
minute --settle on, and the issue's targets checked (WAL < 64 MB at every sample, CPU per job
and pickup p50 flat within 10% from --settle on, rows within 10% of the cap, logs < 1 MB).
"""
import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, 'bench')
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)

PAGES = ('/', '/jobs', '/jobs?state=FAILURE', '/api/tasks', '/metrics')
TICKS = os.sysconf('SC_CLK_TCK')


def pct(xs, p):
    if not xs:
        return float('nan')
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


# -- the producer (a process of its own: --role producer) -------------------------------
def produce(data_dir, rate, seconds, seed=11):
    import soak_tasks
    app = soak_tasks.app
    app.configure(data_dir=data_dir)
    app.setup()
    rng = random.Random(seed)
    start = time.time()
    i = 0
    while True:
        due = start + i / rate
        now = time.time()
        if now - start >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        r = rng.random()
        if r < 0.45:
            soak_tasks.noop.delay(i)
        elif r < 0.70:
            soak_tasks.work.delay(rng.randint(5, 50))
        elif r < 0.80:
            f = rng.random()
            soak_tasks.flaky.delay(10 if f < 0.001 else 2 if f < 0.10 else 1)
        elif r < 0.90:
            soak_tasks.report.delay(i)
        elif r < 0.95:
            key = 'soak-key-%d' % rng.randint(0, 499)
            soak_tasks.keyed.apply_async(args=[key], idempotency_key=key)
        else:
            soak_tasks.noop.apply_async(args=[i], countdown=rng.uniform(1, 30))
        i += 1
    app.close()


# -- processes -------------------------------------------------------------------------
def spawn(argv, env, log_path):
    log = open(log_path, 'ab')
    proc = subprocess.Popen(argv, env=env, cwd=BENCH, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log.close()
    return proc


def group_pids(leaders):
    """{pid: role} of every live process in the leaders' process groups (a process worker's children too)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            pgid = os.getpgid(int(pid))
        except OSError:
            continue
        if pgid in leaders:
            found[int(pid)] = leaders[pgid] + ('' if int(pid) == pgid else '.child')
    return found


def proc_numbers(pid):
    """(cpu seconds, write_bytes, rss bytes) of one process, or None once it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as fh:
            fields = fh.read().rsplit(')', 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        with open('/proc/%d/io' % pid) as fh:
            io = dict(line.split(': ') for line in fh.read().splitlines())
        with open('/proc/%d/status' % pid) as fh:
            rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith('VmRSS:'))
        return cpu, int(io['write_bytes']), rss
    except (OSError, StopIteration, KeyError, ValueError):
        return None


class Totals:
    """CPU seconds and bytes written by every process of the setup, the dead ones' last figures kept."""

    def __init__(self):
        self.last = {}
        self.roles = {}

    def sample(self, pids):
        rss = {}
        for pid, role in pids.items():
            numbers = proc_numbers(pid)
            if numbers is not None:
                self.last[pid] = numbers[:2]
                self.roles[pid] = role
                rss[role] = rss.get(role, 0) + numbers[2]
        return sum(c for c, _ in self.last.values()), sum(w for _, w in self.last.values()), rss

    def written_by_role(self):
        by_role = {}
        for pid, (_, written) in self.last.items():
            by_role[self.roles[pid]] = by_role.get(self.roles[pid], 0) + written
        return by_role


# -- the dashboard poller ----------------------------------------------------------------
class Poller:
    """Two tabs: each requests every page of PAGES every 2 s; latencies are kept per interval."""

    def __init__(self, port):
        self.port = port
        self.latencies, self.errors = [], 0
        self.lock, self.stop = threading.Lock(), threading.Event()

    def tab(self):
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
        while not self.stop.is_set():
            begun = time.monotonic()
            for page in PAGES:
                t0 = time.perf_counter()
                try:
                    conn.request('GET', page)
                    answer = conn.getresponse()
                    answer.read()
                    ok = answer.status == 200
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
                    ok = False
                with self.lock:
                    if ok:
                        self.latencies.append((time.perf_counter() - t0) * 1000)
                    else:
                        self.errors += 1
            self.stop.wait(max(0.0, 2.0 - (time.monotonic() - begun)))

    def take(self):
        with self.lock:
            taken, self.latencies = self.latencies, []
        return taken


# -- reading the database (one short read each, connection closed at once) ----------------
def read_db(path, since, until):
    conn = sqlite3.connect('file:%s?mode=ro' % path, uri=True, isolation_level=None, timeout=30)
    try:
        rows = conn.execute('SELECT COUNT(*) FROM job').fetchone()[0]
        finished = conn.execute("SELECT COALESCE(SUM(n), 0) FROM outcome_counter WHERE state IN "
                                "('SUCCESS', 'FAILURE', 'REVOKED')").fetchone()[0]
        pickups = [r[0] * 1000 for r in conn.execute(
            "SELECT started_at - queued_at FROM job WHERE state = 'SUCCESS' AND finished_at > ? AND finished_at <= ? "
            "AND task = 'soak.noop' AND eta - queued_at < 0.01", (since, until)).fetchall()]
    finally:
        conn.close()
    return rows, finished, pickups


def size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--minutes', type=float, default=30.0)
    ap.add_argument('--rate', type=float, default=250.0, help='jobs offered per second')
    ap.add_argument('--cap', type=int, default=50000, help='LOCALQ_KEEP_MAX_JOBS')
    ap.add_argument('--interval', type=float, default=30.0, help='seconds between lines')
    ap.add_argument('--settle', type=float, default=5.0, help='minutes after which the figures must stay flat')
    ap.add_argument('--dir', default=None, help='where the data folder goes (default: a new temporary folder)')
    ap.add_argument('--keep', action='store_true', help='keep the data folder and logs')
    ap.add_argument('--role', default='soak', help=argparse.SUPPRESS)
    ap.add_argument('--data-dir', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == 'producer':
        return produce(args.data_dir, args.rate, args.minutes * 60)

    # SIGTERM (or SIGINT, which a background job ignores) stops the setup's processes too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    scratch = tempfile.mkdtemp(prefix='localq-soak-', dir=args.dir)
    data_dir = os.path.join(scratch, 'data')
    db_path = os.path.join(data_dir, 'localq.db')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, BENCH]), LOCALQ_KEEP_MAX_JOBS=str(args.cap))
    port = free_port()
    cli = [sys.executable, '-m', 'localq.cli', '-A', 'soak_tasks:app', '--data-dir', data_dir]
    logs = {role: os.path.join(scratch, role + '.log') for role in ('run', 'threads', 'processes', 'producer')}
    procs = {}
    procs['run'] = spawn(cli + ['run', '--port', str(port)], env, logs['run'])
    wait_http(port, procs['run'])
    procs['threads'] = spawn(cli + ['worker', '-c', '4', '-n', 'soak-threads'], env, logs['threads'])
    procs['processes'] = spawn(cli + ['worker', '-P', 'process', '-c', '2', '-n', 'soak-processes'], env,
                               logs['processes'])
    time.sleep(2)   # the workers are up
    procs['producer'] = spawn([sys.executable, os.path.join(BENCH, 'bench_soak.py'), '--role', 'producer',
                               '--data-dir', data_dir, '--rate', str(args.rate), '--minutes', str(args.minutes)],
                              env, logs['producer'])
    leaders = {p.pid: role for role, p in procs.items()}
    poller = Poller(port)
    tabs = [threading.Thread(target=poller.tab, daemon=True) for _ in range(2)]
    for t in tabs:
        t.start()

    totals, samples = Totals(), []
    start = time.time()
    cpu0, written0, _ = totals.sample(group_pids(leaders))
    finished0 = read_db(db_path, start, start)[1]
    last = (start, cpu0, written0, finished0)
    print('%6s %7s %7s %7s %7s %8s %8s %8s %8s %8s %8s %8s %8s  %s' % (
        'min', 'jobs/s', 'rows', 'wal_MB', 'db_MB', 'cpu_ms/j', 'KB/job', 'pick_p50', 'pick_p99', 'pick_max', 'web_p50',
        'web_p95', 'log_KB', 'rss_MB per process'), flush=True)
    try:
        while time.time() - start < args.minutes * 60:
            time.sleep(min(args.interval, max(0.0, start + args.minutes * 60 - time.time())) or 0.01)
            now = time.time()
            cpu, written, rss = totals.sample(group_pids(leaders))
            rows, finished, pickups = read_db(db_path, last[0], now)
            web = poller.take()
            jobs = finished - last[3]
            sample = {
                'minute': round((now - start) / 60, 2),
                'jobs_per_s': round(jobs / (now - last[0]), 1),
                'rows': rows,
                'wal_mb': round(size(db_path + '-wal') / 2 ** 20, 1),
                'db_mb': round(size(db_path) / 2 ** 20, 1),
                'cpu_ms_per_job': round((cpu - last[1]) * 1000 / jobs, 2) if jobs else None,
                'kb_written_per_job': round((written - last[2]) / 1024 / jobs, 1) if jobs else None,
                'pickup_p50_ms': round(pct(pickups, 50), 1), 'pickup_p99_ms': round(pct(pickups, 99), 1),
                'pickup_max_ms': round(max(pickups or [0]), 1),
                'web_p50_ms': round(pct(web, 50), 1), 'web_p95_ms': round(pct(web, 95), 1),
                'log_kb': round(sum(size(p) for p in logs.values()) / 1024, 1),
                'rss_mb': {role: round(n / 2 ** 20, 1) for role, n in sorted(rss.items())},
                'jobs': jobs, 'cpu_s': cpu - last[1], 'written': written - last[2], 'pickups': pickups,
            }
            samples.append(sample)
            print('%6.2f %7.1f %7d %7.1f %7.1f %8s %8s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f  %s' % (
                sample['minute'], sample['jobs_per_s'], rows, sample['wal_mb'], sample['db_mb'],
                sample['cpu_ms_per_job'], sample['kb_written_per_job'], sample['pickup_p50_ms'],
                sample['pickup_p99_ms'], sample['pickup_max_ms'], sample['web_p50_ms'], sample['web_p95_ms'], sample['log_kb'],
                ' '.join('%s=%s' % kv for kv in sample['rss_mb'].items())), flush=True)
            last = (now, cpu, written, finished)
    finally:
        poller.stop.set()
        for role in ('producer', 'processes', 'threads', 'run'):
            stop(procs[role])
    summarize(args, samples, logs, db_path, poller.errors, totals.written_by_role())
    if args.keep:
        print('kept: %s' % scratch)
    else:
        import shutil
        shutil.rmtree(scratch, ignore_errors=True)


def summarize(args, samples, logs, db_path, web_errors, written_by_role):
    settled = [s for s in samples if s['minute'] > args.settle] or samples[len(samples) // 3:]
    jobs = sum(s['jobs'] for s in settled)
    cpu = [s['cpu_ms_per_job'] for s in settled if s['cpu_ms_per_job']]
    pick = [s['pickup_p50_ms'] for s in settled if s['pickups']]
    log_text = ''.join(open(p, errors='replace').read() for p in logs.values())
    conn = sqlite3.connect(db_path, isolation_level=None)
    integrity = conn.execute('PRAGMA quick_check').fetchone()[0]
    conn.close()
    summary = {
        'minutes': args.minutes, 'rate_offered': args.rate, 'cap': args.cap, 'settled_from_minute': settled[0]['minute'],
        'jobs_per_s': round(statistics.mean(s['jobs_per_s'] for s in settled), 1),
        'wal_mb_max': max(s['wal_mb'] for s in samples),
        'rows_min_max': [min(s['rows'] for s in settled), max(s['rows'] for s in settled)],
        'cpu_ms_per_job': [min(cpu), max(cpu)] if cpu else None,
        'kb_written_per_job': round(sum(s['written'] for s in settled) / 1024 / jobs, 1) if jobs else None,
        'pickup_p50_ms': [min(pick), max(pick)] if pick else None,
        'pickup_max_ms': max(s['pickup_max_ms'] for s in settled),
        'pickup_p99_ms_max': max(s['pickup_p99_ms'] for s in settled),
        # over the whole run (from the start): which process wrote the bytes (the upkeep's does the checkpoints)
        'kb_written_per_job_by_process': {role: round(n / 1024 / max(1, sum(s['jobs'] for s in samples)), 1)
                                          for role, n in sorted(written_by_role.items())},
        'web_p95_ms_max': max(s['web_p95_ms'] for s in settled),
        'web_errors': web_errors,
        'log_kb': round(sum(size(p) for p in logs.values()) / 1024, 1),
        'tracebacks': log_text.count('Traceback'), 'database_is_locked': log_text.count('database is locked'),
        'integrity': integrity,
    }

    def flat(xs):
        return bool(xs) and (max(xs) - min(xs)) <= 0.10 * statistics.median(xs)
    summary['checks'] = {
        'wal_under_64mb': summary['wal_mb_max'] < 64,
        'cpu_per_job_flat_10pct': flat(cpu),
        'pickup_p50_flat_10pct': flat(pick),
        'no_pickup_over_100ms': summary['pickup_max_ms'] <= 100,
        'rows_within_10pct_of_cap': all(abs(s['rows'] - args.cap) <= 0.1 * args.cap for s in settled),
        'logs_under_1mb': summary['log_kb'] < 1024,
        'kb_per_job_at_most_20': summary['kb_written_per_job'] is not None and summary['kb_written_per_job'] <= 20,
    }
    print(json.dumps(summary, indent=1, sort_keys=True))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_http(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit('localq run exited (code %s)' % proc.returncode)
        try:
            conn = http.client.HTTPConnection('127.0.0.1', port, timeout=2)
            conn.request('GET', '/healthcheck')
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit('localq run did not answer in %ss' % timeout)


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


if __name__ == '__main__':
    sys.exit(main())
