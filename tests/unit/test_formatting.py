"""The dashboard's Jinja filters (web/formatting.py): calls shown as Python would write them,
times as people read them, search hits marked without letting a passage's HTML through."""
import datetime
import re
import time

import flask
import pytest
from markupsafe import Markup

from localq.web import formatting


def job(args=None, kwargs=None, **times):
    return dict({'args': args, 'kwargs': kwargs, 'eta': 1.0, 'started_at': 2.0, 'finished_at': 3.0,
                 'queued_at': 4.0}, **times)


@pytest.mark.parametrize('args, kwargs, shown', [
    (['a.txt', 3], {'user_id': 7}, '("a.txt", 3, user_id=7)'),
    ([], {}, '()'),
    (None, None, '()'),
    ([None, True, 1.5, [1, 2]], {'opts': {'k': 'v'}}, '(null, true, 1.5, [1, 2], opts={"k": "v"})'),
    (['naïve ✓'], {}, '("naïve ✓")'),     # shown as written, not \u-escaped
])
def test_a_call_is_shown_as_its_arguments(args, kwargs, shown):
    assert formatting.call_text(job(args, kwargs)) == shown


def test_a_long_call_is_cut_to_about_seventy_characters_unless_shown_in_full():
    long = job(['x' * 100])
    short = formatting.call_text(long)
    assert len(short) <= 71 and short.endswith('x…)') and short.startswith('("' + 'x' * 60)
    assert formatting.call_text(long, full=True) == '("%s")' % ('x' * 100)
    exactly = job(['y' * 66])    # ("yyy...") is 70 characters: kept whole
    assert formatting.call_text(exactly) == '("%s")' % ('y' * 66)


@pytest.mark.parametrize('state, field', [
    ('PENDING', 'eta'), ('RETRY', 'eta'), ('STARTED', 'started_at'), ('SUCCESS', 'finished_at'),
    ('FAILURE', 'finished_at'), ('REVOKED', 'finished_at'), (None, 'queued_at'), ('', 'queued_at'),
])
def test_each_tab_shows_the_time_it_sorts_by(state, field):
    row = job()
    assert formatting.sort_time(row, state) == row[field]


@pytest.mark.parametrize('meta, shown', [
    ({'step': 2.5}, 'step 2.5'),
    ({'step': 4, 'total': 8}, 'step 4 of 8'),
    ({'step': 4, 'of': 9}, 'step 4 of 9'),
    ({'step': 4, 'total': 'many'}, 'step 4'),
    ({'step': True}, 'True'),          # a flag is no step number
    ({'progress': 50}, ''),
    ('halfway', ''),
])
def test_a_progress_step_in_words(meta, shown):
    assert formatting.step(meta) == shown


def test_search_hits_are_marked_and_the_rest_escaped():
    text = 'Use <b>tar -z</b> & gzip'
    marked = formatting.marked(text, [(7, 13), (20, 24)])
    assert isinstance(marked, Markup)
    assert str(marked) == 'Use &lt;b&gt;<mark>tar -z</mark>&lt;/b&gt; &amp; <mark>gzip</mark>'
    assert str(formatting.marked('<i>x</i>', None)) == '&lt;i&gt;x&lt;/i&gt;'


@pytest.mark.parametrize('value, shown', [
    (None, '0 ms'), (0.25, '250 ms'), (1, '1.0 s'), (90.04, '90.0 s'), (125, '2 min'), (7200, '2.0 h'),
    (-3, '0 ms'),
])
def test_durations_are_shown_in_the_unit_people_read(value, shown):
    assert formatting.seconds(value) == shown


def test_a_time_of_today_shows_the_clock_and_another_day_the_date():
    assert re.fullmatch(r'\d\d:\d\d:\d\d', formatting.clock(time.time()))
    long_ago = datetime.datetime(2020, 2, 29, 13, 5).timestamp()
    assert formatting.clock(long_ago) == '2020-02-29 13:05'


@pytest.mark.parametrize('ts', [None, 0])
def test_a_missing_time_is_a_dash(ts):
    assert formatting.clock(ts) == formatting.ago(ts) == '—'


def test_ago_says_how_long_ago_or_how_long_until():
    assert re.fullmatch(r'\d+ min ago', formatting.ago(time.time() - 600))
    assert re.fullmatch(r'in \d+ min', formatting.ago(time.time() + 600))


def test_the_filters_are_installed_under_a_prefix_and_leave_a_host_apps_own_alone():
    host = flask.Flask('host')
    host.jinja_env.filters['clock'] = 'the host app\'s own'
    formatting.install(host)
    assert host.jinja_env.filters['clock'] == 'the host app\'s own'
    assert {'lq_clock', 'lq_ago', 'lq_seconds', 'lq_call_text', 'lq_sort_time', 'lq_marked',
            'lq_step'} <= set(host.jinja_env.filters)
    rendered = host.jinja_env.from_string('{{ j | lq_call_text }} {{ 0.5 | lq_seconds }}').render(j=job([1]))
    assert rendered == '(1) 500 ms'
