"""retention.py on real rows, a step at a time: what goes, what stays, and expiry of jobs no worker took."""
import time

from localq import chain, retention, states
from tests.sample_tasks import add, mul

DAY = 86400.0


def job_in(app, state, finished_ago=None, **columns):
    job_id = add.delay(1, 2).id
    if finished_ago is not None:
        columns['finished_at'] = time.time() - finished_ago
    columns = dict({'state': state}, **columns)
    app.query.sql('UPDATE job SET %s WHERE id = ?' % ', '.join('%s = ?' % c for c in columns),
                  tuple(columns.values()) + (job_id,))
    return job_id


def left(app, *ids):
    return [i for i in ids if app.query.sql('SELECT 1 FROM job WHERE id = ?', (i,)).fetchone()]


def test_finished_jobs_go_after_their_age_and_failures_are_kept_longer(app):
    cfg = app.config
    old_success = job_in(app, 'SUCCESS', finished_ago=(cfg.keep_succeeded_days + 1) * DAY)
    old_failure = job_in(app, 'FAILURE', finished_ago=(cfg.keep_succeeded_days + 1) * DAY)
    older_failure = job_in(app, 'FAILURE', finished_ago=(cfg.keep_failed_days + 1) * DAY)
    recent = job_in(app, 'SUCCESS', finished_ago=60)
    waiting = add.delay(1, 2).id
    assert retention.prune_jobs(app) == 2
    assert left(app, old_success, old_failure, older_failure, recent, waiting) == [old_failure, recent, waiting]


def test_the_cap_keeps_the_newest_finished_jobs_and_every_unfinished_one(app):
    before = app.config.keep_max_jobs
    app.configure(keep_max_jobs=3)
    try:
        finished = [job_in(app, state, finished_ago=100 - n)
                    for n, state in enumerate(['SUCCESS', 'FAILURE', 'REVOKED', 'SUCCESS', 'SUCCESS'])]
        running = job_in(app, 'STARTED', attempts=1)
        assert retention.prune_jobs(app) == 2
        assert left(app, *finished, running) == finished[2:] + [running]
    finally:
        app.configure(keep_max_jobs=before)


def test_a_job_past_its_expires_that_no_worker_took_is_revoked(app):
    expired = add.apply_async((1, 2), expires=60).id
    app.query.sql('UPDATE job SET expires_at = ? WHERE id = ?', (time.time() - 1, expired))
    fresh = add.apply_async((1, 2), expires=600).id
    never = add.delay(1, 2).id
    assert retention.expire_unclaimed(app) == [expired]
    found = dict(app.query.sql('SELECT id, state FROM job').fetchall())
    assert (found[expired], found[fresh], found[never]) == (states.REVOKED, 'PENDING', 'PENDING')
    assert app.query.sql('SELECT wait_reason FROM job WHERE id = ?', (expired,)).fetchone()[0] == \
        'expired before a worker took it'
    assert retention.expire_unclaimed(app) == []   # once


def test_an_expired_workflow_step_cancels_the_steps_after_it(app):
    chain(add.s(1, 2).set(expires=60), mul.s(10)).apply_async()
    first = app.query.sql("SELECT id FROM job WHERE state = 'PENDING'").fetchone()[0]
    app.query.sql('UPDATE job SET expires_at = ? WHERE id = ?', (time.time() - 1, first))
    retention.expire_unclaimed(app)
    assert sorted(s for s, in app.query.sql('SELECT state FROM job')) == ['REVOKED', 'REVOKED']


def test_a_batch_that_waited_for_the_write_lock_is_not_made_smaller(app, monkeypatch):
    # Given 100 jobs past their age, a budget per batch longer than deleting them takes (on a
    # loaded CI machine too) but shorter than another writer's hold on the write lock (0.5 s)
    import threading
    monkeypatch.setattr(retention, 'STEP_BUDGET', 0.25)
    for _ in range(retention.BATCH):
        job_in(app, 'SUCCESS', finished_ago=(app.config.keep_succeeded_days + 1) * DAY)
    holding, done = threading.Event(), threading.Event()

    def writer():
        with app.write_transaction():
            app.query.sql("UPDATE job SET meta = '{}' WHERE 1 = 0")
            holding.set()
            time.sleep(0.5)   # the other writer's transaction: its length, not a wait
        app.query.close()
        done.set()
    threading.Thread(target=writer).start()
    assert holding.wait(10)
    # When a pruning step deletes them, waiting for the lock first (past the budget)
    pruner = retention.Pruner(app)
    assert pruner.step() == retention.BATCH
    assert done.wait(10)
    # Then its batch size follows how long it held the lock, not the wait: not halved
    assert pruner.batch >= retention.BATCH
