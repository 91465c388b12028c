"""app.control as Celery's "Workers Guide" uses it (issue #25, item 5), answered from the database."""
from localq.models import Job
from tests.conftest import wait_for
from tests.sample_tasks import add, loop_until_revoked, wait_gate, gate


def test_inspect_answers_about_online_workers(app, worker):
    assert add.delay(1, 2).get(timeout=10) == 3
    running = wait_gate.delay('control-gate')
    try:
        wait_for(lambda: running.state == 'STARTED', what='STARTED')
        i = app.control.inspect()
        assert i.ping() == {'test-worker': {'ok': 'pong'}}
        assert [j['id'] for j in i.active()['test-worker']] == [running.id]
        assert i.active()['test-worker'][0]['name'] == 'tests.wait_gate'
        assert 'tests.add' in i.registered()['test-worker']
        assert i.reserved() == {'test-worker': []} and i.scheduled() == {'test-worker': []}
        stats = i.stats()['test-worker']
        assert stats['pool']['max-concurrency'] == 2 and stats['total']['tests.add'] == 1
        assert app.control.inspect(destination=['someone-else']).ping() is None
        assert app.control.ping() == [{'test-worker': {'ok': 'pong'}}]
    finally:
        gate('control-gate').set()
    running.get(timeout=10)


def test_revoke_with_terminate_stops_a_running_job(app, worker):
    job = loop_until_revoked.delay('control-revoke')
    wait_for(lambda: job.state == 'STARTED', what='STARTED')
    app.control.revoke(job.id, terminate=True)
    wait_for(lambda: job.state == 'REVOKED', timeout=15, what='REVOKED')


def test_inspect_with_no_worker_online_answers_none_and_purge_empties_the_queues(app):
    assert app.control.inspect().active() is None
    waiting = [add.delay(i, i) for i in range(3)] + [add.apply_async((1, 1), countdown=600)]
    assert app.control.purge() == 4
    assert {Job.get_by_id(r.id).state for r in waiting} == {'REVOKED'}
