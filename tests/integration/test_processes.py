"""Separate worker processes on one SQLite file, and `python run.py` end to end."""
import json
import os
import signal
import subprocess
import sys
import urllib.request

from localq.lab.scenarios import RateLimit
from localq.models import Attempt, Job, WorkerRecord
from tests.conftest import ROOT, free_port, spawn_worker
from tests.sample_tasks import paced, pid


def stop(proc):
    """SIGTERM a worker; return its exit code (its output is shown if the test fails)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    output = proc.communicate(timeout=30)[0]
    print(output.decode(errors='replace'))
    return proc.returncode


def test_rate_limit_holds_across_two_worker_processes(app):
    # Given two worker processes serving the same file
    workers = [spawn_worker(app.config.data_dir, '-c', '2', '-n', 'w%d' % i) for i in range(2)]
    try:
        # When 6 calls of a "5/s" task arrive at once
        results = [paced.delay(i) for i in range(10)]
        calls = [r.get(timeout=30) for r in results]
    finally:
        codes = [stop(w) for w in workers]
    # Then no call started before its slot (slots are 0.2 s apart across both processes), and
    # since a start lags its slot by less than one slot, no 0.8 s window holds more than 5 starts
    lags = [c['started'] - c['slot'] for c in calls]
    assert 0 <= min(lags) and max(lags) < 0.2, lags
    assert RateLimit.busiest_window([c['started'] for c in calls], 1.0 - 0.2) <= 5
    # Both processes were serving while the jobs ran (else "across two" proves nothing).
    assert WorkerRecord.select().where(WorkerRecord.id.in_(['w0', 'w1'])).count() == 2
    assert codes == [0, 0]


def test_a_cli_worker_runs_jobs_and_stops_gracefully_on_sigterm(app):
    proc = spawn_worker(app.config.data_dir, '-c', '1', '-n', 'cli-worker')
    try:
        result = pid.delay()
        worker_pid = result.get(timeout=30)
    finally:
        code = stop(proc)
    assert worker_pid == proc.pid and code == 0
    assert Job.get_by_id(result.id).worker == 'cli-worker'


def test_a_recycled_worker_process_records_the_outcome_of_its_last_job(app):
    # Given a process worker replaced after every 2 jobs (--max-tasks-per-child)
    proc = spawn_worker(app.config.data_dir, '-c', '1', '-P', 'process', '--max-tasks-per-child', '2', '-n', 'recycler')
    try:
        # When 5 jobs run through it (so two child processes retire)
        results = [pid.delay() for _ in range(5)]
        pids = [r.get(timeout=30) for r in results]
    finally:
        stop(proc)
    # Then each retired child's last job is SUCCESS, not left running until its lease marks it lost
    assert [Job.get_by_id(r.id).state for r in results] == ['SUCCESS'] * 5
    assert len(set(pids)) == 3


def test_python_run_py_serves_the_dashboard_and_runs_a_job_queued_from_the_cli(tmp_path):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=ROOT)
    server = subprocess.Popen([sys.executable, 'run.py', '--port', str(port), '--data-dir', str(tmp_path)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        line = server.stdout.readline()
        assert 'http://127.0.0.1:%d/' % port in line, line
        out = subprocess.run([sys.executable, '-m', 'localq.cli', '--data-dir', str(tmp_path), 'enqueue',
                              'localq.add', '2', '3', '--wait', '20'], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
        job_id, value = out.stdout.split()
        assert value == '5', out
        page = urllib.request.urlopen('http://127.0.0.1:%d/jobs' % port, timeout=10).read().decode()
        assert job_id[:8] in page and 'SUCCESS' in page
        overview = urllib.request.urlopen('http://127.0.0.1:%d/' % port, timeout=10).read().decode()
        assert 'data-state="SUCCESS"' in overview and 'Traceback' not in overview
        status = json.load(urllib.request.urlopen('http://127.0.0.1:%d/tasks/%s' % (port, job_id), timeout=10))
        assert status['status'] == 'SUCCESS' and status['result'] == 5
    finally:
        os.killpg(server.pid, signal.SIGINT)
        rest = server.communicate(timeout=30)[0]
    assert server.returncode == 0, rest
    assert 'Traceback' not in rest


def test_run_py_moves_to_a_free_port_when_its_port_is_taken(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = subprocess.Popen([sys.executable, 'run.py', '--port', str(port), '--data-dir', str(tmp_path)],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        try:
            first = server.stdout.readline()
            second = server.stdout.readline()
        finally:
            os.killpg(server.pid, signal.SIGINT)   # at once: "running at" means Ctrl-C is heard
            try:
                server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)   # leave nothing behind, then fail
                server.communicate()
                raise
    assert 'port %d is in use' % port in first
    assert 'http://127.0.0.1:' in second and ':%d/' % port not in second


def test_cli_enqueue_wait_prints_the_tasks_error_in_one_line_and_exits_non_zero(app, process_worker):
    out = subprocess.run([sys.executable, '-m', 'localq.cli', '-A', 'tests.sample_tasks:app', '--data-dir',
                          app.config.data_dir, 'enqueue', 'tests.fail', '"a"', '--wait', '20'],
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=60)
    job_id = out.stdout.strip()
    assert out.returncode == 1 and Job.get_by_id(job_id).state == 'FAILURE'
    assert out.stderr == "localq: job %s ended FAILURE: ValueError: broken: 'a'\n" % job_id


def test_the_dashboard_stops_a_worker_process_gracefully(app):
    from localq.web import create_app
    from tests.conftest import wait_for, wait_ready
    from tests.sample_tasks import durable
    proc = spawn_worker(app.config.data_dir, '-c', '1', '-n', 'stoppable')
    try:
        wait_ready(proc)
        running = durable.delay(1, 1.5)
        wait_for(lambda: running.state == 'STARTED', what='the job to start')
        api = create_app(app).test_client()   # as curl would call it
        assert api.post('/api/workers/stoppable/stop').get_json() == {'ok': True, 'worker': 'stoppable',
                                                                      'stop_requested': True}
        # Then at its next heartbeat it stops as Ctrl-C would: the running job finishes first
        assert proc.wait(timeout=30) == 0
        assert running.state == 'SUCCESS' and Job.get_by_id(running.id).attempts == 1
        assert WorkerRecord.get_by_id('stoppable').stopped_at is not None
        assert api.post('/api/workers/stoppable/stop').status_code == 404   # no longer running
    finally:
        stop(proc)


def test_revoking_a_job_running_on_a_process_worker_stops_it_and_the_worker_goes_on(app):
    from tests.conftest import wait_for
    from tests.sample_tasks import loop_until_revoked
    # Given a -P process worker running a job that never ends by itself
    proc = spawn_worker(app.config.data_dir, '-c', '1', '-P', 'process', '-n', 'forked',
                        env={'LOCALQ_HEARTBEAT_INTERVAL': '0.2'})
    try:
        endless = loop_until_revoked.delay('forked')
        wait_for(lambda: endless.state == 'STARTED', timeout=30, what='the job running')
        # When a user revokes it
        app.revoke(endless.id)
        # Then it stops as REVOKED (its one attempt too), and the same child runs the next job
        wait_for(lambda: endless.state == 'REVOKED', timeout=10, what='REVOKED')
        assert pid.delay().get(timeout=10) == Job.get_by_id(endless.id).worker_pid
    finally:
        code = stop(proc)
    assert [a.outcome for a in Attempt.select().where(Attempt.job == endless.id)] == ['REVOKED']
    assert code == 0
