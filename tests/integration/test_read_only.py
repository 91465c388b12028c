"""A read-only dashboard (issue #28, item 5): LOCALQ_READ_ONLY=1, or the read-only token beside the
auth token, serves every page and GET of the API and refuses every change with a 403, in one
place, plug-ins' pages included; the buttons that would change something are not shown."""
import pytest

from localq.models import Job, QueuePause
from localq.web import create_app
from tests.conftest import TEST_DATABASE_URL

# A value for each URL part of the changing routes (the refusal comes before the view runs).
PARTS = {'job_id': None, 'action': 'retry', 'name': 'default', 'worker_id': 'w1', 'taskname': 'localq.add',
         'document_id': 1}


@pytest.fixture
def full_app(tmp_path):
    """localq's own app (documents and lab plug-ins: their pages too), read-only."""
    from localq.tasks import app
    app.configure(data_dir=str(tmp_path / 'data'), database_url=TEST_DATABASE_URL, read_only=True)
    app.setup()
    yield app
    app.configure(read_only=False)
    app.close()


def changing_urls(web, job_id):
    for rule in web.url_map.iter_rules():
        methods = rule.methods - {'GET', 'HEAD', 'OPTIONS'}
        if methods:
            parts = {k: (job_id if k == 'job_id' else PARTS[k]) for k in rule.arguments}
            yield sorted(methods)[0], rule.build(parts)[1]


def test_every_change_is_refused_with_403_and_nothing_changes(full_app):
    job = full_app.tasks['localq.add'].delay(1, 2)
    web = create_app(full_app)
    client = web.test_client()
    urls = list(changing_urls(web, job.id))
    assert len(urls) >= 15   # the core's actions, the API's apply, documents' and the lab's forms
    for method, url in urls:
        for headers in ({}, {'Accept': 'application/json'}):
            response = client.open(url, method=method, headers=headers)
            assert response.status_code == 403, (method, url, response.status_code)
    assert response.get_json() == {'ok': False, 'status': 403,
                                    'error': 'this dashboard is read-only: it shows everything and changes nothing'}
    assert [(j.id, j.state) for j in Job.select()] == [(job.id, 'PENDING')]   # no retry, revoke, delete, apply
    assert QueuePause.select().count() == 0                                     # no queue paused


def test_every_page_is_served_and_says_it_is_read_only(full_app):
    job = full_app.tasks['localq.add'].delay(1, 2)
    client = create_app(full_app).test_client()
    for url in ('/', '/jobs', '/jobs/%s' % job.id, '/task-stats', '/data', '/upload', '/documents', '/lab'):
        response = client.get(url)
        assert response.status_code == 200, url
        assert '<body class="read-only">' in response.get_data(as_text=True), url
    assert client.get('/api/tasks').get_json()[job.id]['state'] == 'PENDING'


def test_the_read_only_token_opens_a_read_only_view_beside_the_auth_token(app):
    app.configure(host='0.0.0.0', auth_token='admin-token', read_only_token='viewer-token')
    try:
        job = app.tasks['tests.add'].delay(1, 2)
        web = create_app(app)
        viewer, admin = web.test_client(), web.test_client()
        as_viewer = {'Authorization': 'Bearer viewer-token'}
        assert viewer.get('/api/tasks', headers=as_viewer).status_code == 200
        assert viewer.post('/api/task/revoke/%s' % job.id, headers=as_viewer).status_code == 403
        assert web.test_client().get('/api/tasks', headers={'Authorization': 'Bearer guess'}).status_code == 401
        assert Job.get_by_id(job.id).state == 'PENDING'
        assert admin.post('/api/task/revoke/%s' % job.id,
                          headers={'Authorization': 'Bearer admin-token'}).status_code == 200
        assert Job.get_by_id(job.id).state == 'REVOKED'
    finally:
        app.configure(host='127.0.0.1', auth_token='', read_only_token='')
