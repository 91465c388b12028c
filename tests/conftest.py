import os
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# LOCALQ_DATABASE_URL=postgresql://... runs the same tests on PostgreSQL (.ci/run does, with a
# real server); every app, worker and run.py the tests start reads it, as users' would.
TEST_DATABASE_URL = os.environ.get('LOCALQ_DATABASE_URL', '')
on_postgres = pytest.mark.skipif(not TEST_DATABASE_URL.startswith('postgres'), reason='needs LOCALQ_DATABASE_URL')
sqlite_only = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason='about the SQLite file itself')


def processes_mentioning(path):
    """{pid: command line} of live processes (not this one) whose command line or environment names path."""
    found, needle = {}, str(path).encode()
    for pid in filter(str.isdigit, os.listdir('/proc')):
        if int(pid) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as fh:
                cmdline = fh.read()
            with open('/proc/%s/environ' % pid, 'rb') as fh:
                environ = fh.read()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            found[int(pid)] = cmdline.replace(b'\0', b' ').decode(errors='replace').strip()
    return found


@pytest.fixture(scope='session', autouse=True)
def no_process_outlives_the_tests(tmp_path_factory):
    """Every worker, run.py and lab process the tests start works in a folder under pytest's
    temporary base folder: at the end of the session none of them may still be running."""
    base = tmp_path_factory.getbasetemp()
    yield
    if not os.path.isdir('/proc'):
        return
    deadline = time.monotonic() + 15
    while processes_mentioning(base) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = processes_mentioning(base)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)   # leave the machine clean, then fail
        except OSError:
            pass
    assert not left, 'processes the tests started are still running: %s' % left


@pytest.fixture(autouse=True)
def empty_database():
    """An empty PostgreSQL database for each test (on SQLite each test has its own new file)."""
    if TEST_DATABASE_URL:
        from playhouse.db_url import connect
        db = connect(TEST_DATABASE_URL)
        db.execute_sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public')
        db.close()


@pytest.fixture
def app(tmp_path):
    """The sample tasks' app on a fresh SQLite file under tmp_path (or an empty PostgreSQL database)."""
    from tests.sample_tasks import APP_MODELS, app, gates
    app.configure(data_dir=str(tmp_path / 'data'), database_url=TEST_DATABASE_URL, lease_timeout=15.0,
                  heartbeat_interval=2.0, poll_interval=0.005)
    app.huey.immediate = False
    app.setup()
    app.create_tables(APP_MODELS)
    gates.clear()
    yield app
    app.close()


@pytest.fixture
def worker(app):
    """A real Huey consumer (2 threads) in this process, stopped gracefully after the test."""
    from localq.worker import LocalqConsumer
    consumer = LocalqConsumer(app, workers=2, name='test-worker')
    consumer.start_in_thread()
    yield consumer
    consumer.shutdown()


@pytest.fixture
def process_worker(app):
    """One `localq worker` process (2 threads, named process-worker) on the test's data folder,
    online before the test starts; stopped with SIGTERM after it, and it must exit cleanly."""
    proc = spawn_worker(app.config.data_dir, '-c', '2', '-n', 'process-worker')
    wait_ready(proc)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    out = proc.communicate(timeout=30)[0].decode(errors='replace')
    assert proc.returncode == 0, out


def wait_ready(proc, timeout=30.0):
    """Wait for a `localq worker` process's ready line: it runs jobs and hears SIGTERM from then on
    (its row in the worker table appears earlier, before its signal handlers)."""
    import select
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.1)[0]:
            line = proc.stdout.readline().decode(errors='replace')
            if line.startswith('localq worker '):
                return line
            if not line:
                break
    raise AssertionError('worker process not ready after %ss (exit code %s)' % (timeout, proc.poll()))


def wait_for(predicate, timeout=10.0, what='condition'):
    """Poll an observable condition (a row, a file) until true; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError('timed out after %ss waiting for %s' % (timeout, what))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def spawn_worker(data_dir, *extra, app='tests.sample_tasks:app', env=None):
    """A `localq worker` subprocess on the same data folder, in its own process group."""
    full_env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    return subprocess.Popen([sys.executable, '-m', 'localq.cli', '-A', app, '--data-dir', str(data_dir),
                             'worker', *extra], cwd=ROOT, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
