"""enqueue.py: every way in checks the call in the caller and writes one explicit row."""
import datetime
import time

import pytest

from localq.errors import InvalidCallOptions, TaskArgumentError
from localq.errors import NotRegistered
from localq.storage import JobRow
from tests.sample_tasks import add, critical, fire_and_forget, high_task, mul


DEEP = [1]
for _ in range(40):
    DEEP = [DEEP]


def row(app, job_id, *columns):
    return app.query.sql('SELECT %s FROM job WHERE id = ?' % ', '.join(columns), (job_id,)).fetchone()


def count(app):
    return app.query.sql('SELECT COUNT(*) FROM job').fetchone()[0]


@pytest.mark.parametrize('name, args, kwargs, error, says', [
    ('has space', (), {}, InvalidCallOptions, 'a task name is 1-200 letters'),
    ('x' * 201, (), {}, InvalidCallOptions, 'a task name is 1-200 letters'),
    (7, (), {}, InvalidCallOptions, 'a task name is 1-200 letters'),
    ('tests.add', 'ab', {}, TaskArgumentError, 'args must be a list or tuple'),
    ('tests.add', (), [('y', 1)], TaskArgumentError, 'kwargs a dict'),
    ('tests.add', (), {1: 2}, TaskArgumentError, 'str keys'),
    ('tests.add', (1,), {}, TaskArgumentError, 'tests.add(x, y)'),
    ('tests.add', (1, 2, 3), {}, TaskArgumentError, 'too many positional arguments'),
    ('tests.add', (object(), 1), {}, TaskArgumentError, 'not JSON-serialisable'),
    ('elsewhere.task', (DEEP,), {}, TaskArgumentError, 'nests lists or dicts more than'),
])
def test_a_bad_call_is_refused_in_the_caller_and_writes_nothing(app, name, args, kwargs, error, says):
    with pytest.raises(error, match=says.replace('(', r'\(').replace(')', r'\)')):
        app.enqueue_call(name, args, kwargs)
    assert count(app) == 0


def test_a_message_over_max_message_mb_is_refused_naming_its_size(app):
    before = app.config.max_message_mb
    app.configure(max_message_mb=1)
    try:
        with pytest.raises(TaskArgumentError, match=r'makes a 2\.0 MiB message, over max_message_mb \(1\)'):
            add.delay('x' * (2 * 1024 * 1024), '')
    finally:
        app.configure(max_message_mb=before)
    assert count(app) == 0


def test_the_row_says_what_the_call_asked_for(app):
    before = time.time()
    later = add.apply_async((2, 3), countdown=60, priority=7, queue='low', expires=600)
    state, queue, priority, args, kwargs, eta, expires_at, task = row(
        app, later.id, 'state', 'queue', 'priority', 'args', 'kwargs', 'eta', 'expires_at', 'task')
    assert (state, queue, priority, args, kwargs, task) == ('PENDING', 'low', 7, '[2, 3]', '{}', 'tests.add')
    assert before + 59 <= eta <= time.time() + 61
    assert before + 599 <= expires_at <= time.time() + 601


def test_an_eta_is_stored_as_the_same_instant_whatever_its_time_zone(app):
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    at = (datetime.datetime.now(plus_two) + datetime.timedelta(days=3)).replace(microsecond=0)
    job = add.apply_async((1, 1), eta=at)
    assert row(app, job.id, 'eta')[0] == at.timestamp()


@pytest.mark.parametrize('task, options, queue', [
    (add, {}, 'default'),             # the app's default queue
    (high_task, {}, 'high'),          # the task's own
    (high_task, {'queue': 'low'}, 'low'),   # the call's wins
])
def test_the_queue_comes_from_the_call_then_the_task_then_the_app(app, task, options, queue):
    assert row(app, task.apply_async((1,) if task is high_task else (1, 2), **options).id, 'queue')[0] == queue


def test_task_routes_come_after_the_calls_and_the_tasks_own_queue(app):
    app.conf.task_routes = {'tests.*': {'queue': 'routed'}}
    try:
        assert row(app, add.delay(1, 2).id, 'queue')[0] == 'routed'
        assert row(app, high_task.delay(1).id, 'queue')[0] == 'high'
        assert row(app, add.apply_async((1, 2), queue='low').id, 'queue')[0] == 'low'
    finally:
        app.conf.task_routes = None


def test_the_tasks_options_go_on_its_row(app):
    assert row(app, critical.delay(1).id, 'acks_late', 'max_retries', 'ignore_result') == (1, 0, 0)
    assert row(app, fire_and_forget.delay(1).id, 'acks_late', 'ignore_result') == (0, 1)


def test_a_task_declared_elsewhere_is_queued_by_name_and_waits_for_a_worker_that_has_it(app):
    job = app.send_task('billing.charge', args=[42], kwargs={'currency': 'EUR'})
    assert row(app, job.id, 'task', 'args', 'kwargs', 'state') == ('billing.charge', '[42]',
                                                                  '{"currency": "EUR"}', 'PENDING')


def test_immediate_mode_refuses_a_task_it_cannot_run_here(app):
    app.huey.immediate = True
    try:
        with pytest.raises(NotRegistered, match='immediate mode runs tasks here'):
            app.send_task('billing.charge')
    finally:
        app.huey.immediate = False


def test_an_idempotency_key_gives_one_job_until_it_is_revoked(app):
    first = mul.apply_async((2, 3), idempotency_key='order-1')
    assert mul.apply_async((2, 3), idempotency_key='order-1').id == first.id
    assert count(app) == 1
    app.revoke(first.id)
    again = mul.apply_async((2, 3), idempotency_key='order-1')
    assert again.id != first.id and row(app, again.id, 'idempotency_key')[0] == 'order-1'
    assert row(app, first.id, 'idempotency_key')[0] is None


def test_huey_and_localq_write_the_same_row_for_the_same_call(app):
    """Huey's own enqueue (its re-queues, immediate mode) builds the row from the message: the same
    columns as localq's explicit JobRow."""
    ours = add.apply_async((4, 5), priority=3)
    huey_task = add.make_huey_task((4, 5), {}, priority=3)
    huey_task.workflow = None
    app.huey.storage.enqueue(app.huey.serialize_task(huey_task), 3)
    columns = ('task', 'queue', 'priority', 'state', 'args', 'kwargs', 'max_retries', 'acks_late', 'ignore_result')
    assert row(app, ours.id, *columns) == row(app, huey_task.id, *columns)


def test_a_row_sent_again_keeps_its_history_and_refreshes_its_message(app):
    """A retry or a re-queue sends an id that exists: a finished row stays finished."""
    job = add.delay(1, 2)
    app.query.sql("UPDATE job SET state = 'SUCCESS', result = '3' WHERE id = ?", (job.id,))
    app.huey.storage.insert(JobRow(id=job.id, task='tests.add', message='{"m": {}}', args='[1, 2]', kwargs='{}',
                                   eta=1.0))
    assert row(app, job.id, 'state', 'result', 'message', 'eta') == ('SUCCESS', '3', '{"m": {}}', 1.0)
