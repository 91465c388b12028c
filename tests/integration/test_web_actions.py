"""Each web action, made three ways: the page's form (a browser with its CSRF token), its /api/ URL
(a script), and the form's URL asked for JSON. All three make the same change in the database;
the form is answered with a redirect and a flash message, the other two with the same JSON."""
import html
import time

import pytest

from localq.models import Job, WorkerRecord
from localq.web import create_app
from tests.sample_tasks import add, bad_input

BROWSER = {'Origin': 'http://127.0.0.1', 'Accept': 'text/html'}


def failed_job():
    job = bad_input.apply_async(('x',))
    Job.update(state='FAILURE', finished_at=time.time()).where(Job.id == job.id).execute()
    return job.id


def scheduled_job():
    return add.apply_async((1, 2), countdown=600).id


def live_worker():
    now = time.time()
    WorkerRecord.insert(id='w-1', host='h', pid=1, queues='default', concurrency=1, worker_type='thread',
                        started_at=now, last_seen=now).execute()
    return 'w-1'


def paused_queue():
    from tests.sample_tasks import app
    app.pause_queue('default')
    return 'default'


def csrf_token(browser, path):
    return browser.get(path).get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]


def row(job_id):
    job = Job.get_or_none(Job.id == job_id)
    return None if job is None else (job.state, job.wait_reason, job.eta <= time.time())


# (name, setup -> target, form URL, form fields, API URL, flash, JSON fields, the change seen in the database)
ACTIONS = [
    ('retry', failed_job, '/jobs/{}/retry', {}, '/api/task/retry/{}', 'Re-queued.',
     lambda t: {'task_id': t, 'requeued': True}, lambda app, t: row(t) == ('PENDING', 're-queued by a user', True)),
    ('revoke', scheduled_job, '/jobs/{}/revoke', {}, '/api/task/revoke/{}', 'Revoked.',
     lambda t: {'task_id': t, 'state': 'REVOKED'}, lambda app, t: row(t)[:2] == ('REVOKED', 'revoked by a user')),
    ('run now', scheduled_job, '/jobs/{}/run-now', {}, '/api/task/run-now/{}', 'It runs as soon as a worker is free.',
     lambda t: {'task_id': t, 'moved': True}, lambda app, t: row(t) == ('PENDING', 'run now by a user', True)),
    ('delete', failed_job, '/jobs/{}/delete', {}, '/api/task/delete/{}', 'Deleted job',
     lambda t: {'task_id': t, 'deleted': True}, lambda app, t: row(t) is None),
    ('bulk retry', failed_job, '/jobs/bulk', {'action': 'retry', 'state': 'FAILURE'},
     '/api/tasks/retry?state=FAILURE', 'Re-queued 1 failed or revoked job(s).',
     lambda t: {'count': 1}, lambda app, t: row(t) == ('PENDING', 're-queued by a user', True)),
    ('bulk discard', failed_job, '/jobs/bulk', {'action': 'discard', 'state': 'FAILURE'},
     '/api/tasks/discard?state=FAILURE', 'Discarded 1 job(s)',
     lambda t: {'count': 1}, lambda app, t: row(t) is None),
    ('pause a queue', lambda: add.delay(1, 1).id, '/queues/default/pause', {}, '/api/queues/default/pause',
     "Queue 'default' paused", lambda t: {'queue': 'default', 'paused': True},
     lambda app, t: app.paused_queues() == ['default']),
    ('resume a queue', paused_queue, '/queues/default/resume', {},
     '/api/queues/default/resume', "Queue 'default' resumed.", lambda t: {'queue': 'default', 'paused': False},
     lambda app, t: app.paused_queues() == []),
    ('empty a queue', scheduled_job, '/queues/default/empty', {}, '/api/queues/default/empty',
     "Deleted 1 waiting job(s) from queue 'default'", lambda t: {'queue': 'default', 'deleted': 1},
     lambda app, t: row(t) is None),
    ('stop a worker', live_worker, '/workers/{}/stop', {}, '/api/workers/{}/stop', "Worker 'w-1' stops",
     lambda t: {'worker': t, 'stop_requested': True},
     lambda app, t: WorkerRecord.get_by_id(t).stop_requested is not None),
]


@pytest.mark.parametrize('name, setup, form_url, fields, api_url, flash, answer, changed', ACTIONS,
                         ids=[a[0] for a in ACTIONS])
@pytest.mark.parametrize('way', ['form', 'api', 'form asked for json'])
def test_an_action_makes_the_same_change_as_a_form_or_as_json(app, way, name, setup, form_url, fields, api_url,
                                                             flash, answer, changed):
    target = setup()
    assert not changed(app, target)
    web = create_app(app)
    if way == 'form':
        browser = web.test_client()
        done = browser.post(form_url.format(target), data=dict(fields, csrf_token=csrf_token(browser, '/')),
                            headers=BROWSER)
        assert done.status_code == 302
        assert flash in html.unescape(browser.get(done.headers['Location']).get_data(as_text=True))
    else:
        script = web.test_client()   # no cookie, no Origin: curl, which CSRF does not concern
        url = api_url if way == 'api' else form_url
        done = script.post(url.format(target), data=fields if way != 'api' else None,
                           headers={'Accept': 'application/json'} if way != 'api' else {})
        assert done.status_code == 200 and done.get_json() == dict(answer(target), ok=True)
    assert changed(app, target)


def test_a_running_job_is_not_deleted_either_way(app):
    running = add.delay(1, 1)
    assert app.huey.storage.dequeue() is not None   # claimed: STARTED
    web = create_app(app)
    script = web.test_client()
    for url, headers in (('/api/task/delete/%s', {}), ('/jobs/%s/delete', {'Accept': 'application/json'})):
        refused = script.post(url % running.id, headers=headers)
        assert refused.status_code == 409 and refused.get_json()['status'] == 409
        assert 'revoke it first' in refused.get_json()['error']
    browser = web.test_client()
    token = csrf_token(browser, '/jobs/%s' % running.id)
    done = browser.post('/jobs/%s/delete' % running.id, data={'csrf_token': token}, headers=BROWSER,
                        follow_redirects=True)
    assert done.status_code == 200 and 'is running: revoke it first.' in done.get_data(as_text=True)
    assert Job.get_by_id(running.id).state == 'STARTED'


@pytest.mark.parametrize('way', ['form', 'api'])
def test_discard_without_a_filter_is_refused_either_way_and_deletes_nothing(app, way):
    target = failed_job()
    script = create_app(app).test_client()
    if way == 'form':
        refused = script.post('/jobs/bulk', data={'action': 'discard'}, headers={'Accept': 'application/json'})
    else:
        refused = script.post('/api/tasks/discard')
    assert refused.status_code == 400 and 'give a filter' in refused.get_json()['error']
    assert row(target) is not None
