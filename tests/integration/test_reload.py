"""`localq worker --reload` as a developer uses it: a real supervisor process, a real worker child,
a real file saved in the project's folder, and jobs sent from another process's app."""
import os
import signal
import subprocess
import sys

import pytest

from localq import LocalQ
from localq.models import Attempt
from localq.reload import without_reload_flags
from tests.conftest import ROOT, TEST_DATABASE_URL, wait_for

TASKS = '''
import os
import time

from localq import LocalQ

app = LocalQ('mytasks')
VERSION = %d


@app.task(name='mytasks.version')
def version():
    return VERSION


@app.task(name='mytasks.slow')
def slow(gate):
    open(gate + '.started', 'w').close()
    while not os.path.exists(gate):   # the test opens the gate
        time.sleep(0.01)
    return VERSION
'''


def write_tasks(folder, version, broken=False):
    with open(folder / 'mytasks.py', 'w') as fh:
        fh.write(TASKS % version + ('\ndef oops(:\n' if broken else ''))


class Session:
    """A developer's `localq -A mytasks worker --reload` in their project folder, and a client."""

    def __init__(self, folder):
        self.folder, self.lines = folder, []
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'localq', '-A', 'mytasks', '--data-dir', str(folder / 'data'),
             'worker', '-c', '2', '--reload'], cwd=folder, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.client = LocalQ('client', data_dir=str(folder / 'data'), database_url=TEST_DATABASE_URL)

    def read_until(self, text, timeout=30.0):
        """Read the supervisor's and its child's output until a line containing text."""
        import select

        def seen():
            while select.select([self.proc.stdout], [], [], 0.05)[0]:
                line = self.proc.stdout.readline().decode(errors='replace')
                if not line:
                    raise AssertionError('exited (%s); output: %s' % (self.proc.poll(), ''.join(self.lines)))
                self.lines.append(line)
                if text in line:
                    return True
            return False
        wait_for(seen, timeout=timeout, what='%r in the output: %s' % (text, ''.join(self.lines)))

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.client.close()


@pytest.fixture
def session(tmp_path):
    write_tasks(tmp_path, 1)
    s = Session(tmp_path)
    yield s
    s.stop()


def test_a_saved_file_restarts_the_worker_and_its_next_job_runs_the_new_code(session, tmp_path):
    session.read_until('localq worker ')
    assert session.client.send_task('mytasks.version').get(timeout=20) == 1
    write_tasks(tmp_path, 2)
    session.read_until('mytasks.py changed')
    session.read_until('localq worker ')   # the new child is ready
    assert session.client.send_task('mytasks.version').get(timeout=20) == 2


def test_a_running_job_finishes_on_the_old_code_before_the_restart(session, tmp_path):
    session.read_until('localq worker ')
    gate = str(tmp_path / 'gate')
    running = session.client.send_task('mytasks.slow', args=(gate,))
    wait_for(lambda: os.path.exists(gate + '.started'), timeout=20, what='the job to start')
    write_tasks(tmp_path, 2)
    session.read_until('mytasks.py changed')
    # The old worker waits for its job (a warm stop); the job is not interrupted or run twice.
    session.read_until('warm stop')
    open(gate, 'w').close()
    assert running.get(timeout=20) == 1
    session.read_until('localq worker ')
    assert session.client.send_task('mytasks.version').get(timeout=20) == 2
    session.client.setup()
    assert [a.outcome for a in Attempt.select().where(Attempt.job == running.id)] == ['SUCCESS']


def test_a_syntax_error_stops_the_child_and_the_fix_starts_it_again(session, tmp_path):
    session.read_until('localq worker ')
    write_tasks(tmp_path, 2, broken=True)
    session.read_until('SyntaxError')
    session.read_until('it starts again when a file changes')
    assert session.proc.poll() is None   # the supervisor waits for the fix
    write_tasks(tmp_path, 3)
    session.read_until('localq worker ')
    assert session.client.send_task('mytasks.version').get(timeout=20) == 3


def test_ctrl_c_stops_the_supervisor_and_its_worker_once(session):
    session.read_until('localq worker ')
    os.kill(session.proc.pid, signal.SIGINT)
    assert session.proc.wait(timeout=30) == 0
    session.read_until('warm stop')


def test_the_child_runs_the_same_command_without_the_reload_flags():
    assert without_reload_flags(['-A', 'm', 'worker', '--reload', '-c', '2']) == ['-A', 'm', 'worker', '-c', '2']
    assert without_reload_flags(['run', '--reload-dir', 'src', '--reload', '--port', '9']) == ['run', '--port', '9']
    assert without_reload_flags(['worker', '--reload-dir=src', '--reload']) == ['worker']
