"""The lab's pages and JSON through the Flask app: CSRF, clear errors, run and reset."""
import json
import re
import time

import pytest
from markupsafe import escape

from localq.lab import shutdown_all
from localq.lab.models import LabRun
from localq.web import create_app
from tests.conftest import TEST_DATABASE_URL, wait_for

BROWSER = {'Origin': 'http://127.0.0.1', 'Accept': 'text/html'}


@pytest.fixture
def client(tmp_path):
    from localq.tasks import app
    app.configure(data_dir=str(tmp_path / 'data'), database_url=TEST_DATABASE_URL)
    yield create_app(app).test_client()
    shutdown_all()
    app.close()


@pytest.fixture
def fast_client(tmp_path):
    """As client, at lab speed 30: the rate-limit lesson's thirty calls take 6 s, not 3 minutes."""
    from localq.tasks import app
    app.configure(data_dir=str(tmp_path / 'data'), database_url=TEST_DATABASE_URL, lab_speed=30.0)
    yield create_app(app).test_client()
    shutdown_all()
    app.close()


def token(client, path='/lab'):
    return client.get(path).get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]


def card(client, name):
    """The scenario's card on the lab index."""
    return client.get('/lab').get_data(as_text=True).split('data-scenario="%s"' % name)[1].split('</a>')[0]


def state(client, name):
    return json.loads(client.get('/api/lab/%s' % name).get_data())


def test_lab_index_lists_every_scenario_and_unknown_ones_are_404(client):
    page = client.get('/lab').get_data(as_text=True)
    assert page.count('data-scenario=') == 14 and 'localq lab crash' in page
    assert client.get('/lab/nope').status_code == 404
    missing = client.get('/api/lab/nope')
    assert missing.status_code == 404 and "no lab scenario 'nope'" in missing.get_json()['error']


def test_run_needs_csrf_checks_parameters_then_runs_and_reset_clears(client):
    t = token(client)
    refused = client.post('/lab/idempotency/run', headers=BROWSER, data={'csrf_token': 'forged'})
    assert refused.status_code == 400 and LabRun.select().count() == 0
    bad = client.post('/lab/idempotency/run', headers=BROWSER, data={'csrf_token': t, 'failures': 'lots'},
                      follow_redirects=True)
    assert 'failures=&#39;lots&#39;: must be a whole number' in bad.get_data(as_text=True) and LabRun.select().count() == 0

    ran = client.post('/lab/idempotency/run', headers=BROWSER, data={'csrf_token': t, 'failures': '1'})
    assert ran.status_code == 302
    done = wait_for(lambda: state(client, 'idempotency').get('done') and state(client, 'idempotency'),
                    timeout=60, what='the idempotency run')
    assert done['data']['naive_rows'] == 2 and done['data']['idempotent_rows'] == 1   # failures=1: 2 attempts
    # The index reads its status from the run row, which the runner marks done.
    wait_for(lambda: '>done<' in card(client, 'idempotency'), timeout=10, what='the index to say done')

    cleared = client.post('/lab/reset', headers=BROWSER, data={'csrf_token': t})
    assert cleared.status_code == 302 and state(client, 'idempotency') == {
        'ok': True, 'scenario': 'idempotency', 'started': False}


def test_each_scenario_says_what_its_lesson_teaches(client):
    from localq.lab.scenarios import ALL
    index = client.get('/lab').get_data(as_text=True)
    for s in ALL:
        # One sentence of our own beside the bare reference ("Lesson 13.10, quiz Q3" means nothing alone).
        assert s.teaches.endswith('.') and '. ' not in s.teaches and 'Lesson' not in s.teaches, s.name
        assert len(s.teaches) > 60, s.name
        assert escape(s.teaches) in card(client, s.name)
        page = client.get('/lab/%s' % s.name).get_data(as_text=True)
        said = page.split('data-teaches>')[1].split('</p>')[0]
        assert escape(s.teaches) in said and escape(s.lesson) in said, s.name
    assert index.count('class="teaches"') == len(ALL)


def test_a_finished_runs_picture_stops_where_the_run_ended(lab):
    from localq.lab.web import draw
    obs = lab.run('retry', timeout=60, jobs=2, failures=1)
    ctx = lab.context('retry')
    with ctx.snapshot():
        jobs = ctx.jobs()
    ended = max(j['finished_at'] for j in jobs) - ctx.run.started_at
    # Drawn a minute and ten minutes later: the same picture, its axes ending with the last job.
    soon, later = (draw(lab, ctx, now=time.time() + wait) for wait in (60, 600))
    assert obs.done and soon['ended'] == later['ended'] == round(ended, 2)
    assert soon['timeline'] == later['timeline'] and soon['timeline']['end'] == round(ended, 2)
    assert [c['max_x'] for c in soon['charts']] == [round(ended, 2)]
    last_bar = max((b for lane in soon['timeline']['lanes'] for b in lane['bars']), key=lambda b: b['x'] + b['w'])
    assert last_bar['x'] <= soon['timeline']['end_x'] <= last_bar['x'] + last_bar['w'] + 0.1   # it reaches the end
    assert soon['timeline']['end_x'] == soon['timeline']['width'] - 10   # the right edge, not squeezed left


def live_waiting(client, name):
    """The figure a student reads live: the legend's "waiting N" under the queue chart."""
    page = client.get('/lab/%s?partial=1' % name).get_data(as_text=True)
    return int(re.search(r'</span> waiting <b>(\d+)</b>', page).group(1))


def test_rate_limits_live_waiting_count_is_the_calls_not_yet_started_at_every_sample(fast_client):
    from localq.tasks import app
    t = token(fast_client)
    fast_client.post('/lab/rate-limit/run', headers=BROWSER, data={'csrf_token': t})
    storage = app.query
    wait_for(lambda: storage.sql("SELECT COUNT(*) FROM job WHERE queue = 'lab.rate-limit'").fetchone()[0] == 30,
             timeout=60, what='the thirty calls to be queued')
    samples = []
    while not state(fast_client, 'rate-limit')['done']:
        shown = live_waiting(fast_client, 'rate-limit')
        # The rows right after: calls neither running nor finished, and how many started in the last
        # second (a call claimed while the page was drawn may be counted on either side).
        waiting, started = storage.sql(
            "SELECT SUM(CASE WHEN state IN ('PENDING', 'RETRY') THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN started_at >= ? THEN 1 ELSE 0 END) FROM job WHERE queue = 'lab.rate-limit'",
            (time.time() - 1.0,)).fetchone()
        samples.append((shown, int(waiting), int(started or 0)))
        time.sleep(0.5)   # a student's glance every half second: sampling, not waiting for an event
    assert len(samples) >= 5, samples   # 30 calls at 5 a second: the run lasts about 6 s
    assert all(abs(shown - waiting) <= started for shown, waiting, started in samples), samples
    assert max(shown for shown, _, _ in samples) >= 20, samples   # it was read while most calls waited
    assert live_waiting(fast_client, 'rate-limit') == 0
