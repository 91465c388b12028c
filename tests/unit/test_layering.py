"""The core never imports the web layer: only localq/web/ may import flask."""
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / 'localq'


def test_only_the_web_package_imports_flask():
    offenders = []
    for path in PACKAGE.rglob('*.py'):
        if 'web' in path.relative_to(PACKAGE).parts:
            continue
        text = path.read_text()
        if 'import flask' in text or 'from flask' in text:
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []
