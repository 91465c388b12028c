"""Shared by the browser tests: `python run.py` on a free port, Debian's Chromium, screenshots.

Without a browser these tests skip locally; in CI (CI is set) a missing browser is a failure.
"""
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT, free_port

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
SHOTS = os.path.join(ROOT, 'test-artifacts', 'screenshots')
FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync']


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """`python run.py` on a free port and a fresh data folder; its URL."""
    data = tmp_path_factory.mktemp('browser-data')
    port = free_port()
    proc = subprocess.Popen([sys.executable, 'run.py', '--port', str(port), '--data-dir', str(data)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    line = proc.stdout.readline()
    assert 'http://127.0.0.1:%d/' % port in line, line
    yield 'http://127.0.0.1:%d' % port
    os.killpg(proc.pid, signal.SIGINT)
    rest = proc.communicate(timeout=30)[0]
    # Failed jobs log their traceback (as Celery's workers do); the web app must log no error.
    assert proc.returncode == 0 and 'Exception on' not in rest, rest


@pytest.fixture(scope='module')
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get('CI'):
            pytest.fail('no chromium at %s: .ci/run should have installed it' % CHROMIUM)
        pytest.skip('no chromium here (apt-get install chromium)')
    sync_api = pytest.importorskip('playwright.sync_api')
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={'width': 1280, 'height': 860})
    page = context.new_page()
    errors = []
    page.on('pageerror', lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, 'JavaScript errors on %s: %s' % (request.node.name, errors)


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name + '.png'), full_page=True)
