"""The /metrics counters (counters.py) on a temporary database, without a worker: which row an
outcome bumps (state after it, attempt outcome, runtime bucket), that a re-sent or fenced-out
outcome counts nothing, and how read() folds the rows into each task's series."""
import pytest

from localq import counters
from localq.models import Attempt, Job, OutcomeCounter

NOW = 1_790_000_000.0


@pytest.fixture
def storage(app):
    return app.huey.storage


def started_job(job_id='job-1', task='reports.build', runtime=0.3, attempts=1):
    """A job row as a claim left it, and as its outcome's UPDATE stamped it (updated_at = NOW)."""
    return Job.create(id=job_id, task=task, message='{}', queued_at=NOW - 100, eta=NOW - 100, state='STARTED',
                      attempts=attempts, started_at=NOW - runtime, updated_at=NOW)


def rows():
    return sorted((r.task, r.state, r.attempt, r.le, r.n) for r in OutcomeCounter.select())


def count(storage, job_id, outcome, now=NOW):
    storage.sql(*counters.after_attempt(storage, job_id, outcome, now))


@pytest.mark.parametrize('runtime, le', [
    (0.0, '0.005'), (0.004, '0.005'), (0.006, '0.01'), (0.3, '0.5'), (1.0, '1.0'), (1.5, '2.5'),
    (59.0, '60.0'), (3600.0, '3600.0'), (3600.5, '+Inf'), (86400.0, '+Inf'),
])
def test_a_timed_attempt_lands_in_the_smallest_bucket_that_holds_its_runtime(storage, runtime, le):
    started_job(runtime=runtime)
    count(storage, 'job-1', 'SUCCESS')
    assert rows() == [('reports.build', 'SUCCESS', 'SUCCESS', le, 1)]
    assert OutcomeCounter.get().seconds == pytest.approx(runtime, abs=1e-6)


def test_a_start_after_the_outcome_time_counts_as_no_runtime(storage):
    # Clocks of two hosts can disagree: a negative runtime would land below every bucket.
    started_job(runtime=-5.0)
    count(storage, 'job-1', 'SUCCESS')
    assert rows() == [('reports.build', 'SUCCESS', 'SUCCESS', '0.005', 1)] and OutcomeCounter.get().seconds == 0


@pytest.mark.parametrize('outcome, state_after', [
    ('SUCCESS', 'SUCCESS'), ('FAILURE', 'FAILURE'), ('RETRY', 'RETRY'), ('REVOKED', 'REVOKED'),
    ('TIMEOUT', 'FAILURE'),     # a time limit ends the job as a failure
    ('REJECTED', 'PENDING'),    # Reject(requeue=True): back in its queue
])
def test_an_outcome_is_counted_under_the_jobs_state_after_it(storage, outcome, state_after):
    started_job()
    count(storage, 'job-1', outcome)
    assert rows() == [('reports.build', state_after, outcome, '0.5', 1)]


def test_outcomes_of_one_kind_add_up_in_one_row(storage):
    for i in range(3):
        started_job('job-%d' % i, runtime=0.3)
        count(storage, 'job-%d' % i, 'SUCCESS')
    assert rows() == [('reports.build', 'SUCCESS', 'SUCCESS', '0.5', 3)]
    assert OutcomeCounter.get().seconds == pytest.approx(0.9)


def test_an_outcome_sent_again_after_its_attempt_was_recorded_counts_once(storage):
    job = started_job()
    count(storage, 'job-1', 'SUCCESS')
    Attempt.create(job=job, number=1, finished_at=NOW, outcome='SUCCESS')
    count(storage, 'job-1', 'SUCCESS')   # the same statements, re-sent after a lost connection
    assert rows() == [('reports.build', 'SUCCESS', 'SUCCESS', '0.5', 1)]


def test_an_outcome_whose_update_was_fenced_out_counts_nothing(storage):
    started_job()
    count(storage, 'job-1', 'SUCCESS', now=NOW + 1)   # the row was not stamped with this outcome's time
    count(storage, 'no-such-job', 'SUCCESS')
    assert rows() == []


def test_an_untimed_outcome_has_no_bucket(storage):
    storage.sql(*counters.untimed(storage, 'reports.build', 'PENDING', 'LOST'))
    storage.sql(*counters.untimed(storage, 'reports.build', 'FAILURE', n=4))
    assert rows() == [('reports.build', 'FAILURE', '', '', 4), ('reports.build', 'PENDING', 'LOST', '', 1)]


def test_jobs_that_never_ran_are_counted_per_task(storage):
    counters.count_unrun(storage, ['a.x', 'b.y', 'a.x', 'a.x'], 'REVOKED')
    counters.count_unrun(storage, [], 'REVOKED')
    assert rows() == [('a.x', 'REVOKED', '', '', 3), ('b.y', 'REVOKED', '', '', 1)]


# -- read(): the rows folded into each task's series ---------------------------------------------

def bump(task, state, attempt, le, n, seconds=0.0, shard=0):
    OutcomeCounter.create(task=task, state=state, attempt=attempt, le=le, n=n, seconds=seconds, shard=shard)


def test_read_gives_nothing_before_any_outcome(storage):
    assert counters.read(storage) == {}


def test_read_gives_every_series_of_a_task_from_its_first_outcome_with_zeros(storage):
    bump('reports.build', 'PENDING', 'LOST', '', 1)
    (only,) = counters.read(storage).values()
    assert only['finished'] == {'FAILURE': 0, 'REVOKED': 0, 'SUCCESS': 0}
    assert (only['retries'], only['lost'], only['count'], only['seconds']) == (0, 1, 0, 0.0)
    assert only['buckets'] == [(le, 0) for le in counters.LE]


def test_read_folds_states_attempts_and_buckets_into_cumulative_series(storage):
    bump('t', 'SUCCESS', 'SUCCESS', '0.005', 2, seconds=0.004)
    bump('t', 'SUCCESS', 'SUCCESS', '1.0', 1, seconds=0.9)
    bump('t', 'RETRY', 'RETRY', '0.5', 3, seconds=1.2)
    bump('t', 'FAILURE', 'TIMEOUT', '+Inf', 1, seconds=4000.0)
    bump('t', 'REVOKED', '', '', 5)            # revoked before they ran: finished, not timed
    series = counters.read(storage)['t']
    assert series['finished'] == {'SUCCESS': 3, 'FAILURE': 1, 'REVOKED': 5}
    assert (series['retries'], series['lost']) == (3, 0)
    buckets = dict(series['buckets'])
    assert (buckets['0.005'], buckets['0.25'], buckets['0.5'], buckets['1.0'], buckets['3600.0'],
            buckets['+Inf']) == (2, 2, 5, 6, 6, 7)
    assert series['count'] == 7 and series['seconds'] == pytest.approx(4002.104)
    assert [le for le, _ in series['buckets']] == list(counters.LE)


def test_read_sums_the_shards_of_one_counter(storage):
    for shard in range(3):
        bump('t', 'SUCCESS', 'SUCCESS', '0.1', 10, seconds=0.5, shard=shard)
    series = counters.read(storage)['t']
    assert series['finished']['SUCCESS'] == 30 and series['count'] == 30 and series['seconds'] == pytest.approx(1.5)


@pytest.mark.parametrize('le, bucket', [
    ('0.2', '0.25'),        # a bucket of an older list: the smallest of ours that holds it
    ('0.001', '0.005'),
    ('7200', '+Inf'),
    ('not-a-number', '+Inf'),
])
def test_read_puts_a_bucket_of_another_list_into_the_smallest_that_holds_it(storage, le, bucket):
    bump('t', 'SUCCESS', 'SUCCESS', le, 1)
    buckets = counters.read(storage)['t']['buckets']
    assert [le for le, n in buckets if n][0] == bucket


def test_read_keeps_tasks_apart(storage):
    bump('a', 'SUCCESS', 'SUCCESS', '0.1', 1)
    bump('b', 'FAILURE', 'FAILURE', '0.1', 2)
    found = counters.read(storage)
    assert (found['a']['finished']['SUCCESS'], found['a']['finished']['FAILURE']) == (1, 0)
    assert (found['b']['finished']['SUCCESS'], found['b']['finished']['FAILURE']) == (0, 2)


def test_the_bucket_bounds_are_spelled_as_prometheus_shows_them():
    assert counters.LE[:3] == ('0.005', '0.01', '0.025') and counters.LE[-2:] == ('3600.0', '+Inf')
    assert list(map(float, counters.LE[:-1])) == sorted(counters.BUCKETS)
