"""The README's settings table is the one the settings' declarations make."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_readme_settings_table_is_the_generated_one():
    # localq's own app: the core's settings and its plug-ins' (documents, lab), as `localq settings --markdown`
    table = subprocess.run([sys.executable, '-m', 'localq.cli', 'settings', '--markdown'], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    readme = (ROOT / 'README.md').read_text()
    start = readme.index('| setting | default | meaning |')
    assert readme[start:readme.index('\n\n', start) + 1] == table
    assert '| lab_speed | 1.0 |' in table and '| embedder | wordllama |' in table and '| timezone | UTC |' in table
