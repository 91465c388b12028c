"""A user's actions (localq/actions.py) on real rows: each changes what it names, and nothing else."""
import time

import pytest

from localq import actions, chain
from localq.errors import JobNotFound, QueueNotFound, WorkerNotFound
from localq.monitor.listing import JobFilter
from tests.sample_tasks import add, high_task, mul


def put(app, job_id, **columns):
    app.query.sql('UPDATE job SET %s WHERE id = ?' % ', '.join('%s = ?' % c for c in columns),
                  tuple(columns.values()) + (job_id,))
    return job_id


def state(app, job_id):
    found = app.query.sql('SELECT state FROM job WHERE id = ?', (job_id,)).fetchone()
    return found and found[0]


def test_bulk_retry_requeues_the_failed_and_revoked_jobs_of_the_filter_only(app):
    failed_add = put(app, add.delay(1, 2).id, state='FAILURE')
    revoked_add = put(app, add.delay(1, 2).id, state='REVOKED')
    failed_mul = put(app, mul.delay(2, 3).id, state='FAILURE')
    done_add = put(app, add.delay(1, 2).id, state='SUCCESS')
    assert actions.bulk_retry(app, JobFilter(task='tests.add')) == 2
    assert [state(app, j) for j in (failed_add, revoked_add, failed_mul, done_add)] == [
        'PENDING', 'PENDING', 'FAILURE', 'SUCCESS']


def test_bulk_discard_deletes_what_matches_except_running_jobs(app):
    waiting = add.delay(1, 2).id
    running = put(app, add.delay(1, 2).id, state='STARTED', attempts=1)
    finished = put(app, add.delay(1, 2).id, state='SUCCESS')
    other_task = mul.delay(1, 2).id
    assert actions.bulk_discard(app, JobFilter(task='tests.add')) == 2
    assert [state(app, j) for j in (waiting, running, finished, other_task)] == [None, 'STARTED', None, 'PENDING']


def test_delete_job_says_whether_it_deleted_and_refuses_an_unknown_id(app):
    finished = put(app, add.delay(1, 2).id, state='FAILURE')
    running = put(app, add.delay(1, 2).id, state='PROCESSING', attempts=1)
    assert actions.delete_job(app, finished) is True and state(app, finished) is None
    assert actions.delete_job(app, running) is False and state(app, running) == 'PROCESSING'
    with pytest.raises(JobNotFound):
        actions.delete_job(app, 'no-such-job')


def test_emptying_a_queue_takes_its_waiting_jobs_only(app):
    ready, later = high_task.delay(1).id, high_task.apply_async((1,), countdown=600).id
    running = put(app, high_task.delay(1).id, state='STARTED', attempts=1)
    elsewhere = add.delay(1, 2).id
    assert actions.empty_queue(app, 'high') == 2
    assert [state(app, j) for j in (ready, later, running, elsewhere)] == [None, None, 'STARTED', 'PENDING']


def test_emptying_an_unknown_queue_names_the_queues_there_are(app):
    high_task.delay(1)
    with pytest.raises(QueueNotFound, match="no queue named 'hihg'; queues: .*high"):
        actions.empty_queue(app, 'hihg')


def test_a_stop_is_asked_only_of_a_running_worker(app):
    now = time.time()
    app.query.sql("INSERT INTO worker (id, host, pid, queues, concurrency, worker_type, started_at, last_seen, "
                  "processed) VALUES ('w1', 'h', 1, 'default', 1, 'thread', ?, ?, 0)", (now, now))
    actions.request_worker_stop(app, 'w1')
    assert app.query.sql("SELECT stop_requested FROM worker WHERE id = 'w1'").fetchone()[0] is not None
    with pytest.raises(WorkerNotFound):
        actions.request_worker_stop(app, 'w2')
    app.query.sql("UPDATE worker SET stopped_at = ? WHERE id = 'w1'", (now,))
    with pytest.raises(WorkerNotFound):
        actions.request_worker_stop(app, 'w1')


def test_run_now_makes_a_scheduled_job_ready_at_once(app):
    later = add.apply_async((1, 2), countdown=600).id
    assert actions.run_now(app, later) is True
    eta, reason, message = app.query.sql('SELECT eta, wait_reason, message FROM job WHERE id = ?', (later,)).fetchone()
    assert eta <= time.time() and reason == 'run now by a user' and '"eta":null' in message.replace(' ', '')
    assert actions.run_now(app, put(app, add.delay(1, 2).id, state='SUCCESS')) is False


def test_flushing_a_workflows_first_job_cancels_the_steps_that_wait_for_it(app):
    """Huey's flush (Celery's purge) revokes what waits in the queues; a chain's later steps,
    WAITING for the flushed job, end REVOKED "not run" rather than wait for ever."""
    result = chain(add.s(1, 2), mul.s(10), mul.s(2)).apply_async()
    rows = app.query.sql('SELECT id, state FROM job ORDER BY queued_at').fetchall()
    assert sorted(s for _, s in rows) == ['PENDING', 'WAITING', 'WAITING']
    assert app.control.purge() == 1
    states = dict(app.query.sql('SELECT state, COUNT(*) FROM job GROUP BY state').fetchall())
    assert states == {'REVOKED': 3}
    reasons = [r for r, in app.query.sql("SELECT wait_reason FROM job WHERE wait_reason LIKE 'not run:%'")]
    assert len(reasons) == 2 and result.id
