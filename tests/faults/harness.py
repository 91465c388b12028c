"""What every fault case shares: worker processes logging to files, a PostgreSQL cluster of the
test's own, and `FaultRun`, which watches the job rows and the side effects while a fault happens
and then checks the matrix's invariants.

The invariants (the same for each case):
  1. no acknowledged job lost: every job enqueued ends SUCCESS;
  2. none finished twice: each job's side effect ("done" line in effects.log) happened once;
  3. none left STARTED past its lease plus a heartbeat while the database was usable by someone;
  4. throughput back after the fault: measured (printed and written to test-artifacts/faults/),
     bounded only by the case's deadline for the whole drain;
  5. outages logged in pairs: every "cannot use the database" line of a thread has its "the
     database answers again" line, and a fault that cut a worker off is logged at all.
"""
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from tests.conftest import ROOT, free_port
from tests.faults.tasks import EFFECTS

ARTIFACTS = os.path.join(ROOT, 'test-artifacts', 'faults')
PG_BIN = sorted(f for f in (os.path.join(d, 'bin') for d in
                            (os.path.join('/usr/lib/postgresql', v) for v in
                             (os.listdir('/usr/lib/postgresql') if os.path.isdir('/usr/lib/postgresql') else [])))
                if os.path.exists(os.path.join(f, 'initdb')))
RUNNING = ('STARTED', 'PROCESSING')
OUTAGE_START = re.compile(r'WARNING localq\.\w+: (.+?) (\d+): cannot use the database \((.*)\)')
OUTAGE_END = re.compile(r'WARNING localq\.\w+: (.+?) (\d+): the database answers again after ([\d.]+) s')


# -- worker processes ---------------------------------------------------------------------------
class WorkerProcess:
    """A `localq -A tests.faults.tasks:app worker` process in its own process group, its output
    in a file (read at any time; a pipe nobody reads would block a worker that logs a lot)."""

    def __init__(self, data_dir, name, env, concurrency=2, extra=(), prefix=(), log_dir=None):
        self.name = name
        self.log_path = os.path.join(log_dir or data_dir, 'worker-%s.log' % name)
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self._log = open(self.log_path, 'ab')
        full_env = dict(os.environ, PYTHONPATH=ROOT, **env)
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, '-m', 'localq.cli', '-A', 'tests.faults.tasks:app', '--data-dir',
             str(data_dir), 'worker', '-c', str(concurrency), '-n', name, *extra],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        with open(self.log_path, 'rb') as fh:
            return fh.read().decode(errors='replace')

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.startswith('localq worker ') for line in self.output().splitlines()):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError('worker %s not ready (exit code %s):\n%s' % (self.name, self.proc.poll(), self.output()))

    def signal(self, sig):
        os.killpg(self.proc.pid, sig)

    def stop(self, timeout=30.0):
        """SIGTERM (SIGCONT too, in case it is frozen); SIGKILL if it has not exited by timeout.
        Returns the exit code."""
        if self.proc.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


# -- a PostgreSQL cluster of the test's own (it may be restarted, stopped, cut off) -------------
def as_postgres(*argv, check=True):
    """Run a PostgreSQL tool, as the postgres user when we are root (initdb refuses root)."""
    if os.getuid() == 0:
        return subprocess.run(['su', 'postgres', '-s', '/bin/sh', '-c', ' '.join(argv)], check=check,
                              capture_output=True)
    return subprocess.run(list(argv), check=check, capture_output=True)


class Cluster:
    """initdb + pg_ctl in a temporary folder, listening on 127.0.0.1 (and more addresses on request)."""

    def __init__(self):
        self.bin = PG_BIN[-1]
        self.folder = tempfile.mkdtemp(prefix='localq-faults-pg-')
        if os.getuid() == 0:
            shutil.chown(self.folder, 'postgres')
        self.data = os.path.join(self.folder, 'data')
        self.port = free_port()
        self.listen = '127.0.0.1'
        as_postgres(self.bin + '/initdb', '-D', self.data, '-A', 'trust', '-U', 'postgres')
        self.pg_ctl('start')
        as_postgres(self.bin + '/createdb', '-h', '127.0.0.1', '-p', str(self.port), '-U', 'postgres', 'faults')

    def url(self, host='127.0.0.1'):
        return 'postgresql://postgres@%s:%d/faults' % (host, self.port)

    def pg_ctl(self, command, mode='fast'):
        options = "'-p %d -k %s -c listen_addresses=%s'" % (self.port, self.folder, self.listen)
        extra = ('-m', mode) if command in ('restart', 'stop') else ()
        as_postgres(self.bin + '/pg_ctl', '-D', self.data, '-o', options, '-l', self.folder + '/log', command,
                    *extra, '-w')

    def trust(self, subnet):
        """Let clients of subnet in (initdb -A trust lets in loopback only); effective at the next start."""
        with open(os.path.join(self.data, 'pg_hba.conf'), 'a') as fh:
            fh.write('host all all %s trust\n' % subnet)

    def destroy(self):
        as_postgres(self.bin + '/pg_ctl', '-D', self.data, 'stop', '-m', 'immediate', check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def superuser_sql(url, query, params=()):
    """One statement on a connection of its own (not the app's: it must not count as the producer's)."""
    import psycopg2
    conn = psycopg2.connect(url, application_name='faults-test')
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


# -- the invariants -----------------------------------------------------------------------------
class FaultRun:
    """One case: enqueue jobs, mark the fault, watch rows and effects, check the invariants.

    lease and heartbeat are the workers' settings (LOCALQ_LEASE_TIMEOUT, LOCALQ_HEARTBEAT_INTERVAL)."""

    SWEEP_SLACK = 1.0   # a heartbeat loop wakes every 0.25 s, and its sweep takes a moment

    def __init__(self, case, app, lease, heartbeat, workers=()):
        self.case, self.app = case, app
        self.workers = workers     # every WorkerProcess of the case (their logs explain a failure)
        self.lease, self.heartbeat = lease, heartbeat
        self.keys = []
        self.fault_start = self.fault_end = None
        self.excused = []          # [(start, end)]: the database was usable by nobody
        self._unusable_since = None
        self._out_of_lease = {}    # (job id, attempt) -> when first seen running past its lease
        self.stale_seen = {}       # job id -> (worker, seconds past its lease) while someone could rescue it
        self.figures = {}
        self.batches = 0
        self.ids = {}              # job key (its effects' name) -> job id

    @property
    def env(self):
        return {'LOCALQ_LEASE_TIMEOUT': str(self.lease), 'LOCALQ_HEARTBEAT_INTERVAL': str(self.heartbeat)}

    def enqueue(self, n, steps=1, step_seconds=0.05):
        from tests.faults.tasks import effect
        self.batches += 1
        keys = ['b%d-%d' % (self.batches, i) for i in range(n)]
        ids = [effect.delay(key, steps, step_seconds).id for key in keys]
        self.keys += keys
        self.ids.update(zip(keys, ids))
        return ids

    def column(self, query, params=()):
        """The first column of a query's rows (through the test process's connection)."""
        return [row[0] for row in self._rows(query, params)]

    def workers_of(self, ids):
        return set(self.column('SELECT worker FROM job WHERE id IN (%s)' % ','.join('?' * len(ids)), tuple(ids)))

    def attempt_outcomes(self, job_id):
        return self.column('SELECT outcome FROM attempt WHERE job_id = ? ORDER BY number', (job_id,))

    # -- the fault's moments
    def fault_starts(self):
        self.fault_start = time.time()

    def fault_ends(self):
        self.fault_end = time.time()

    def unusable_from_now(self):
        """Nobody can write from now on (a restart, a held lock): no rescue is possible meanwhile."""
        self._unusable_since = time.time()

    def usable_from_now(self):
        self.excused.append((self._unusable_since, time.time()))
        self._unusable_since = None

    # -- reading state (the test process's own connection may fail during the fault)
    def _rows(self, query, params=()):
        try:
            return self.app.query.sql(query, params).fetchall()
        except Exception:
            try:
                self.app.huey.storage.close()
            except Exception:
                self.app.query.database._state.reset()   # the connection is gone; forget it
            return None

    def states(self):
        rows = self._rows('SELECT state, COUNT(*) FROM job GROUP BY state')
        return None if rows is None else dict(rows)

    def _sample_stale(self):
        """Invariant 3, sampled while someone could write: no job stays running more than a
        heartbeat (and a sweep's slack) past its lease, nor past its run's end (its "done" line)
        by a lease and a heartbeat: that is a lease kept alive for a run that ended."""
        now = time.time()
        spells = self.excused + ([(self._unusable_since, now)] if self._unusable_since else [])
        if any(start <= now <= end + self.heartbeat + self.SWEEP_SLACK for start, end in spells):
            return   # leases could not be renewed nor rescued then (and for one sweep after)
        rows = self._rows('SELECT id, worker, lease_until, attempts FROM job WHERE state IN (?, ?)', RUNNING)
        if not rows:
            return
        late = now - self.heartbeat - self.SWEEP_SLACK
        for job_id, worker, lease_until, attempt in rows:
            # Seen past its lease for a heartbeat (and a sweep's slack) of our own watching: no
            # sweep rescued it. (A claim that reached the server late, after a cut, can land with
            # a lease already out by the clock of its sending: that is rescued at the next sweep.)
            if lease_until is not None and lease_until < now:
                since = self._out_of_lease.setdefault((job_id, attempt), now)
                if now - since > self.heartbeat + self.SWEEP_SLACK:
                    self.stale_seen.setdefault(job_id, (worker, 'lease ran out %.1f s ago, seen so for %.1f s' % (
                        now - lease_until, now - since)))
        last_run = {}
        for what, key, _, at in self.effects():
            last_run[key] = (what, at)
        key_of = {job_id: key for key, job_id in self.ids.items()}
        for job_id, worker, _, _ in rows:
            what, at = last_run.get(key_of.get(job_id), (None, now))
            if what == 'done' and at < late - self.lease:
                self.stale_seen.setdefault(job_id, (worker, 'still running %.1f s after its run ended' % (now - at)))

    def wait(self, predicate, timeout, what):
        """Poll until predicate(states) is true, sampling invariant 3 meanwhile; fail after timeout
        with the row counts and the side effects seen so far."""
        deadline = time.monotonic() + timeout
        states = None
        while time.monotonic() < deadline:
            self._sample_stale()
            states = self.states()
            if states is not None and predicate(states):
                return states
            time.sleep(0.05)
        raise AssertionError('%s: timed out after %ss waiting for %s; job states %s; effects %s; %s\n%s' % (
            self.case, timeout, what, states, self.effect_summary(),
            'running too long: %s' % self.stale_seen if self.stale_seen else '', self.evidence()))

    def evidence(self):
        """The rows of unfinished jobs and the tail of every worker's log, for a failure message."""
        now = time.time()
        rows = self._rows('SELECT id, state, attempts, worker, worker_pid, lease_until FROM job '
                          "WHERE state != 'SUCCESS' ORDER BY state = 'PENDING', state, id LIMIT 12")
        lines = ['unfinished jobs (state, attempts, worker, pid, lease left in s): %s' % [
            (state, attempts, worker, pid, round(lease - now, 1) if lease else None)
            for _, state, attempts, worker, pid, lease in rows or ()]]
        t0 = self.fault_start or 0
        key_of = {job_id: key for key, job_id in self.ids.items()}
        for job_id in list(self.stale_seen)[:4]:
            attempts = self._rows('SELECT number, outcome, worker, started_at, finished_at FROM attempt '
                                  'WHERE job_id = ? ORDER BY number', (job_id,)) or []
            lines.append('job %s (%s), times in s after the fault started: attempts %s; effects %s' % (
                job_id, key_of.get(job_id), [(n, o, w, round(a - t0, 2) if a else None, round(b - t0, 2))
                                             for n, o, w, a, b in attempts],
                [(what, pid, round(at - t0, 2)) for what, k, pid, at in self.effects() if k == key_of.get(job_id)]))
        for w in self.workers:
            lines.append('--- worker %s (pid %d, exit code %s) log:\n%s' % (
                w.name, w.pid, w.proc.poll(), w.output()[-5000:]))
        return '\n'.join(lines)

    def watch_for(self, seconds):
        """Let a fault last this long (its length, not a wait for an event), sampling invariant 3."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._sample_stale()
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def wait_all_done(self, timeout):
        total = len(self.keys)
        return self.wait(lambda s: s.get('SUCCESS', 0) == total, timeout, 'all %d jobs SUCCESS' % total)

    def wait_done_at_least(self, n, timeout):
        return self.wait(lambda s: s.get('SUCCESS', 0) >= n, timeout, '%d jobs SUCCESS' % n)

    # -- side effects
    def effects(self):
        path = os.path.join(self.app.config.data_dir, EFFECTS)
        if not os.path.exists(path):
            return []
        with open(path) as fh:
            return [(what, key, int(pid), float(at)) for what, key, pid, at in (line.split() for line in fh)]

    def done_by(self, pid, start, end):
        """How many runs process pid finished between start and end."""
        return sum(1 for what, _, p, at in self.effects() if what == 'done' and p == pid and start <= at <= end)

    def first_done_by(self, pid, after):
        return min(at for what, _, p, at in self.effects() if what == 'done' and p == pid and at >= after)

    def effect_summary(self):
        count = collections.Counter(what for what, *_ in self.effects())
        return dict(count)

    # -- the check
    def check(self, expect_outage_logged=()):
        """Invariants 1-5 (see the module docstring); expect_outage_logged: the workers that the
        fault cut off (each must say so)."""
        workers = self.workers
        effects = self.effects()
        done = collections.Counter(key for what, key, _, _ in effects if what == 'done')
        rows = self._rows('SELECT id, state, attempts, worker FROM job')
        failures = []
        # 1. no acknowledged job lost
        states = collections.Counter(state for _, state, _, _ in rows)
        if states != {'SUCCESS': len(self.keys)}:
            failures.append('1. not every job SUCCESS: %s' % dict(states))
        missing = [k for k in self.keys if done[k] == 0]
        if missing:
            failures.append('1. %d job(s) never did their side effect: %s' % (len(missing), missing[:10]))
        # 2. none finished twice (but a run that ended inside its lease and lost its outcome with
        # its worker, or its connection, runs again: acks_late is at least once)
        twice = {k for k, n in done.items() if n > 1}
        repeated = {k for k in twice if self._repeated_after_lost_outcome(k)}
        if twice - repeated:
            failures.append('2. side effect done more than once (what, pid, seconds after the fault started): %s'
                            % self._effect_lines(twice - repeated))
        self.figures['repeated_after_lost_outcome'] = len(repeated)
        # 3. none left running past its lease plus a heartbeat while someone could rescue it
        if self.stale_seen:
            failures.append('3. jobs left running past their lease + a heartbeat, or after their run ended: %s'
                            % self.stale_seen)
        # 5. outages logged in pairs, and logged at all where the fault cut a worker off
        for worker in workers:
            out = worker.output()
            starts = collections.Counter(m.group(1, 2) for m in OUTAGE_START.finditer(out))
            ends = collections.Counter(m.group(1, 2) for m in OUTAGE_END.finditer(out))
            if starts != ends:
                failures.append('5. worker %s: outage start and end lines do not pair up: starts %s, ends %s'
                                % (worker.name, dict(starts), dict(ends)))
            self.figures.setdefault('outages_logged', {})[worker.name] = {
                '%s %s' % who: float(m.group(3)) for m in OUTAGE_END.finditer(out) for who in [m.group(1, 2)]}
            if worker in expect_outage_logged and not starts:
                failures.append('5. worker %s was cut off but logged no outage' % worker.name)
        # 4. throughput back: measured
        self.figures.update(self.recovery(effects))
        self.figures.update(case=self.case, database='sqlite' if self.app.query.is_sqlite else 'postgres',
                            jobs=len(self.keys), failures=failures)
        self.publish()
        if failures:
            raise AssertionError('%s: invariants broken:\n  %s\n%s' % (self.case, '\n  '.join(failures),
                                                                        self.evidence()))

    def _repeated_after_lost_outcome(self, key):
        """True if each of the job's runs but the last was done before a rescue (a LOST attempt)
        that came before the next run's end: each repeat was of a run that had ended while it
        still held the job, whose outcome was lost; none ran on after another took the job over."""
        dones = sorted(at for what, k, _, at in self.effects() if what == 'done' and k == key)
        rescues = self.column("SELECT finished_at FROM attempt WHERE job_id = ? AND outcome = 'LOST'",
                              (self.ids[key],))
        return all(any(earlier < rescue < later for rescue in rescues) for earlier, later in zip(dones, dones[1:]))

    def _effect_lines(self, keys):
        return {k: [(what, pid, round(at - (self.fault_start or 0), 2)) for what, key, pid, at in self.effects()
                    if key == k] for k in list(keys)[:5]}

    def recovery(self, effects):
        """Seconds from the fault's end until: the first job that started after it was done; the
        done rate over a 1 s window was back to half the rate before the fault; every job was done."""
        if self.fault_end is None:
            return {}
        started_after = {key for what, key, _, at in effects if what == 'start' and at >= self.fault_end}
        dones = sorted(at for what, key, _, at in effects if what == 'done')
        new_dones = [at for what, key, _, at in effects if what == 'done' and key in started_after
                     and at >= self.fault_end]
        figures = {'fault_seconds': round(self.fault_end - self.fault_start, 2) if self.fault_start else None,
                   'first_new_job_done_after': round(min(new_dones) - self.fault_end, 2) if new_dones else None,
                   'all_done_after': round(max(dones) - self.fault_end, 2) if dones else None}
        before = [at for at in dones if at < (self.fault_start or self.fault_end)]
        if len(before) >= 10:
            rate = (len(before) - 1) / max(before[-1] - before[0], 1e-3)
            after = [at for at in dones if at >= self.fault_end]
            for i, at in enumerate(after):
                in_window = sum(1 for other in after[i:] if other < at + 1.0)
                if in_window >= rate / 2:
                    figures['rate_back_after'] = round(at - self.fault_end, 2)
                    break
            figures['rate_before_per_s'] = round(rate, 1)
        return figures

    def publish(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        name = '%s.%s.py%d%d.json' % (self.case, self.figures['database'], *sys.version_info[:2])
        with open(os.path.join(ARTIFACTS, name), 'w') as fh:
            json.dump(self.figures, fh, indent=1)
        print('\nfault %s on %s: %s' % (self.case, self.figures['database'], json.dumps(
            {k: v for k, v in self.figures.items() if k not in ('case', 'database', 'failures')})))


# -- a worker's own PostgreSQL connections --------------------------------------------------------
def local_tcp_ports(pid):
    """The local ports of the TCP sockets process pid holds (from /proc: its fds' socket inodes)."""
    inodes = set()
    fd_dir = '/proc/%d/fd' % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    ports = set()
    for table in ('tcp', 'tcp6'):
        try:
            with open('/proc/%d/net/%s' % (pid, table)) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    if fields[9] in inodes:
                        ports.add(int(fields[1].rsplit(':', 1)[1], 16))
        except OSError:
            continue
    return ports


def role_of(query):
    """Which thread of a worker a connection serves, from the last statement it ran."""
    text = ' '.join((query or '').split())
    if text.startswith('LISTEN'):
        return 'wake-up listener'
    if text.startswith(('EXECUTE localq_', 'PREPARE localq_', 'SELECT MIN(eta)')):
        return 'worker thread'
    if text == 'COMMIT':
        return 'scheduler or main thread'   # both last ran a short transaction
    if any(part in text for part in ('UPDATE worker SET last_seen', 'lease_until = ', 'ANALYZE job', 'revoke_requested',
                                     'SELECT id FROM job WHERE worker', 'SELECT id, attempts FROM job')):
        return 'heartbeat'
    return 'other: ' + text[:60]


def backends_of(admin_url, pid):
    """[(backend pid, role)] of the server connections process pid holds, via pg_stat_activity."""
    ports = local_tcp_ports(pid)
    rows = superuser_sql(admin_url, 'SELECT pid, client_port, query FROM pg_stat_activity '
                                    'WHERE datname = current_database() AND client_port IS NOT NULL')
    return sorted((backend, role_of(query)) for backend, port, query in rows if port in ports)


def terminate(admin_url, backend_pid):
    return superuser_sql(admin_url, 'SELECT pg_terminate_backend(%s)', (backend_pid,))[0][0]
