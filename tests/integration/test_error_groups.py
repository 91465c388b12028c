"""Error groups from a user's side (issue #28, item 1): after a bad deploy, a thousand failed jobs
of three tasks are one group, not a thousand rows; Retry all on the group re-queues exactly those."""
import pytest

from localq.models import Job
from localq.web import create_app
from tests.conftest import wait_for
from tests.sample_tasks import Effect, bill_account, fail, send_digest, sync_profile


@pytest.fixture
def bad_deploy(app, worker):
    """1,000 jobs of three tasks failing on one bug, and 10 failing on another: run by a real worker."""
    tasks = (send_digest, sync_profile, bill_account)
    jobs = [tasks[i % 3].delay(i) for i in range(1000)]
    others = [fail.delay(i) for i in range(10)]
    wait_for(lambda: Job.select().where(Job.state == 'FAILURE').count() == 1010, timeout=120,
             what='1,010 failures')
    return jobs, others


def test_a_bad_deploy_of_one_bug_is_one_group_of_all_its_jobs(app, bad_deploy, client):
    jobs, others = bad_deploy
    groups = client.get('/api/errors').get_json()
    assert [g['count'] for g in groups] == [1000, 10]
    bug = groups[0]
    assert bug['tasks'] == {'tests.send_digest': 334, 'tests.sync_profile': 333, 'tests.bill_account': 333}
    assert bug['error_type'].endswith('LookupError')
    assert bug['message'] == "no setting '<str>' for user <n> in <path>"
    assert bug['frame'].endswith('tests/sample_tasks.py:read_timeout_setting')
    assert sum(bug['last_hour']) == sum(bug['last_day']) == 1000 and bug['example'] in {r.id for r in jobs}
    page = client.get('/errors').get_data(as_text=True)
    assert 'data-error-group="%s"' % bug['group'] in page and '1,000' in page
    assert 'data-top-errors' in client.get('/').get_data(as_text=True)   # the overview shows the top groups
    listed = client.get('/api/tasks?state=FAILURE&group=%s&limit=2000' % bug['group']).get_json()
    assert set(listed) == {r.id for r in jobs}


def test_retry_all_on_a_group_requeues_exactly_its_jobs(app, bad_deploy, client):
    jobs, others = bad_deploy
    bug = client.get('/api/errors').get_json()[0]['group']
    Effect.create(key='fixed')    # the fix is deployed
    answer = client.post('/api/tasks/retry?state=FAILURE&group=%s' % bug).get_json()
    assert answer == {'ok': True, 'count': 1000}
    wait_for(lambda: Job.select().where(Job.state == 'SUCCESS').count() == 1000, timeout=120, what='1,000 successes')
    assert {j.id for j in Job.select().where(Job.state == 'FAILURE')} == {r.id for r in others}
    assert [g['count'] for g in client.get('/api/errors').get_json()] == [10]   # the fixed bug's group is gone


def test_discard_all_on_a_group_deletes_its_jobs_only(app, bad_deploy, client):
    jobs, others = bad_deploy
    small = client.get('/api/errors').get_json()[1]['group']
    assert client.post('/api/tasks/discard?state=FAILURE&group=%s' % small).get_json()['count'] == 10
    assert Job.select().count() == 1000
    assert client.get('/errors?group=%s' % small).status_code == 404


@pytest.fixture
def client(app):
    return create_app(app).test_client()
