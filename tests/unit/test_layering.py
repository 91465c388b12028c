"""The layers: only the web code imports flask; the core, web/ and monitor/ import no plug-in."""
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / 'localq'
PLUGINS = ('documents', 'lab')
COMPOSITION = 'tasks.py'   # localq's own app: the one module that adds the plug-ins


def test_only_the_web_code_imports_flask():
    offenders = []
    for path in PACKAGE.rglob('*.py'):
        parts = path.relative_to(PACKAGE).parts
        if 'web' in parts or path.name == 'web.py':   # web/, and a plug-in's pages (documents/web.py)
            continue
        text = path.read_text()
        if 'import flask' in text or 'from flask' in text:
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_the_core_web_and_monitor_import_no_plug_in():
    plugin = re.compile(r'^\s*(from\s+(localq|\.+)\.?(%s)\b|from\s+\.+\s+import\s+.*\b(%s)\b|import\s+localq\.(%s)\b)'
                        % (('|'.join(PLUGINS),) * 3), re.M)
    offenders = []
    for path in PACKAGE.rglob('*.py'):
        parts = path.relative_to(PACKAGE).parts
        if parts[0] in PLUGINS or parts == (COMPOSITION,):
            continue
        if plugin.search(path.read_text()):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []
