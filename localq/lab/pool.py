"""The lab's worker processes: real `localq worker` processes it starts, stops and kills.

Only processes this pool started can be stopped or killed through it, so a
button on a page can never signal an arbitrary pid from the worker table.
"""
import os
import signal
import subprocess
import sys
import threading
import time

# Lab workers beat often and hold short leases, so a killed worker's jobs are
# rescued within seconds while the class watches (the defaults are 2 s and 15 s).
LAB_WORKER_ENV = {'LOCALQ_HEARTBEAT_INTERVAL': '0.5', 'LOCALQ_LEASE_TIMEOUT': '3', 'LOCALQ_SHUTDOWN_TIMEOUT': '2'}


class WorkerPool:
    def __init__(self, app, app_spec='localq.lab.scenarios:app'):
        self.app = app
        self.app_spec = app_spec
        self.procs = {}        # worker name -> Popen
        self._lock = threading.Lock()
        self._numbers = {}     # name prefix -> last number used

    def start(self, prefix, queues, concurrency=1, pool='thread', max_tasks=None, speed=None):
        """Start one `localq worker` process named <prefix>-<n>; returns its name."""
        cfg = self.app.config
        with self._lock:
            number = self._numbers.get(prefix, 0) + 1
            self._numbers[prefix] = number
        name = '%s-%d' % (prefix, number)
        log_dir = os.path.join(cfg.data_dir, 'lab')
        os.makedirs(log_dir, exist_ok=True)
        # Settings travel in the environment, not argv: a database URL may hold a password.
        env = dict(os.environ, LOCALQ_DATA_DIR=os.path.abspath(cfg.data_dir), LOCALQ_LAB_SPEED=str(speed or cfg.lab_speed),
                   **LAB_WORKER_ENV)
        env['LOCALQ_DATABASE_URL'] = cfg.database_url
        argv = [sys.executable, '-m', 'localq.cli', '-A', self.app_spec, 'worker', '-n', name,
                '-Q', ','.join(queues), '-c', str(concurrency), '-P', pool]
        if max_tasks:
            argv += ['--max-tasks-per-child', str(max_tasks)]
        with open(os.path.join(log_dir, name + '.log'), 'ab') as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        with self._lock:
            self.procs[name] = proc
        return name

    def alive(self, prefix=None):
        """Names of started workers still running, oldest first."""
        with self._lock:
            items = list(self.procs.items())
        return [n for n, p in items if p.poll() is None and (prefix is None or n.startswith(prefix + '-'))]

    def pid(self, name):
        proc = self.procs.get(name)
        return proc.pid if proc is not None else None

    def kill(self, name):
        """SIGKILL: the process dies mid-job, as in a crash or an out-of-memory kill."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True

    def stop(self, name, timeout=10.0):
        """SIGTERM: finish or release running jobs, then exit (SIGKILL if it will not)."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return False
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return True

    def stop_all(self, prefix=None, timeout=10.0):
        names = self.alive(prefix)
        for name in names:
            self.procs[name].terminate()
        deadline = time.monotonic() + timeout
        for name in names:
            self.stop(name, max(0.1, deadline - time.monotonic()))
        return names

    def forget(self, prefix=None):
        """Drop stopped workers from the pool (their exit codes are kept until then, for the page)."""
        with self._lock:
            for name in [n for n, p in self.procs.items() if p.poll() is not None
                         and (prefix is None or n.startswith(prefix + '-'))]:
                del self.procs[name]
