"""The dashboard's data: filtered keyset pages, why a job waits, bulk actions, masking, the API."""
import json
import re
import time

import pytest

from localq.monitor import jobs
from localq.models import Job, WorkerRecord
from localq.web import create_app
from tests.conftest import wait_for
from tests.sample_tasks import add, bad_input, charge, echo, high_task, wait_gate

ERROR_KEYS = {'ok', 'error', 'status'}


@pytest.fixture
def client(app):
    return create_app(app).test_client()


def all_pages(client, query, limit):
    """Follow X-Next-Cursor from the first page to the last; returns the ids in order."""
    ids, cursor = [], None
    while True:
        url = '/api/tasks?limit=%d&%s%s' % (limit, query, '&cursor=' + cursor if cursor else '')
        response = client.get(url)
        ids += list(response.get_json())
        cursor = response.headers.get('X-Next-Cursor')
        if not cursor:
            return ids


def test_pages_follow_each_tab_s_order_and_list_every_job_once_even_with_equal_keys(app, client):
    with app.write_transaction():
        queued = [add.delay(i, i).id for i in range(95)]
    # Same eta and priority for all: only the id tiebreak orders them.
    Job.update(eta=1000.0).execute()
    pending = all_pages(client, 'state=PENDING', 20)
    assert sorted(pending) == sorted(queued) and len(pending) == 95
    assert pending == sorted(queued)  # priority, eta, then id ascending
    newest_first = all_pages(client, '', 30)
    times = [Job.get_by_id(i).queued_at for i in newest_first]
    assert times == sorted(times, reverse=True) and len(set(newest_first)) == 95


def test_filters_by_task_queue_state_and_text_in_arguments_or_errors(app, worker, client):
    add.delay(1, 2).get(timeout=10)
    echo.delay(city='Timbuktu').get(timeout=10)
    high_task.delay(7).get(timeout=10)
    failed = bad_input.delay('zebra')
    wait_for(lambda: failed.state == 'FAILURE', what='FAILURE')

    def ids(query):
        return set(client.get('/api/tasks?' + query).get_json())

    assert ids('task=tests.echo') == {Job.get(Job.task == 'tests.echo').id}
    assert ids('taskname=tests.add') == {Job.get(Job.task == 'tests.add').id}  # Flower's spelling
    assert ids('queue=high') == {Job.get(Job.task == 'tests.high_task').id}
    assert ids('q=timbuk') == ids('task=tests.echo')              # text in kwargs, any case
    assert ids('q=invalid input') == {failed.id}                  # text in the error
    assert ids('q=' + failed.id[:8]) == {failed.id}               # a job id prefix
    assert ids('state=FAILURE') == {failed.id}
    assert ids('state=SUCCESS&q=zebra') == set()
    page = client.get('/jobs?state=FAILURE&q=zebra').get_data(as_text=True)
    assert failed.id[:8] in page and 'ValueError' in page


def test_a_huge_argument_is_searchable_by_its_start_and_indexed_within_bounds(app, client):
    # Given a job whose argument is 1 MB of random text (the payloads lesson's anti-pattern)
    import base64
    import os
    from localq.textindex import INDEXED_CHARS, catch_up
    noise = base64.b64encode(os.urandom(768 * 1024)).decode()
    big = echo.delay(data='harbour-crane ' + noise)
    small = echo.delay(data='harbour-crane')
    # When the text index catches up with it (SQLite: in batches; PostgreSQL: as it is queued)
    sqlite = app.query.is_sqlite
    assert catch_up(app.database)[0] == (2 if sqlite else 0)
    # Then the job list finds it by the start of its argument
    assert set(client.get('/api/tasks?q=harbour-crane').get_json()) == {big.id, small.id}
    # and the index holds its first INDEXED_CHARS characters, not a megabyte of trigrams
    # (indexing those held SQLite's write lock for seconds: producers failed "database is locked")
    if sqlite:
        app.database.execute_sql("CREATE VIRTUAL TABLE temp.job_text_terms USING fts5vocab(main, job_text, 'row')")
        assert app.database.execute_sql('SELECT COUNT(*) FROM temp.job_text_terms').fetchone()[0] < 2 * INDEXED_CHARS


def test_a_damaged_page_link_is_a_clear_400(app, client):
    response = client.get('/api/tasks?cursor=not-a-cursor')
    assert response.status_code == 400 and 'start again' in response.get_json()['error']


def test_why_a_job_waits_scheduled_paused_no_worker_then_run_now(app, client):
    later = add.apply_async((2, 3), countdown=600)
    assert 'Scheduled' in jobs.explain_wait(app, jobs.get_job(later.id))
    app.pause_queue('default')
    ready = add.delay(1, 1)
    assert 'paused' in jobs.explain_wait(app, jobs.get_job(ready.id))
    app.resume_queue('default')
    assert 'no worker online' in jobs.explain_wait(app, jobs.get_job(ready.id))
    page = client.get('/jobs/%s' % later.id).get_data(as_text=True)
    assert 'Why it waits' in page and 'data-action="run-now"' in page

    script = create_app(app).test_client()  # no session cookie: a script, as curl would be
    from localq.worker import LocalqConsumer
    consumer = LocalqConsumer(app, workers=1, name='late-worker')
    consumer.start_in_thread()
    try:
        assert ready.get(timeout=10) == 2
        assert later.state == 'PENDING'  # still scheduled ten minutes ahead
        assert script.post('/api/task/run-now/%s' % later.id).get_json()['moved'] is True
        assert later.get(timeout=10) == 5
        assert script.post('/api/task/run-now/%s' % later.id).get_json()['moved'] is False
    finally:
        consumer.shutdown()


def test_bulk_retry_and_discard_act_only_on_jobs_matching_the_filter(app, worker, client):
    failed = [bad_input.delay('x%d' % i) for i in range(3)]
    ok = add.delay(1, 1)
    ok.get(timeout=10)
    wait_for(lambda: all(f.state == 'FAILURE' for f in failed), what='3 failures')
    assert client.post('/api/tasks/retry?task=tests.add').get_json()['count'] == 0
    assert client.post('/api/tasks/retry?task=tests.bad_input').get_json()['count'] == 3
    wait_for(lambda: all(Job.get_by_id(f.id).attempts == 2 and f.state == 'FAILURE' for f in failed),
             what='second failures')
    refused = client.post('/api/tasks/discard')
    assert refused.status_code == 400 and set(refused.get_json()) == ERROR_KEYS
    assert client.post('/api/tasks/discard?state=FAILURE').get_json()['count'] == 3
    assert [j.id for j in Job.select()] == [ok.id]


def test_bulk_form_needs_csrf_and_reports_what_it_did(app, worker, client):
    failed = bad_input.delay('y')
    wait_for(lambda: failed.state == 'FAILURE', what='FAILURE')
    browser = {'Origin': 'http://127.0.0.1'}
    form = {'action': 'retry', 'state': 'FAILURE'}
    assert client.post('/jobs/bulk', data=form, headers=browser).status_code == 400
    page = client.get('/jobs?state=FAILURE').get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    done = client.post('/jobs/bulk', data=dict(form, csrf_token=token), headers=browser, follow_redirects=True)
    assert 'Re-queued 1 failed or revoked job(s).' in done.get_data(as_text=True)


def test_secret_looking_arguments_are_masked_in_pages_and_api_but_reach_the_task(app, worker, client):
    result = charge.delay('tok_live_4242', 30, api_key='k-123', note='gift')
    assert result.get(timeout=10) == {'charged': 30, 'receipt': {'auth_code': 'A-4242'}}
    page = client.get('/jobs/%s' % result.id).get_data(as_text=True)
    listing = client.get('/jobs').get_data(as_text=True)
    info = json.dumps(client.get('/api/task/info/%s' % result.id).get_json())
    for shown in (page, listing, info):
        assert 'tok_live_4242' not in shown and 'k-123' not in shown and 'A-4242' not in shown
        assert 'gift' in shown
    assert json.loads(Job.get_by_id(result.id).args) == ['tok_live_4242', 30]  # the row keeps them


def test_overview_counts_throughput_queues_and_workers(app, worker, client):
    for i in range(5):
        add.delay(i, i).get(timeout=10)
    failed = bad_input.delay('z')
    wait_for(lambda: failed.state == 'FAILURE', what='FAILURE')
    blocker = wait_gate.delay('hold-overview')
    wait_for(lambda: blocker.state == 'STARTED', what='running job')
    app.pause_queue('low')
    o = client.get('/api/overview').get_json()
    assert o['counts']['SUCCESS'] == 5 and o['counts']['FAILURE'] == 1 and o['running_total'] == 1
    # The minute may have turned between the jobs: count the last two.
    assert sum(p['SUCCESS'] for p in o['throughput'][-2:]) == 5 and sum(p['FAILURE'] for p in o['throughput']) == 1
    queues = {q['name']: q for q in o['queues']}
    assert queues['low']['paused'] and queues['default']['running'] == 1 and queues['default']['failed'] == 1
    (online,) = [w for w in o['workers'] if w['online']]
    assert online['id'] == 'test-worker' and [j['id'] for j in online['running']] == [blocker.id]
    page = client.get('/').get_data(as_text=True)
    assert 'test-worker' in page and 'Resume' in page
    app.revoke(blocker.id)
    from tests.sample_tasks import gates
    gates.setdefault('hold-overview', __import__('threading').Event()).set()


def test_apply_and_async_apply_like_flower(app, worker, client):
    done = client.post('/api/task/apply/tests.add', json={'args': [2, 40]})
    assert done.status_code == 200 and done.get_json()['result'] == 42 and done.get_json()['state'] == 'SUCCESS'
    queued = client.post('/api/task/async-apply/tests.add', json={'args': [1, 1]})
    assert queued.status_code == 202 and app.AsyncResult(queued.get_json()['task-id']).get(timeout=10) == 2


@pytest.mark.parametrize('method, path, body, status', [
    ('get', '/api/task/info/nope', None, 404),
    ('get', '/jobs/nope', None, 404),
    ('post', '/api/task/retry/nope', None, 404),
    ('post', '/api/task/run-now/nope', None, 404),
    ('post', '/api/task/apply/no.such.task', {'args': []}, 404),
    ('post', '/api/task/async-apply/tests.add', {'args': 'not a list'}, 400),
    ('post', '/api/task/async-apply/tests.add', {'args': [object.__name__], 'kwargs': {'x': 1}}, 400),
    ('post', '/api/tasks/explode', None, 404),
    ('get', '/api/tasks?limit=many', None, 400),
    ('post', '/api/queues/default/explode', None, 404),
    ('get', '/no/such/page', None, 404),
    ('put', '/api/tasks', None, 405),
])
def test_every_error_path_answers_the_one_json_shape(app, client, method, path, body, status):
    kwargs = {'json': body} if body is not None else {}
    response = getattr(client, method)(path, headers={'Accept': 'application/json'}, **kwargs)
    assert response.status_code == status
    payload = response.get_json()
    assert set(payload) == ERROR_KEYS and payload['ok'] is False and payload['status'] == status
    assert isinstance(payload['error'], str) and payload['error']


@pytest.mark.parametrize('path, form', [
    ('/jobs/{failed}/retry', {}),
    ('/jobs/{later}/run-now', {}),
    ('/jobs/{later}/revoke', {}),
    ('/jobs/bulk', {'action': 'discard', 'state': 'FAILURE'}),
    ('/queues/default/pause', {}),
    ('/jobs/{failed}/delete', {}),
    ('/queues/default/empty', {}),
    ('/workers/test-worker/stop', {}),
])
def test_every_page_form_refuses_a_browser_post_without_its_csrf_token(app, client, path, form):
    failed = bad_input.apply_async(('x',))
    Job.update(state='FAILURE').where(Job.id == failed.id).execute()
    later = add.apply_async((1, 2), countdown=600)
    before = sorted(Job.select(Job.id, Job.state, Job.eta).tuples())
    url = path.format(failed=failed.id, later=later.id)
    for token in (None, 'forged'):
        data = dict(form, **({'csrf_token': token} if token else {}))
        response = client.post(url, data=data, headers={'Origin': 'http://evil.example', 'Accept': 'text/html'})
        assert response.status_code == 400 and 'CSRF' in response.get_data(as_text=True)
    assert sorted(Job.select(Job.id, Job.state, Job.eta).tuples()) == before
    assert app.paused_queues() == []


def test_list_rows_and_the_api_list_carry_each_job_s_result(app, worker, client):
    done = add.delay(20, 22)
    assert done.get(timeout=10) == 42
    assert '→ 42' in client.get('/jobs?state=SUCCESS').get_data(as_text=True)
    row = client.get('/api/tasks?state=SUCCESS').get_json()[done.id]
    assert row['result'] == 42 and row['acks_late'] is False
    assert '→ 42' in client.get('/jobs?partial=1').get_data(as_text=True)  # the live refresh too


def test_a_job_in_a_paused_queue_says_so_in_the_list_the_api_and_its_page(app, client):
    app.pause_queue('default')
    waiting = add.delay(1, 1)
    row = client.get('/jobs?state=PENDING').get_data(as_text=True)
    assert "queue &#39;default&#39; is paused" in row and 'waiting for a worker' not in row
    info = client.get('/api/task/info/%s' % waiting.id).get_json()
    assert info['wait_reason'].startswith("Queue 'default' is paused")
    assert info['wait_reason'] in client.get('/jobs/%s' % waiting.id).get_data(as_text=True).replace('&#39;', "'")
    app.resume_queue('default')   # then the same three sources agree it only waits for a worker
    assert 'ready, waiting for a worker' in client.get('/jobs?state=PENDING').get_data(as_text=True)
    assert 'no worker online' in client.get('/api/task/info/%s' % waiting.id).get_json()['wait_reason']


def test_a_finished_job_reports_done_not_its_last_running_step(app, worker, client):
    from tests.sample_tasks import gates, progress
    running = progress.delay('finish-me')
    wait_for(lambda: (client.get('/tasks/%s' % running.id).get_json()['progress'] or {}).get('step') == 'halfway',
             what='the running step')
    gates['finish-me'].set()
    assert running.get(timeout=10) == 'done'
    status = client.get('/tasks/%s' % running.id).get_json()
    assert status['status'] == 'SUCCESS' and status['progress'] == {'step': 'done', 'progress': 100}


def test_the_attempts_row_says_what_happens_after_a_failure(app, worker, client):
    from tests.sample_tasks import fail, flaky
    never_retried = bad_input.delay('x')          # ValueError; the task retries ConnectionError only
    with pytest.raises(ValueError):
        never_retried.get(timeout=10)
    page = client.get('/jobs/%s' % never_retried.id).get_data(as_text=True)
    assert '1: failed for good, not retried (ValueError is not one of autoretry_for: ConnectionError)' in page
    assert '1 of 4' not in page
    used_up = flaky.delay(10)                      # fails more often than its 3 retries allow
    with pytest.raises(ConnectionError):
        used_up.get(timeout=20)
    assert '4 of 4: every retry used, failed for good' in client.get('/jobs/%s' % used_up.id).get_data(as_text=True)
    plain = fail.delay('y')
    with pytest.raises(ValueError):
        plain.get(timeout=10)
    assert '1: failed for good (the task allows no retries' in client.get('/jobs/%s' % plain.id).get_data(as_text=True)
    from tests.sample_tasks import CardDeclined, decline
    declined = decline.delay('4242')               # max_retries 3, but nothing asks for a retry
    with pytest.raises(CardDeclined):
        declined.get(timeout=10)
    assert '1: failed for good, not retried (the task has no autoretry_for, and did not call self.retry())' in \
        client.get('/jobs/%s' % declined.id).get_data(as_text=True)


def test_the_attempts_row_of_a_lost_job_says_it_was_lost(app, client):
    from localq.recovery import recover_stale_jobs
    from tests.sample_tasks import not_critical
    lost = not_critical.delay(1)
    assert app.huey.storage.dequeue() is not None   # claimed by a worker that then died
    recover_stale_jobs(app, now=time.time() + 60)
    page = client.get('/jobs/%s' % lost.id).get_data(as_text=True)
    assert 'not retried (its worker was lost, and the task is not acks_late)' in page


def test_a_numbered_step_is_labelled_in_the_list_and_on_the_page(app, client):
    from localq.web.formatting import step
    assert step({'step': 17, 'progress': 53}) == 'step 17'
    assert step({'step': 3, 'steps': 10}) == 'step 3 of 10'
    assert step({'step': 'storing'}) == 'storing' and step(None) == ''


def test_the_overview_leaves_the_lab_out_unless_asked(app, worker, client):
    from localq.lab import LAB_QUEUES
    from localq.plugins import Plugin
    from localq.worker import LocalqConsumer
    # The lab plug-in's hidden queues, on this app (the lab itself runs on localq's default app only)
    app.register_plugin(Plugin('lab', hidden_queues=LAB_QUEUES))
    # The app's own job first: consumers in one process share the storage's queue list, so once
    # the lab's consumer runs, this process claims only lab jobs.
    assert add.delay(2, 2).get(timeout=10) == 4
    lab_worker = LocalqConsumer(app, workers=1, queues=['lab.demo'], name='lab-demo-1')
    lab_worker.start_in_thread()
    try:
        # A class's run: a lab job finished this minute, as the app's one was, and two still waiting.
        assert add.apply_async((1, 2), queue='lab.demo').get(timeout=10) == 3
        for i in range(2):
            add.apply_async((i, i), queue='lab.later', countdown=600)
        plain = client.get('/api/overview').get_json()
        assert [q['name'] for q in plain['queues']] == ['default', 'high', 'low']
        assert [w['id'] for w in plain['workers']] == ['test-worker']
        assert plain['lab'] == {'shown': False, 'queues': 2, 'workers': 1, 'jobs': 3}
        # The numbers leave the lab's jobs out too, as the page says: counts, chart and its scale.
        assert (plain['counts']['SUCCESS'], plain['counts']['PENDING'], plain['total']) == (1, 0, 1)
        assert sum(m['SUCCESS'] for m in plain['throughput']) == 1 and plain['last_minute']['succeeded'] == 1
        page = client.get('/').get_data(as_text=True)
        assert "Counts, chart and tables leave out the classroom lab's 3 job(s), 2 queue(s) and 1 worker(s)" in page
        assert 'lab-demo-1' not in page and '>1/min</text>' in page
        assert page.split('data-state="PENDING">')[1].split('</b>')[0].endswith('<b>0')
        shown = client.get('/api/overview?lab=1').get_json()
        assert 'lab.demo' in [q['name'] for q in shown['queues']]
        assert sorted(w['id'] for w in shown['workers']) == ['lab-demo-1', 'test-worker']
        assert (shown['counts']['SUCCESS'], shown['counts']['PENDING'], shown['total']) == (2, 2, 4)
        assert sum(m['SUCCESS'] for m in shown['throughput']) == 2
        with_lab = client.get('/?lab=1').get_data(as_text=True)
        assert 'lab-demo-1' in with_lab and '>2/min</text>' in with_lab
        assert "Counts, chart and tables include the classroom lab's 3 job(s)" in with_lab
    finally:
        lab_worker.shutdown()
        del app.plugins['lab']   # the sample app is shared by the other tests


def test_delete_one_job_and_empty_a_queue_leave_running_jobs_alone(app, worker, client):
    running = wait_gate.delay('hold-delete')
    wait_for(lambda: running.state == 'STARTED', what='the gated job to start')
    app.pause_queue('default')
    waiting = [add.delay(i, i) for i in range(3)] + [add.apply_async((9, 9), countdown=600)]
    failed = bad_input.apply_async(('x',), queue='low')
    with pytest.raises(ValueError):
        failed.get(timeout=10)
    script = create_app(app).test_client()   # as curl would call it
    # one job, from the API: gone with its attempts; a running one is refused
    assert script.post('/api/task/delete/%s' % failed.id).get_json() == {'ok': True, 'task_id': failed.id,
                                                                          'deleted': True}
    assert Job.get_or_none(Job.id == failed.id) is None
    assert script.post('/api/task/delete/%s' % running.id).status_code == 409
    assert script.post('/api/task/delete/nope').status_code == 404
    # a queue: its ready and scheduled jobs go, the running one stays and finishes
    assert script.post('/api/queues/default/empty').get_json()['deleted'] == 4
    assert [Job.get_or_none(Job.id == r.id) for r in waiting] == [None] * 4
    assert script.post('/api/queues/nosuchq/empty').status_code == 404
    from tests.sample_tasks import gates
    gates['hold-delete'].set()
    assert running.get(timeout=10) == 'released'
    app.resume_queue('default')
    # the pages offer both, behind their confirmations
    assert 'data-queue-action="empty"' in client.get('/jobs?queue=default').get_data(as_text=True)
    later = add.apply_async((1, 1), countdown=600)
    assert 'data-action="delete"' in client.get('/jobs/%s' % later.id).get_data(as_text=True)


def test_task_statistics_count_success_rate_and_runtime_percentiles_per_task(app, worker, client):
    from localq.monitor.stats import percentile
    assert [add.delay(i, i).get(timeout=10) for i in range(3)] == [0, 2, 4]
    failed = bad_input.delay('x')
    with pytest.raises(ValueError):
        failed.get(timeout=10)
    # runtimes we know: three add jobs of 0.1, 0.2 and 0.4 s (written as their rows would be)
    for job_id, runtime in zip([j.id for j in Job.select().where(Job.task == 'tests.add')], (0.1, 0.2, 0.4)):
        Job.update(started_at=Job.finished_at - runtime).where(Job.id == job_id).execute()
    by_task = {t['task']: t for t in client.get('/api/task-stats?window=5m').get_json()['tasks']}
    assert by_task['tests.add']['finished'] == 3 and by_task['tests.add']['success_rate'] == 1.0
    assert [round(by_task['tests.add'][k], 3) for k in ('runtime_p50', 'runtime_p95', 'runtime_max')] == [0.2, 0.4, 0.4]
    assert (by_task['tests.bad_input']['failed'], by_task['tests.bad_input']['success_rate']) == (1, 0.0)
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([], 95) is None
    page = client.get('/task-stats?window=5m').get_data(as_text=True)
    assert 'tests.bad_input' in page and '0.0%' in page and '100.0%' in page and '200 ms' in page
    assert client.get('/api/task-stats?window=2h').status_code == 400


def test_the_data_page_shows_registered_models_and_the_rows_a_job_s_key_guards(app, worker, client):
    from localq.monitor import data
    from tests.sample_tasks import Order, create_order
    app.register_models(Order, idempotency_columns=[Order.order_id])
    try:
        for user in ('u1', 'u2'):
            create_order.apply_async(('o-%s' % user, user, 'p9'), idempotency_key='o-%s' % user).get(timeout=10)
        tables = {t['table']: t for t in client.get('/api/data').get_json()['tables']}
        assert tables['order']['rows'] == 2 and tables['job']['rows'] == 2 and 'attempt' in tables
        one = client.get('/api/data/order?column=user_id&value=u2').get_json()
        assert [(r['order_id'], r['user_id']) for r in one['rows']] == [('o-u2', 'u2')] and one['next'] is None
        first = data.table_rows(app, 'order', limit=1)          # newest first, then the page before it
        second = data.table_rows(app, 'order', before=first['next'], limit=1)
        assert [r['order_id'] for r in first['rows'] + second['rows']] == ['o-u2', 'o-u1']
        assert client.get('/api/data/order?column=colour&value=red').status_code == 400
        assert client.get('/api/data/order?column=id&value=abc').status_code == 400
        assert client.get('/api/data/nosuchtable').status_code == 400
        job_id = app.job_id_for_key('o-u1')
        page = client.get('/jobs/%s' % job_id).get_data(as_text=True)
        assert 'Rows its idempotency key guards' in page and 'o-u1' in page and 'o-u2' not in page.split('guards')[1]
        assert 'data-table="order"' in client.get('/data').get_data(as_text=True)
        assert '<td>u2</td>' in client.get('/data/order?column=product_id&value=p9').get_data(as_text=True)
        assert data._shown('api_token', 'tok_1') == '••••••' and data._shown('note', 'x' * 400).endswith('…')
    finally:
        app.idempotency_columns.clear()


def test_text_search_follows_every_change_to_a_job_and_takes_any_characters(app, client):
    def ids(text):
        return set(client.get('/api/tasks', query_string={'q': text}).get_json())
    a, b = echo.delay(note='50% off, "quoted" & under_score'), echo.delay(note='5000 off')
    assert ids('50% off') == {a.id} and ids('under_score') == {a.id} and ids('quoted" & u') == set()
    assert ids('\\"quoted\\"') == {a.id}      # the arguments are stored as JSON: \"quoted\"
    assert ids('off') == {a.id, b.id} and ids('OFF') == {a.id, b.id}        # any case
    assert ids('of') == {a.id, b.id} and ids('&') == {a.id}                  # shorter than a trigram: a scan
    Job.update(state='FAILURE', error_type='KeyError', error_message='missing pelican').where(Job.id == b.id).execute()
    assert ids('pelican') == {b.id} and ids('keyerror') == {b.id}            # an outcome's new error is found
    Job.update(error_message='found flamingo').where(Job.id == b.id).execute()
    assert ids('pelican') == set() and ids('flamingo') == {b.id}             # and the old one is forgotten
    Job.delete().where(Job.id == a.id).execute()
    assert ids('quoted') == set() and ids('5000') == {b.id}
    # the newest job deleted, then a new one queued (SQLite gives it the same rowid): found
    Job.delete().where(Job.id == b.id).execute()
    c = echo.delay(note='a heron')
    assert ids('heron') == {c.id} and ids('5000') == set()


def test_the_overview_stops_run_py_s_embedded_worker_and_the_site_goes_on(app, worker, client):
    page = client.get('/').get_data(as_text=True)
    assert 'data-worker-action="stop"' in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post('/workers/test-worker/stop', data={'csrf_token': token}, headers={'Origin': 'http://127.0.0.1'})
    assert answer.status_code == 302
    wait_for(lambda: WorkerRecord.get_by_id('test-worker').stopped_at is not None, timeout=15,
             what='the embedded worker to stop')
    assert client.get('/api/overview').status_code == 200 and 'stopped' in client.get('/').get_data(as_text=True)
    assert create_app(app).test_client().post('/api/workers/test-worker/stop').status_code == 404


def test_a_retried_jobs_page_tells_queue_wait_retry_waits_and_each_attempt_apart(app, worker, client):
    from localq.models import Attempt
    from localq.web.formatting import seconds
    from tests.sample_tasks import flaky
    result = flaky.delay(2)
    assert result.get(timeout=10) == 2
    job = Job.get_by_id(result.id)
    tries = list(Attempt.select().where(Attempt.job == result.id).order_by(Attempt.number))
    page = client.get('/jobs/%s' % result.id).get_data(as_text=True)
    # Started: the first attempt's wait in the queue, not the time until the last attempt began.
    queue_wait = page.split('data-fact="queue-wait">')[1].split('</td>')[0]
    assert '(waited %s in the queue)' % seconds(tries[0].started_at - job.queued_at) in queue_wait
    assert seconds(job.started_at - job.queued_at) not in queue_wait
    retry_waits = page.split('data-fact="retry-waits">')[1].split('</td>')[0]
    assert retry_waits == '; '.join('%s for the retry before attempt %d' % (
        seconds(b.started_at - a.finished_at), b.number) for a, b in zip(tries, tries[1:]))
    assert page.count('<tr data-attempt=') == 3 and 'attempt 2 started</b> <span class="mute">on test-worker, after' in page


def test_a_running_attempt_shows_on_the_job_page_before_it_ends(app, worker, client):
    from tests.sample_tasks import gate
    running = wait_gate.delay('story-running')
    try:
        wait_for(lambda: running.state == 'STARTED', what='the gated job to start')
        page = client.get('/jobs/%s' % running.id).get_data(as_text=True)
        row = page.split('<tr data-attempt="1" class="running">')[1].split('</tr>')[0]
        assert 'test-worker' in row and 'so far' in row and 'in the queue' in row
        assert 'attempt 1 running for' in page and 'Not started yet' not in page
    finally:
        gate('story-running').set()
    assert running.get(timeout=10) == 'released'


def test_a_lost_attempts_time_runs_to_its_workers_last_heartbeat_not_to_the_rescue(app, client):
    from localq.models import WorkerRecord
    from localq.recovery import recover_stale_jobs
    from tests.sample_tasks import not_critical
    lost = not_critical.delay(1)
    assert app.huey.storage.dequeue() is not None   # claimed by a worker that then died...
    # ... a minute ago, and died 2 s in: its last heartbeat. The rescue comes now.
    started = time.time() - 60
    Job.update(started_at=started, queued_at=started - 1).where(Job.id == lost.id).execute()
    WorkerRecord.insert(id=Job.get_by_id(lost.id).worker, host='h', pid=1, queues='default', concurrency=1,
                        worker_type='thread', started_at=started - 5, last_seen=started + 2.0).execute()
    recover_stale_jobs(app, now=time.time() + 60)
    page = client.get('/jobs/%s' % lost.id).get_data(as_text=True)
    row = page.split('<tr data-attempt="1">')[1].split('</tr>')[0]
    assert re.search(r"<td>2\.0 s <span class=\"mute\">to its worker's last heartbeat; declared lost 5[89]\.\d s later", row), row
    assert 'attempt 1 lost after 2.0 s' in page


def test_a_job_revoked_while_running_says_why_not_a_bare_exception(app, worker, client):
    from tests.sample_tasks import gate, loop_until_revoked
    endless = loop_until_revoked.delay('story-revoked')
    assert gate('story-revoked').wait(10)
    app.revoke(endless.id)
    wait_for(lambda: Job.get_by_id(endless.id).state == 'REVOKED', what='the job to stop')
    page = client.get('/jobs/%s' % endless.id).get_data(as_text=True)
    assert 'Revoked: revoked by a user while it ran on test-worker: its worker stopped it</h2>' in page
    assert 'localq.errors.Revoked:' not in page and '<summary>where it was stopped (traceback)</summary>' in page
