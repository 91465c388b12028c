"""Smaller Celery idioms from its user guide (issue #25, item 7)."""
from localq.web import create_app
from tests.conftest import wait_for
from tests.sample_tasks import celery_progress, gate


def test_celery_progress_idiom_current_of_total_shows_as_progress(app, worker):
    # Celery's "Custom states": self.update_state(state='PROGRESS', meta={'current': 3, 'total': 10})
    result = celery_progress.delay('celery-progress')
    try:
        wait_for(lambda: result.state == 'PROGRESS', what='PROGRESS')
        assert result.info == {'current': 3, 'total': 10}
        client = create_app(app).test_client()
        row = client.get('/jobs?state=STARTED').get_data(as_text=True)
        assert 'width: 30%' in row and '3 of 10' in row
        assert 'width: 30%' in client.get('/jobs/' + result.id).get_data(as_text=True)
    finally:
        gate('celery-progress').set()
    assert result.get(timeout=10) == 'done'
