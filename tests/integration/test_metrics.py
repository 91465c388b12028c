"""/metrics as a Prometheus user sees it: counters of finished jobs, retries and lost jobs and a
runtime histogram per task, written by real workers, that do not go down when jobs are pruned."""
import datetime
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from localq.models import Attempt, Job
from localq.recovery import recover_stale_jobs
from localq.retention import prune_jobs
from localq.web import create_app
from tests.conftest import wait_for
from tests.sample_tasks import add, critical, fail, flaky, not_critical


@pytest.fixture
def client(app):
    return create_app(app).test_client()


def scrape(client):
    """({family name: type}, {(sample name, sorted label pairs): value}), parsed as Prometheus would."""
    answer = client.get('/metrics')
    assert answer.status_code == 200
    types, samples = {}, {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return types, samples


def counted(samples):
    """The counters' and the histogram's samples (not the gauges)."""
    return {k: v for k, v in samples.items()
            if k[0].startswith(('localq_jobs_finished_', 'localq_jobs_lost_', 'localq_task_'))}


def finished(samples, task, state):
    return samples.get(('localq_jobs_finished_total', (('state', state), ('task', task))))


def of_task(samples, name, task):
    return samples.get((name, (('task', task),)))


def buckets(samples, task):
    """[(le, cumulative count)] of a task's runtime histogram, in bucket order."""
    found = [(dict(labels)['le'], value) for (name, labels), value in samples.items()
             if name == 'localq_task_runtime_seconds_bucket' and dict(labels)['task'] == task]
    return sorted(found, key=lambda pair: float(pair[0]))


def test_counters_and_runtime_histogram_per_task_survive_pruning(app, worker, client):
    for i in range(3):
        assert add.delay(i, i).get(timeout=10) == 2 * i
    failed = [fail.delay(i) for i in range(2)]
    wait_for(lambda: all(r.state == 'FAILURE' for r in failed), what='two failures')
    assert flaky.delay(1).get(timeout=10) == 1          # one retry, then a success

    types, samples = scrape(client)
    assert types['localq_jobs_finished'] == 'counter' and types['localq_task_runtime_seconds'] == 'histogram'
    assert types['localq_task_retries'] == 'counter' and types['localq_jobs_lost'] == 'counter'
    assert samples[('localq_jobs', (('state', 'SUCCESS'),))] == 4      # the gauges are still there
    assert (finished(samples, 'tests.add', 'SUCCESS'), finished(samples, 'tests.add', 'FAILURE'),
            finished(samples, 'tests.add', 'REVOKED')) == (3, 0, 0)
    assert (finished(samples, 'tests.fail', 'SUCCESS'), finished(samples, 'tests.fail', 'FAILURE')) == (0, 2)
    assert finished(samples, 'tests.flaky', 'SUCCESS') == 1
    assert of_task(samples, 'localq_task_retries_total', 'tests.flaky') == 1
    assert of_task(samples, 'localq_task_retries_total', 'tests.add') == 0
    assert of_task(samples, 'localq_jobs_lost_total', 'tests.add') == 0

    # The histogram counts every attempt, timed from its start to its end as its Attempt row says.
    attempts = {}
    for a in Attempt.select(Attempt, Job.task).join(Job):
        attempts.setdefault(a.job.task, []).append(a.finished_at - a.started_at)
    assert {t: len(v) for t, v in attempts.items()} == {'tests.add': 3, 'tests.fail': 2, 'tests.flaky': 2}
    for task, runtimes in attempts.items():
        count = of_task(samples, 'localq_task_runtime_seconds_count', task)
        assert count == len(runtimes)
        assert of_task(samples, 'localq_task_runtime_seconds_sum', task) == pytest.approx(sum(runtimes), abs=1e-6)
        cumulative = buckets(samples, task)
        assert cumulative[-1] == ('+Inf', count)
        assert [v for _, v in cumulative] == sorted(v for _, v in cumulative)   # cumulative: never down
        for le, value in cumulative:
            assert value == sum(1 for r in runtimes if r <= float(le))

    # Retention deletes the jobs and their attempts; the counters stay as they were.
    assert prune_jobs(app, now=time.time() + 31 * 86400) == 6
    assert Job.select().count() == 0 and Attempt.select().count() == 0
    after_types, after = scrape(client)
    assert after_types == types
    assert counted(after) == counted(samples)
    assert finished(after, 'tests.add', 'SUCCESS') == 3 and finished(after, 'tests.fail', 'FAILURE') == 2
    assert samples[('localq_jobs', (('state', 'SUCCESS'),))] == 4 and ('localq_jobs', (('state', 'SUCCESS'),)) \
        not in after   # the gauge follows the rows

    # and go on counting from there
    assert add.delay(5, 5).get(timeout=10) == 10
    _, later = scrape(client)
    assert finished(later, 'tests.add', 'SUCCESS') == 4
    assert of_task(later, 'localq_task_runtime_seconds_count', 'tests.add') == 4


def test_lost_jobs_are_counted_when_recovered(app, client):
    """A claimed job whose lease ran out (its worker died): without acks_late it fails as lost,
    with acks_late it is queued again; both count as lost, neither as a timed attempt."""
    gone = not_critical.delay(1)
    again = critical.delay(2)
    storage = app.huey.storage
    assert storage.dequeue() is not None and storage.dequeue() is not None   # claimed, never run
    assert sorted(recover_stale_jobs(app, now=time.time() + 60).values()) == ['FAILURE', 'PENDING']
    assert (gone.state, again.state) == ('FAILURE', 'PENDING')

    _, samples = scrape(client)
    assert of_task(samples, 'localq_jobs_lost_total', 'tests.not_critical') == 1
    assert of_task(samples, 'localq_jobs_lost_total', 'tests.critical') == 1
    assert finished(samples, 'tests.not_critical', 'FAILURE') == 1
    assert finished(samples, 'tests.critical', 'FAILURE') == 0      # it will run again
    assert of_task(samples, 'localq_task_runtime_seconds_count', 'tests.not_critical') == 0
    assert of_task(samples, 'localq_task_retries_total', 'tests.critical') == 0


def test_an_expired_job_counts_as_revoked_and_an_old_database_gets_the_table(app, client):
    app.database.execute_sql('DROP TABLE outcome_counter')   # a database made before the counters
    app.close()
    app.setup()
    assert 'outcome_counter' in app.database.get_tables()
    # Expired before any worker saw it: an expiry already past, so no sleep has to pass the time.
    expired = add.apply_async((1, 1), expires=datetime.datetime.now() - datetime.timedelta(seconds=1))
    from localq.worker import LocalqConsumer
    consumer = LocalqConsumer(app, workers=1, name='late-worker')
    consumer.start_in_thread()
    try:
        wait_for(lambda: expired.state == 'REVOKED', what='REVOKED')
    finally:
        consumer.shutdown()
    _, samples = scrape(client)
    assert finished(samples, 'tests.add', 'REVOKED') == 1 and finished(samples, 'tests.add', 'SUCCESS') == 0
    assert of_task(samples, 'localq_task_runtime_seconds_count', 'tests.add') == 0


def test_jobs_revoked_before_they_ran_are_counted(app, client):
    # Given a waiting job and a three-step chain, none run (no worker)
    single = add.delay(1, 1)
    chain = (add.s(1, 1) | add.s(2) | add.s(3)).apply_async()
    # When both are revoked (the chain by its first step: its later steps are cancelled with it)
    assert app.revoke(single.id) == 'REVOKED'
    assert app.revoke(chain.parent.parent.id) == 'REVOKED'
    assert Job.select().where(Job.state == 'REVOKED').count() == 4
    # Then each counts as one REVOKED job of its task, with no attempt and no runtime
    _, samples = scrape(client)
    assert finished(samples, 'tests.add', 'REVOKED') == 4
    assert of_task(samples, 'localq_task_runtime_seconds_count', 'tests.add') == 0
