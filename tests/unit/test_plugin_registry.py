"""plugins.py: what a plug-in registers through its init_app, read back the way the web app, the
CLI and the overview read it; with a fresh app of its own, so the sample app stays as it is."""
import contextlib
import sqlite3

import pytest

from localq import LocalQ
from localq.config import Setting
from localq.errors import ConfigError
from localq.plugins import Command, HiddenQueues, NavLink, Plugin, commands, hidden_queues, on_exit

GROUP = HiddenQueues('demo', 'demo', 'the demo plug-in', 'the demo')


@pytest.fixture
def fresh(tmp_path):
    app = LocalQ('plugin-test', data_dir=str(tmp_path / 'data'))
    yield app
    app.close()


def test_a_plugin_registers_once_and_its_parts_are_found(fresh):
    ended = []
    plugin = Plugin('demo', settings=(Setting('demo_speed', 1.0, 'how fast the demo runs', owner='demo'),),
                    commands=(Command('demo', 'run the demo', 'demo.cli'),), hidden_queues=GROUP,
                    nav=(NavLink('Demo', 'demo.page', lit_on=('demo.',)),), on_exit=lambda: ended.append(1))
    assert fresh.register_plugin(plugin) is plugin
    again = Plugin('demo')
    assert fresh.register_plugin(again) is plugin   # a second init_app changes nothing
    assert list(commands(fresh)) == ['demo'] and hidden_queues(fresh) == [GROUP]
    on_exit(fresh)
    assert ended == [1]


def test_a_plugins_setting_is_read_checked_and_changed_like_the_cores(fresh, monkeypatch):
    monkeypatch.setenv('LOCALQ_DEMO_SPEED', '2.5')
    fresh.register_plugin(Plugin('demo', settings=(
        Setting('demo_speed', 1.0, 'how fast', check=lambda v: v > 0, must='be above 0', owner='demo'),)))
    assert fresh.config.demo_speed == 2.5
    fresh.configure(demo_speed=4.0)
    assert fresh.config.demo_speed == 4.0
    with pytest.raises(ConfigError, match='demo_speed'):
        fresh.configure(demo_speed=-1.0)


def test_a_plugins_setting_is_unknown_before_its_init_app(fresh):
    with pytest.raises(ConfigError):
        fresh.configure(demo_speed=2.0)


@pytest.mark.parametrize('queue, held', [('demo', True), ('demo.x', True), ('demo.x.y', True), ('demos', False),
                                         ('default', False), ('x.demo', False)])
def test_a_hidden_group_holds_its_prefix_and_what_is_below_it(queue, held):
    assert GROUP.holds(queue) is held
    with contextlib.closing(sqlite3.connect(':memory:')) as db:
        found = db.execute('SELECT count(*) FROM (SELECT ? AS queue) WHERE ' + GROUP.sql, (queue,)).fetchone()[0]
    assert bool(found) is held   # the SQL says the same as Python


def test_a_nav_link_is_lit_on_its_own_pages():
    link = NavLink('Demo', 'demo.page', lit_on=('demo.',))
    assert link.lit('demo.page') and link.lit('demo.other') and not link.lit('localq.pages.overview')
