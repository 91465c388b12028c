"""The Flower-like API, the job page's buttons with CSRF, and /metrics."""
import pytest

from localq.models import Job
from localq.web import create_app
from tests.conftest import wait_for
from tests.sample_tasks import add, bad_input


@pytest.fixture
def client(app):
    return create_app(app).test_client()


def token_from(client, path):
    page = client.get(path).get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_retry_button_requeues_a_failed_job_and_needs_the_csrf_token(app, worker, client):
    failed = bad_input.delay('x')
    wait_for(lambda: failed.state == 'FAILURE', what='FAILURE')
    browser = {'Origin': 'http://127.0.0.1'}
    refused = client.post('/jobs/%s/retry' % failed.id, headers=browser, data={'csrf_token': 'forged'})
    assert refused.status_code == 400 and Job.get_by_id(failed.id).attempts == 1
    token = token_from(client, '/jobs/%s' % failed.id)
    done = client.post('/jobs/%s/retry' % failed.id, headers=browser, data={'csrf_token': token})
    assert done.status_code == 302
    wait_for(lambda: Job.get_by_id(failed.id).attempts == 2 and failed.state == 'FAILURE', what='second run')


def test_queue_lengths_workers_pause_and_revoke_through_the_api(app, worker, client):
    assert add.delay(1, 1).get(timeout=10) == 2
    # every queue the worker serves is listed, empty ones with 0
    lengths = lambda: {q['name']: q['messages'] for q in client.get('/api/queues/length').get_json()['active_queues']}  # noqa: E731
    assert lengths() == {'default': 0, 'high': 0, 'low': 0}
    from localq.worker import LocalqConsumer
    reports = LocalqConsumer(app, workers=1, queues=['reports'], name='reports-worker')
    reports.start_in_thread()
    try:
        assert lengths() == {'default': 0, 'high': 0, 'low': 0, 'reports': 0}
    finally:
        reports.shutdown()
    assert client.post('/api/queues/default/pause').get_json()['paused'] is True
    waiting = add.delay(2, 2)
    assert lengths() == {'default': 1, 'high': 0, 'low': 0, 'reports': 0}   # a worker served it today
    workers = client.get('/api/workers').get_json()['workers']
    assert [w['id'] for w in workers if w['online']] == ['test-worker']   # reports-worker has stopped
    assert client.post('/api/task/revoke/%s' % waiting.id).get_json()['state'] == 'REVOKED'
    assert client.post('/api/queues/default/resume').get_json()['paused'] is False
    assert client.post('/api/task/revoke/nope').status_code == 404


def test_metrics_count_jobs_by_state_and_queue(app, worker, client):
    add.delay(1, 2).get(timeout=10)
    add.apply_async((1, 2), countdown=60)
    text = client.get('/metrics').get_data(as_text=True)
    assert 'localq_jobs{state="SUCCESS"} 1.0' in text and 'localq_jobs{state="PENDING"} 1.0' in text
    assert 'localq_queue_length{queue="default"} 1.0' in text and 'localq_queue_length{queue="low"} 0.0' in text
    assert 'localq_workers_online 1.0' in text


def test_every_page_has_an_icon_and_favicon_ico_is_no_404(app, client):
    page = client.get('/').get_data(as_text=True)
    icon = page.split('<link rel="icon" type="image/svg+xml" href="')[1].split('"')[0]
    with client.get(icon) as answer:
        assert answer.status_code == 200
    with client.get('/favicon.ico', follow_redirects=True) as answer:
        assert answer.status_code == 200 and answer.mimetype == 'image/svg+xml'
