"""A read-only dashboard in a real browser: `LOCALQ_READ_ONLY=1 python run.py` shows the job and
says "read-only", and no button that would change something is visible."""
import os
import signal
import subprocess
import sys

import pytest

from tests.browser.conftest import shot
from tests.conftest import ROOT, free_port


@pytest.fixture(scope='module')
def read_only_server(tmp_path_factory):
    data = tmp_path_factory.mktemp('read-only-data')
    port = free_port()
    proc = subprocess.Popen([sys.executable, 'run.py', '--port', str(port), '--data-dir', str(data)], cwd=ROOT,
                            env=dict(os.environ, LOCALQ_READ_ONLY='1'), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    line = proc.stdout.readline()
    assert 'http://127.0.0.1:%d/' % port in line, line
    # A job queued from another process (as a script would), run by run.py's own worker.
    script = ('import sys; from localq.tasks import app; app.configure(data_dir=sys.argv[1]); '
              'r = app.tasks["localq.add"].delay(2, 3); assert r.get(timeout=30) == 5; print(r.id)')
    job_id = subprocess.run([sys.executable, '-c', script, str(data)], cwd=ROOT, check=True, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=ROOT)).stdout.strip()
    yield 'http://127.0.0.1:%d' % port, job_id
    os.killpg(proc.pid, signal.SIGINT)
    rest = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0 and 'Exception on' not in rest, rest


def test_a_read_only_dashboard_shows_the_job_and_no_button_that_changes_it(read_only_server, page):
    url, job_id = read_only_server
    page.goto('%s/jobs/%s' % (url, job_id))
    page.wait_for_selector('text=SUCCESS')
    assert page.locator('header .badge').inner_text() == 'read-only'
    assert page.locator('form[method="post"]').count() >= 1       # the page has its actions ...
    assert not page.locator('button[data-action="delete"]').is_visible()   # ... none of them shown
    page.goto(url + '/')
    assert page.locator('form[method="post"] button:visible').count() == 0
    shot(page, 'read-only-overview')
