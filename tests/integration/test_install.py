"""A non-editable install carries everything the app needs: a built wheel, installed into a
folder of its own, serves the pages, static files and the lab from there (not from this checkout)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request

from tests.conftest import ROOT, TEST_DATABASE_URL, free_port


def run(*argv, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_a_built_wheel_serves_pages_from_its_installed_copy(tmp_path):
    # Given the project built as a wheel from a clean copy (a stale build/ folder would hide a
    # package missing from pyproject.toml) and installed, without its dependencies, into site/
    source = tmp_path / 'source'
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        '.git', '.venv*', 'build', 'dist', '*.egg-info', '__pycache__', 'data', 'test-artifacts', '.pytest_cache'))
    run(sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w', str(tmp_path / 'dist'), str(source))
    (wheel,) = (tmp_path / 'dist').glob('localq-*.whl')
    site = tmp_path / 'site'
    run(sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', str(site), str(wheel))
    # and a process that finds localq there first (this checkout is not on its path)
    env = dict(os.environ, PYTHONPATH=str(site), LOCALQ_DATABASE_URL=TEST_DATABASE_URL)
    where = run(sys.executable, '-c', 'import localq.lab.scenarios, localq; print(localq.__file__)',
                cwd=str(tmp_path), env=env)
    assert where.startswith(str(site)), where
    # When `localq run` serves from that copy
    port = free_port()
    server = subprocess.Popen([sys.executable, '-m', 'localq.cli', '--data-dir', str(tmp_path / 'data'), 'run',
                               '--port', str(port), '-c', '1'], cwd=str(tmp_path), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = server.stdout.readline()
        assert 'http://127.0.0.1:%d/' % port in line, line
        base = 'http://127.0.0.1:%d' % port

        def get(path):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return response.status, response.read().decode()
        # Then the pages render from the wheel's templates, with their static files
        status, overview = get('/')
        assert status == 200 and '<html' in overview.lower()
        static = re.findall(r'(?:href|src)="(/[^"]+\.(?:css|js))"', overview)
        assert len(static) >= 2 and all(get(path)[0] == 200 for path in static), static
        status, lab = get('/lab')
        assert status == 200 and 'Crash survival' in lab
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server.stdout.close()
