"""The worker command takes celery's flags (issue #25, item 6): -l/--loglevel, --concurrency,
-P/--pool with Celery's pool names, -n with %h, -B; and `localq beat` queues periodic tasks."""
import os
import signal
import socket
import subprocess
import sys

from localq.models import Job, WorkerRecord
from tests.conftest import ROOT, spawn_worker, wait_for, wait_ready
from tests.sample_tasks import add


def stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    out = proc.communicate(timeout=30)[0].decode(errors='replace')
    assert proc.returncode == 0, out
    return out


def test_a_worker_started_with_celerys_flags(app):
    proc = spawn_worker(app.config.data_dir, '-l', 'INFO', '--concurrency', '1', '-P', 'prefork', '-B',
                        '-n', 'cli@%h')
    try:
        wait_ready(proc)
        assert add.delay(2, 2).get(timeout=30) == 4
        row = WorkerRecord.get()
        assert (row.id, row.worker_type, row.concurrency) == ('cli@' + (socket.getfqdn() or socket.gethostname()),
                                                              'process', 1)
    finally:
        out = stop(proc)
    assert 'INFO' in out   # -l INFO logs what the worker does


def test_localq_beat_queues_the_periodic_tasks_that_workers_run(app, process_worker):
    beat = subprocess.Popen([sys.executable, '-m', 'localq.cli', '-A', 'tests.beat_app:app', '--data-dir',
                             app.config.data_dir, 'beat'], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        job = wait_for(lambda: Job.get_or_none(Job.idempotency_key.startswith('periodic:cli-beat-add:')
                                               & (Job.state == 'SUCCESS')), timeout=30, what='a tick run')
        assert job.result == '5'
    finally:
        out = stop(beat)
    assert 'cli-beat-add' in out
