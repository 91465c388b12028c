"""Queue guarantees on one SQLite file: crashes, transactions, idempotency, queues, many processes."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from localq import actions
from localq.monitor.listing import JobFilter, page_jobs
from localq.models import Attempt, Job
from localq.recovery import find_stale_runs, release_stale_runs
from localq.retention import Pruner, prune_jobs
from localq.worker import LocalqConsumer
from tests.conftest import ROOT, processes_mentioning, spawn_worker, wait_for
from tests.sample_tasks import (Effect, Order, add, bad_input, create_order, create_order_naive, critical,
                                high_task, low_task, not_critical)

FAST_RESCUE = {'LOCALQ_LEASE_TIMEOUT': '1.0', 'LOCALQ_HEARTBEAT_INTERVAL': '0.2'}
RUNNING_STATES = ('STARTED', 'PROCESSING')


def finish(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    out = proc.communicate(timeout=60)[0].decode(errors='replace')
    return proc.returncode, out


def test_sigkilled_workers_lose_no_acks_late_job_and_repeat_no_effect(app):
    # Given 300 acks_late jobs and 4 worker processes on one file
    results = [critical.delay(i, 0.03) for i in range(300)]
    workers = [spawn_worker(app.config.data_dir, '-c', '1', env=FAST_RESCUE) for _ in range(4)]
    outputs, kills = [], 0
    rng = random.Random(1)
    try:
        # When a random worker is SIGKILLed at random moments until every job has ended
        deadline = time.monotonic() + 120
        while Job.select().where(Job.state != 'SUCCESS').count() and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.1, 0.4))   # the chaos: a random moment, not a wait for an event
            if kills < 12:
                victim = rng.randrange(len(workers))
                outputs.append(finish(workers[victim], signal.SIGKILL)[1])
                kills += 1
                workers[victim] = spawn_worker(app.config.data_dir, '-c', '1', env=FAST_RESCUE)
    finally:
        outputs += [finish(w)[1] for w in workers]
    # Then every job ended SUCCESS, its effect happened exactly once, and none is left running
    assert Job.select().where(Job.state != 'SUCCESS').count() == 0, [o for o in outputs if o][:2]
    assert Effect.select().count() == 300
    assert sorted(r.get(timeout=1) for r in results) == list(range(300))
    lost = Attempt.select().where(Attempt.outcome == 'LOST').count()
    assert lost >= 1, 'no kill hit a running job; the test proved nothing'
    assert all('database is locked' not in o for o in outputs)


def test_killing_only_the_main_process_of_process_workers_loses_nothing_and_runs_nothing_twice(app):
    # Given 24 acks_late jobs of 1 s and two process workers (-P process, 2 children each)
    data = app.config.data_dir
    results = [critical.delay(i, 1.0) for i in range(24)]
    workers = [spawn_worker(data, '-c', '2', '-P', 'process', env=FAST_RESCUE) for _ in range(2)]
    killed = 0

    def both_children_mid_job(pid):
        # Both runs of this worker began under 0.6 s ago, so neither is near its end: a kill
        # there interrupts two runs. (A run killed after its task returned but before its
        # outcome was written would rightly run again: acks_late is at least once.)
        return Job.select().where(Job.state == 'STARTED', Job.worker.endswith(':%d' % pid),
                                  Job.started_at > time.time() - 0.6).count() == 2

    try:
        # When the main process of a worker (only it: as an out-of-memory kill does) is SIGKILLed
        # while its children run jobs, three times, each time starting a new worker in its place
        for victim in (0, 1, 0):
            pid = workers[victim].pid
            wait_for(lambda: both_children_mid_job(pid), timeout=30, what="the victim's children mid-job")
            os.kill(pid, signal.SIGKILL)
            workers[victim].communicate(timeout=30)
            killed += 1
            workers[victim] = spawn_worker(data, '-c', '2', '-P', 'process', env=FAST_RESCUE)
        wait_for(lambda: Job.select().where(Job.state != 'SUCCESS').count() == 0, timeout=90,
                 what='every job to finish')
    finally:
        for w in workers:
            finish(w)
    # Then every job succeeded, and each ran to its end once: the killed workers' children died
    # with them (their jobs were rescued once, by the lease), none finished a job a second time
    assert sorted(r.get(timeout=1) for r in results) == list(range(24))
    with open(os.path.join(data, 'executions.log')) as fh:
        done = [line.split()[1] for line in fh if line.startswith('done ')]
    assert sorted(done, key=int) == [str(i) for i in range(24)], 'a job finished twice or never'
    successes = Attempt.select().where(Attempt.outcome == 'SUCCESS').count()
    lost = Attempt.select().where(Attempt.outcome == 'LOST').count()
    assert successes == 24 and killed == 3 and lost == 6   # two interrupted runs per kill
    # and no process of this data folder is left (the children of the killed ones included)
    wait_for(lambda: not processes_mentioning(data), timeout=15, what='every worker process to be gone')


def test_a_lost_job_without_acks_late_fails_as_worker_lost(app):
    result = not_critical.delay(1, 30)
    worker = spawn_worker(app.config.data_dir, '-c', '1', env=FAST_RESCUE)
    wait_for(lambda: result.state == 'STARTED', what='STARTED')
    finish(worker, signal.SIGKILL)
    rescuer = spawn_worker(app.config.data_dir, '-c', '1', env=FAST_RESCUE)
    try:
        wait_for(lambda: result.state == 'FAILURE', timeout=20, what='FAILURE')
    finally:
        finish(rescuer)
    job = Job.get_by_id(result.id)
    assert job.error_type == 'localq.errors.WorkerLost' and 'worker lost' in job.error_message
    assert [a.outcome for a in Attempt.select().where(Attempt.job == result.id)] == ['LOST']


def test_two_sweepers_that_find_one_stale_run_release_it_once_and_leave_its_next_run_alone(app):
    # Given an acks_late job whose worker died while running it (its lease ran out), and two
    # workers' sweeps that both found it stale at the same moment
    result = critical.delay(1)
    storage = app.huey.storage
    assert storage.dequeue() is not None
    later = time.time() + 60
    first_sweep, second_sweep = find_stale_runs(app, later), find_stale_runs(app, later)
    # When the first releases it, another worker claims it, and only then the second sweep acts
    assert release_stale_runs(app, first_sweep, later) == {result.id: 'PENDING'}
    assert storage.dequeue() is not None
    assert release_stale_runs(app, second_sweep, later) == {}
    # Then the new run goes on: one lost attempt, and the job is running (its attempt 2)
    job = Job.get_by_id(result.id)
    assert (job.state, job.attempts) == ('STARTED', 2)
    assert [a.outcome for a in Attempt.select().where(Attempt.job == result.id)] == ['LOST']


def test_a_claimed_job_holds_the_configured_lease_before_any_heartbeat(app):
    app.configure(lease_timeout=120.0, heartbeat_interval=60.0)
    result = critical.delay(1)
    assert app.huey.storage.dequeue() is not None
    job = Job.get_by_id(result.id)
    assert job.lease_until - job.started_at == pytest.approx(120.0)   # not rescued after 15 s while it runs


def test_graceful_shutdown_puts_a_running_acks_late_job_back_at_once(app):
    result = critical.delay('long', 30)
    worker = spawn_worker(app.config.data_dir, '-c', '1', env={'LOCALQ_SHUTDOWN_TIMEOUT': '0.2'})
    wait_for(lambda: result.state == 'STARTED', what='STARTED')
    code, out = finish(worker, signal.SIGTERM)
    assert code == 0, out
    job = Job.get_by_id(result.id)
    assert job.state == "PENDING" and job.lease_until is None, out  # back now, not after a lease timeout
    assert [a.outcome for a in Attempt.select().where(Attempt.job == result.id)] == ['LOST']


def test_enqueue_commits_or_rolls_back_with_the_apps_own_transaction(app):
    with pytest.raises(RuntimeError):
        with app.database.atomic():
            Order.create(user_id='u1', product_id='p1')
            add.delay(1, 2)
            raise RuntimeError('payment declined')
    assert (Order.select().count(), Job.select().count()) == (0, 0)
    with app.database.atomic():
        Order.create(user_id='u1', product_id='p1')
        result = add.delay(1, 2)
    assert (Order.select().count(), Job.select().count()) == (1, 1) and result.state == 'PENDING'


def test_an_idempotency_key_gives_one_job_even_when_two_processes_race(app):
    script = ('import sys; from tests.sample_tasks import app, add; app.configure(data_dir=sys.argv[1]); '
              'print(" ".join(add.apply_async((i, i), idempotency_key="k%d" % i).id for i in range(100)))')
    procs = [subprocess.Popen([sys.executable, '-c', script, app.config.data_dir], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=ROOT)) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    first, second = (o[0].split() for o in outs)
    assert first == second and Job.select().count() == 100
    # A revoked job gives its key up; any other state keeps it.
    again = add.apply_async((0, 0), idempotency_key='k0')
    assert again.id == first[0].decode()
    again.revoke()
    fresh = add.apply_async((0, 0), idempotency_key='k0')
    assert fresh.id != again.id and Job.select().count() == 101


def test_naive_order_task_duplicates_on_retry_and_get_or_create_does_not(app, worker):
    for _ in range(3):  # the same delivery three times, as retries would do
        create_order_naive.delay('u1', 'p1').get(timeout=10)
        create_order.delay('o-1', 'u1', 'p1').get(timeout=10)
    assert Order.select().where(Order.order_id.is_null()).count() == 3
    assert Order.select().where(Order.order_id == 'o-1').count() == 1


def test_workers_take_only_their_queues_and_skip_paused_ones(app):
    consumer = LocalqConsumer(app, workers=1, queues=['high', 'default'])
    consumer.start_in_thread()
    try:
        low = low_task.delay(1)
        assert high_task.delay(1).get(timeout=10)
        app.pause_queue('high')
        waiting = high_task.delay(2)
        assert add.delay(1, 1).get(timeout=10) == 2     # the worker was free, yet skipped 'high'
        assert waiting.state == 'PENDING' and app.paused_queues() == ['high']
        app.resume_queue('high')
        assert waiting.get(timeout=10)
    finally:
        consumer.shutdown()
    assert low.state == 'PENDING'   # no worker serves 'low'


def test_higher_priority_runs_first_within_a_queue(app):
    app.pause_queue('default')
    backlog = [add.apply_async((i, 0)) for i in range(20)]
    urgent = add.apply_async((100, 0), priority=10)
    consumer = LocalqConsumer(app, workers=1)
    consumer.start_in_thread()
    try:
        app.resume_queue('default')
        for r in backlog + [urgent]:
            r.get(timeout=10)
    finally:
        consumer.shutdown()
    first = Job.select().order_by(Job.started_at).first()
    assert first.id == urgent.id


def test_dead_letters_stay_queryable_and_can_be_requeued(app, worker):
    failed = bad_input.delay('x')
    wait_for(lambda: failed.state == 'FAILURE', what='FAILURE')
    assert [j.id for j in page_jobs(JobFilter(state='FAILURE')).rows] == [failed.id]
    assert actions.requeue(app, [failed.id]) == [failed.id]
    wait_for(lambda: Job.get_by_id(failed.id).attempts == 2 and failed.state == 'FAILURE', what='second failure')
    # From the CLI, every failed job of a task:
    out = subprocess.run([sys.executable, '-m', 'localq.cli', '-A', 'tests.sample_tasks:app', '--data-dir',
                          app.config.data_dir, 'requeue', '--all-failed', '--task', 'tests.bad_input'],
                         cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert 're-queued 1 job(s)' in out.stdout, out.stderr
    wait_for(lambda: Job.get_by_id(failed.id).attempts == 3 and failed.state == 'FAILURE', what='third failure')


def test_retention_prunes_old_finished_jobs_and_keeps_failures_longer(app, worker):
    done = [add.delay(i, i) for i in range(3)]
    for r in done:
        r.get(timeout=10)
    failed = bad_input.delay('x')
    wait_for(lambda: failed.state == 'FAILURE', what='FAILURE')
    now = time.time()
    ten_days = now + 10 * 86400
    assert prune_jobs(app, now=ten_days) == 3          # successes past 7 days go, the failure stays
    assert [j.id for j in Job.select()] == [failed.id]
    assert prune_jobs(app, now=now + 31 * 86400) == 1
    assert Attempt.select().count() == 0


INSERT_JOB = ("INSERT INTO job (id, task, queue, priority, state, args, kwargs, message, attempts, max_retries, "
              "acks_late, ignore_result, revoke_requested, waits_for, queued_at, eta, finished_at) "
              "VALUES (?, 'tests.add', 'default', 0, ?, '[]', '{}', '{}', 1, 0, false, false, false, 0, ?, ?, ?)")


def test_the_cap_keeps_the_newest_finished_jobs_of_every_state_in_small_steps(app):
    """keep_max_jobs: the newest finished jobs stay, whatever their state; queued ones are never
    counted or pruned; and one step deletes a bounded number, so the write lock is held briefly."""
    rng = random.Random(3)
    ends = list(range(1, 601))
    rng.shuffle(ends)
    with app.write_transaction():
        for n, end in enumerate(ends):
            state = ('SUCCESS', 'FAILURE', 'REVOKED')[n % 3]
            app.query.sql(INSERT_JOB, ('job-%03d' % end, state, n, n, time.time() - 1000 + end))
        for n in range(5):
            app.query.sql(INSERT_JOB, ('queued-%d' % n, 'PENDING', 0, 0, None))
    app.config.keep_max_jobs = 100
    pruner = Pruner(app)
    pruner.batch = 50
    assert pruner.step(batches=1, pause=0) == 50   # one step of one batch: 50 jobs, not the 500 over the cap
    prune_jobs(app)
    kept = sorted(j.id for j in Job.select().where(Job.finished_at.is_null(False)))
    assert kept == ['job-%03d' % end for end in range(501, 601)]
    assert Job.select().where(Job.state == 'PENDING').count() == 5


def test_a_periodic_tick_is_queued_once_even_by_two_schedulers(app):
    from localq import crontab

    @app.periodic_task(crontab(minute='*'), name='tests.every_minute')
    def every_minute():
        return 'tick'
    try:
        # Two workers' schedulers at the same tick, and again a few seconds later in the same minute
        minute_start = (time.time() // 60) * 60
        first, second = app.beat.ticker(), app.beat.ticker()
        queued = first.tick(minute_start + 1) + second.tick(minute_start + 2) + first.tick(minute_start + 30)
        assert len({r.id for r in queued}) == 1
        assert Job.select().where(Job.task == 'tests.every_minute').count() == 1
        # and the next minute is the next tick
        second.tick(minute_start + 61)
        assert Job.select().where(Job.task == 'tests.every_minute').count() == 2
    finally:
        # The app is shared by the suite: later workers' schedulers must not queue it.
        app.beat.forget('tests.every_minute')
        del app.tasks['tests.every_minute']


def test_four_producers_and_four_workers_on_one_file_lose_and_repeat_nothing(app):
    script = ('import sys; from tests.sample_tasks import app, add; app.configure(data_dir=sys.argv[1]); '
              'p = int(sys.argv[2]); [add.delay(p, i) for i in range(750)]')
    workers = [spawn_worker(app.config.data_dir, '-c', '1') for _ in range(4)]
    producers = [subprocess.Popen([sys.executable, '-c', script, app.config.data_dir, str(p)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, PYTHONPATH=ROOT)) for p in range(4)]
    producer_out = [p.communicate(timeout=120)[0].decode() for p in producers]
    try:
        wait_for(lambda: Job.select().where(Job.state == 'SUCCESS').count() == 3000, timeout=120,
                 what='3000 successes')
    finally:
        worker_out = [finish(w)[1] for w in workers]
    assert [p.returncode for p in producers] == [0] * 4, producer_out
    assert all('database is locked' not in o for o in producer_out + worker_out)
    assert Job.select().count() == 3000 and Attempt.select().count() == 3000
    assert {j.result for j in Job.select(Job.result).where(Job.args.startswith('[3,'))} == \
        {str(3 + i) for i in range(750)}
