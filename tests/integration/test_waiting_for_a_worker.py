"""A job for a task that no running worker has yet waits for one (issue #25, item 2).

Celery leaves such a message queued until a worker that has the task consumes it. Here:
- run.py's built-in worker (localq's own app) sharing your data folder never takes your job;
- the job runs as soon as a worker that has its task starts;
- meanwhile every place a user looks says why it waits, with the tasks the workers do have;
- it waits until its `expires`, if it has one.
"""
import json
import os
import signal
import subprocess
import sys
import time

from localq.models import Job
from localq.retention import expire_unclaimed
from localq.web import create_app
from tests.conftest import ROOT, spawn_worker, wait_ready
from tests.sample_tasks import add


def stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    out = proc.communicate(timeout=30)[0].decode(errors='replace')
    assert proc.returncode == 0, out


def test_a_job_queued_before_its_worker_starts_runs_when_it_does(app):
    # Given only run.py's worker (localq's own app, without your tasks) on your data folder
    dashboard_worker = spawn_worker(app.config.data_dir, '-n', 'dashboard', app='localq.tasks:app')
    try:
        wait_ready(dashboard_worker)
        # When you queue a job of your task, before your worker runs
        result = add.delay(20, 22)
        own = app.send_task('localq.add', args=(1, 1))   # a job the dashboard's worker has
        assert own.get(timeout=20) == 2
        # Then it waits, unclaimed, and says why wherever you look
        assert (Job.get_by_id(result.id).state, Job.get_by_id(result.id).attempts) == ('PENDING', 0)
        info = create_app(app).test_client().get('/api/task/info/' + result.id).get_json()
        assert "No running worker has task 'tests.add'" in info['wait_reason']
        assert 'The running workers have: ' in info['wait_reason'] and 'localq.add' in info['wait_reason']
        status = subprocess.run([sys.executable, '-m', 'localq.cli', '-A', 'tests.sample_tasks:app', '--data-dir',
                                 app.config.data_dir, 'status', result.id], cwd=ROOT, capture_output=True,
                                env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
        assert "No running worker has task 'tests.add'" in json.loads(status.stdout)['why_waiting'], status.stderr
        # and when your worker starts, it runs it
        yours = spawn_worker(app.config.data_dir, '-n', 'yours')
        try:
            assert result.get(timeout=30) == 42
            assert Job.get_by_id(result.id).worker == 'yours'
        finally:
            stop(yours)
    finally:
        stop(dashboard_worker)


def test_a_job_no_worker_takes_is_revoked_when_it_expires(app):
    waiting = app.send_task('tests.not_deployed', args=(1,), expires=60)
    forever = app.send_task('tests.not_deployed', args=(2,))
    assert expire_unclaimed(app, now=time.time() + 30) == []
    assert expire_unclaimed(app, now=time.time() + 61) == [waiting.id]
    assert waiting.state == 'REVOKED' and forever.state == 'PENDING'
    assert 'expired' in Job.get_by_id(waiting.id).wait_reason
