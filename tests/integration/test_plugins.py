"""An app that never calls a plug-in's init_app never imports it, nor its heavy dependencies."""
import subprocess
import sys

from tests.conftest import ROOT, TEST_DATABASE_URL

USERS_OWN_APP = r'''
import sys
from localq import LocalQ
from localq.web import Dashboard, create_app
from localq.worker import LocalqConsumer

app = LocalQ('mine', data_dir=sys.argv[1], database_url=sys.argv[2])

@app.task(name='mine.add')
def add(x, y):
    return x + y

consumer = LocalqConsumer(app, workers=1, name='mine-worker')
consumer.start_in_thread()
try:
    assert add.delay(2, 3).get(timeout=20) == 5
    page = create_app(app).test_client().get('/')
    assert page.status_code == 200 and b'/upload' not in page.data and b'/lab' not in page.data
finally:
    consumer.shutdown()
    app.close()
loaded = sorted(name for name in sys.modules
                if name.split('.')[0] in ('numpy', 'wordllama', 'pypdf', 'resiliparse')
                or name.startswith(('localq.documents', 'localq.lab')))
print('loaded:', loaded)
'''


def test_a_users_app_without_the_plugins_imports_neither_them_nor_numpy_wordllama_or_pypdf(tmp_path):
    # Given a user's own app (its tasks, a worker, localq's dashboard) in a fresh process
    proc = subprocess.run([sys.executable, '-c', USERS_OWN_APP, str(tmp_path / 'data'), TEST_DATABASE_URL],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Then the document pipeline and the lab, and their dependencies, were never imported
    assert 'loaded: []' in proc.stdout, proc.stdout


def test_localqs_own_app_has_both_plugins_their_settings_pages_and_command(tmp_path):
    out = subprocess.run([sys.executable, '-m', 'localq.cli', '--data-dir', str(tmp_path / 'data'), 'settings'],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={'LOCALQ_LAB_SPEED': '7', 'LOCALQ_EMBEDDER': 'hashing', 'PATH': '/usr/bin:/bin'})
    assert out.returncode == 0, out.stderr
    values = {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()}
    assert values['lab_speed'] == '7.0' and values['embedder'] == "'hashing'"   # read from LOCALQ_<NAME>
    lab = subprocess.run([sys.executable, '-m', 'localq.cli', '--data-dir', str(tmp_path / 'data'), 'lab'],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert lab.returncode == 0 and 'crash' in lab.stdout, lab.stderr
    # A user's app has no `localq lab`: it is the lab plug-in's command
    mine = subprocess.run([sys.executable, '-m', 'localq.cli', '-A', 'tests.sample_tasks:app', 'lab'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert mine.returncode == 2 and "invalid choice: 'lab'" in mine.stderr


def test_a_plugin_setting_is_refused_with_a_hint_on_an_app_without_the_plugin():
    import pytest

    from localq import ConfigError, LocalQ
    from localq.config import Setting
    from localq.plugins import Plugin
    app = LocalQ('plain')
    with pytest.raises(ConfigError, match='unknown setting'):
        app.configure(lab_speed=2)
    app.register_plugin(Plugin('mine', settings=(Setting('fancy_level', 3, 'How fancy.', check=lambda v: v > 0,
                                                         must='be above 0', owner='mine'),)))
    assert app.configure(fancy_level='5').config.fancy_level == 5 and app.conf['fancy_level'] == 5
    with pytest.raises(ConfigError, match='fancy_level must be above 0'):
        app.configure(fancy_level=0)
    with pytest.raises(ConfigError, match='did you mean fancy_level'):
        app.conf.update(fancy_levle=1)
