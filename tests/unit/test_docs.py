"""Every setting is documented in the README with its default."""
import pathlib

from localq.config import SETTINGS

README = (pathlib.Path(__file__).resolve().parents[2] / 'README.md').read_text()


def test_every_setting_has_a_row_in_the_readme_table():
    missing = []
    for name, default, _help in SETTINGS:
        shown = str(default) if default != '' else '(empty)'
        if '| %s | %s |' % (name, shown) not in README:
            missing.append(name)
    assert missing == []
