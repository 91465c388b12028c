"""A PostgreSQL restart in the middle of a drain: producers and every worker thread carry on."""
import glob
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from localq.models import Job
from tests.conftest import free_port, spawn_worker, wait_for, wait_ready

PG_BIN = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))


def as_postgres(*argv):
    """Run a PostgreSQL tool, as the postgres user when we are root (initdb refuses root)."""
    if os.getuid() == 0:
        return subprocess.run(['su', 'postgres', '-s', '/bin/sh', '-c', ' '.join(argv)], check=True,
                              capture_output=True)
    return subprocess.run(list(argv), check=True, capture_output=True)


@pytest.fixture
def own_postgres():
    """A throwaway PostgreSQL cluster this test may restart or stop: yields (url, pg_ctl)."""
    if not PG_BIN:
        if os.environ.get('CI'):
            pytest.fail('no PostgreSQL server binaries: .ci/run installs them')
        pytest.skip('no PostgreSQL server binaries (apt-get install postgresql)')
    bin_dir = os.path.dirname(PG_BIN[-1])
    folder = tempfile.mkdtemp(prefix='localq-pg-restart-')
    if os.getuid() == 0:
        shutil.chown(folder, 'postgres')
    port = free_port()
    data = os.path.join(folder, 'data')
    as_postgres(bin_dir + '/initdb', '-D', data, '-A', 'trust', '-U', 'postgres')
    options = "'-p %d -k %s -c listen_addresses=127.0.0.1'" % (port, folder)
    as_postgres(bin_dir + '/pg_ctl', '-D', data, '-o', options, '-l', folder + '/log', 'start', '-w')
    as_postgres(bin_dir + '/createdb', '-h', '127.0.0.1', '-p', str(port), '-U', 'postgres', 'restart')

    def pg_ctl(command):
        as_postgres(bin_dir + '/pg_ctl', '-D', data, '-o', options, '-l', folder + '/log', command, '-m', 'fast',
                    '-w')
    yield 'postgresql://postgres@127.0.0.1:%d/restart' % port, pg_ctl
    as_postgres(bin_dir + '/pg_ctl', '-D', data, 'stop', '-m', 'immediate')
    shutil.rmtree(folder, ignore_errors=True)


def test_a_postgres_restart_mid_drain_loses_no_job_and_logs_a_few_lines(tmp_path, own_postgres):
    url, pg_ctl = own_postgres
    from tests import sample_tasks
    app = sample_tasks.app
    app.configure(data_dir=str(tmp_path / 'data'), database_url=url)
    app.create_tables(sample_tasks.APP_MODELS)
    results = [sample_tasks.durable.delay(i, 0.05) for i in range(100)]
    env = {'LOCALQ_DATABASE_URL': url, 'LOCALQ_LEASE_TIMEOUT': '3', 'LOCALQ_HEARTBEAT_INTERVAL': '0.5'}
    worker = spawn_worker(app.config.data_dir, '-c', '2', '-n', 'restart-worker', env=env)
    try:
        wait_ready(worker)
        # When the server restarts (fast: connections cut) while the worker drains the jobs
        wait_for(lambda: Job.select().where(Job.state == 'SUCCESS').count() >= 20, timeout=60, what='20 jobs done')
        pg_ctl('restart')
        # Then the producer's next call reconnects by itself, instead of raising
        late = sample_tasks.add.delay(2, 3)
        # and every job ends: the ones running at the restart finished or rescued within their lease
        wait_for(lambda: Job.select().where(Job.state != 'SUCCESS').count() == 0, timeout=90,
                 what='every job to succeed after the restart')
        assert sorted(r.get(timeout=1) for r in results) == list(range(100)) and late.get(timeout=10) == 5
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        out = worker.communicate(timeout=30)[0].decode(errors='replace')
        app.close()
    # The worker said what happened in a few lines, not a traceback per try
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) < 40 and out.count('Traceback') <= 2, out
    assert worker.returncode == 0, out


def test_pages_answer_503_while_the_database_is_down_and_recover_by_themselves(tmp_path, own_postgres):
    url, pg_ctl = own_postgres
    from localq import LocalQ
    from localq.web import create_app
    app = LocalQ(data_dir=str(tmp_path / 'data'), database_url=url)
    client = create_app(app).test_client()
    try:
        assert client.get('/api/tasks').status_code == 200
        pg_ctl('stop')
        down = client.get('/api/tasks')
        assert down.status_code == 503 and 'cannot be reached' in down.get_json()['error']
        assert client.get('/').status_code == 503
        pg_ctl('start')
        assert client.get('/api/tasks').status_code == 200 and client.get('/').status_code == 200
    finally:
        app.close()
