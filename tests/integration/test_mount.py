"""localq's pages and API mounted under a prefix of an existing Flask app."""
from flask import Flask, render_template

from localq.web import Dashboard
from tests.sample_tasks import add


def host_app(tmp_path):
    """A user's own Flask app: its own base.html, home page and 404."""
    templates = tmp_path / 'host-templates'
    templates.mkdir()
    (templates / 'base.html').write_text('HOST BASE {% block content %}{% endblock %}')
    host = Flask('host', template_folder=str(templates))
    host.config['SECRET_KEY'] = 'host-secret'
    host.add_url_rule('/', 'home', lambda: render_template('base.html'))
    host.register_error_handler(404, lambda exc: ('host 404', 404))
    return host


def test_the_dashboard_and_api_mount_under_a_prefix_and_leave_the_host_alone(app, worker, tmp_path):
    from localq import documents
    documents.init_app(app)   # its upload page, whose script must know the prefix
    host = host_app(tmp_path)
    Dashboard(app).init_app(host, url_prefix='/queue')
    client = host.test_client()
    job = add.delay(2, 3)
    assert job.get(timeout=10) == 5
    # localq's pages live under the prefix, with links, styles and scripts that stay there
    page = client.get('/queue/jobs').get_data(as_text=True)
    assert job.id in page and 'href="/queue/jobs/%s"' % job.id in page and 'HOST BASE' not in page
    assert '/queue/localq-static/localq.css' in page
    with client.get('/queue/localq-static/localq.css') as css:
        assert css.status_code == 200 and b'body' in css.get_data()
    assert 'JOB_ID' in client.get('/queue/upload').get_data(as_text=True)   # its script knows the prefix
    # ... and so does the API, with its JSON error shape
    assert client.get('/queue/tasks/' + job.id).get_json()['status'] == 'SUCCESS'
    assert client.get('/queue/api/task/info/' + job.id).get_json()['result'] == 5
    missing = client.get('/queue/api/task/info/nope')
    assert missing.status_code == 404 and missing.get_json() == {'ok': False, 'error': "no job with id 'nope'",
                                                                  'status': 404}
    # A browser form without the CSRF token is refused; the host's own pages and errors are its own
    refused = client.post('/queue/jobs/%s/retry' % job.id, headers={'Origin': 'http://evil.example'})
    assert refused.status_code == 400
    assert client.get('/').get_data(as_text=True) == 'HOST BASE '
    assert client.get('/no/such/page').get_data(as_text=True) == 'host 404'
