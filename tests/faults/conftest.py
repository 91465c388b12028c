"""Fixtures of the fault matrix: the app on the suite's database or on a cluster of the test's own,
and worker processes that are always stopped (thawed first if frozen) after the test."""
import os

import pytest

from tests.conftest import TEST_DATABASE_URL
from tests.faults.harness import PG_BIN, Cluster, FaultRun, WorkerProcess

LEASE, HEARTBEAT = 5.0, 1.0   # the settings: a lost run is rescued within about 6 s

# The PostgreSQL cases run in the suite's PostgreSQL pass (LOCALQ_DATABASE_URL set), the SQLite
# ones in the others, so each case runs once per database in CI. Cases that restart or cut off
# the server start a cluster of their own (in that pass only).
postgres_pass = pytest.mark.skipif(not TEST_DATABASE_URL.startswith('postgres'),
                                   reason='PostgreSQL cases run with LOCALQ_DATABASE_URL set (the PostgreSQL pass)')
sqlite_pass = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason='SQLite cases run in the SQLite passes')


def either_database(case):
    """Parametrise a case over both databases; each runs in its own pass."""
    return pytest.mark.parametrize('database', [pytest.param('sqlite', marks=sqlite_pass),
                                                pytest.param('postgres', marks=postgres_pass)])(case)


@pytest.fixture
def own_cluster():
    """A PostgreSQL cluster this test may restart, cut off or stop."""
    if not PG_BIN:
        if os.environ.get('CI'):
            pytest.fail('no PostgreSQL server binaries: .ci/run installs them')
        pytest.skip('no PostgreSQL server binaries (apt-get install postgresql)')
    cluster = Cluster()
    yield cluster
    cluster.destroy()


@pytest.fixture
def open_app(tmp_path):
    """open_app(url): the faults app (tests.sample_tasks' app with faults.effect) on url ('' for
    a SQLite file in the test's data folder), as the producer of the test process."""
    from tests.faults.tasks import app
    opened = []

    def open_on(url):
        app.configure(data_dir=str(tmp_path / 'data'), database_url=url, lease_timeout=LEASE,
                      heartbeat_interval=HEARTBEAT)
        app.huey.immediate = False
        app.setup()
        opened.append(app)
        return app
    yield open_on
    for each in opened:
        each.close()


@pytest.fixture
def workers(tmp_path):
    """workers(name, env, **options): start a worker process, ready; all are stopped after the test."""
    started = []

    def start(name, env, wait=True, **options):
        worker = WorkerProcess(tmp_path / 'data', name, env, log_dir=str(tmp_path / 'logs'), **options)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker
    start.all = started
    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def fault_run(request, workers):
    """fault_run(app): a FaultRun named after the test case (its figures' file name)."""
    case = request.node.name.replace('test_', '', 1).replace('[', '.').replace(']', '')

    def make(app, lease=LEASE, heartbeat=HEARTBEAT):
        return FaultRun(case, app, lease, heartbeat, workers=workers.all)
    return make


def until_fixed(bug):
    """A case that fails on today's code for a known bug (issue #22). Strict: the change that
    makes it pass must remove this mark, so the case then guards the fix."""
    return pytest.mark.xfail(strict=True, reason='issue #22: ' + bug)
