"""Each lab scenario, run on real worker processes: it shows what the lesson says it shows."""
import os

import pytest

from localq.errors import LocalqError
from localq.lab.models import LabAlert, LabOrder, LabRun
from localq.models import Job, WorkerRecord
from tests.conftest import wait_for


def shown(obs, *figures):
    """Each figure is in a sentence the page shows (obs.lines), not only in the data behind it."""
    text = '\n'.join(obs.lines)
    missing = [f for f in figures if str(f) not in text]
    assert not missing, 'not in the page\'s sentences: %s\n%s' % (missing, text)


def test_request_or_queue_shows_the_queue_adds_latency_to_a_50_ms_operation(lab):
    obs = lab.run('request-or-queue', timeout=60)
    d = obs.data
    assert d['inline_ms'] >= 50   # the operation sleeps 50 ms; how much longer depends on the machine
    # The answer through the queue comes later than the answer in the request, and the caller
    # had only a task_id (almost at once) until then.
    assert d['ready_ms'] > d['inline_ms'] and d['result_ms'] > d['inline_ms']
    assert d['task_id_ms'] < d['inline_ms']
    assert d['overhead_ms'] > 0 and any('too fast for a queue' in line for line in obs.lines)
    shown(obs, *('%.1f ms' % d[k] for k in ('inline_ms', 'task_id_ms', 'ready_ms', 'result_ms', 'overhead_ms')))
    shown(obs, '(%d%%)' % d['overhead_pct'])


def test_progress_reports_the_four_pipeline_steps_in_order(lab):
    obs = lab.run('progress', timeout=60, step_seconds=0.05)
    assert obs.data['steps'] == [['extracting', 20], ['chunking', 40], ['embedding', 60], ['storing', 80]]
    assert obs.data['state'] == 'SUCCESS' and obs.data['progress'] == 100
    shown(obs, 'State SUCCESS', '100%', 'extracting 20%, chunking 40%, embedding 60%, storing 80%')


def test_retry_waits_grow_within_their_jittered_backoff_windows(lab):
    obs = lab.run('retry', timeout=60, jobs=2, failures=3)
    assert set(obs.data['states'].values()) == {'SUCCESS'}
    for delays in obs.data['delays'].values():
        assert len(delays) == 3
        # Retry k is due no sooner than 2**k / 2 s after the failure (the jittered window's floor;
        # a retry never starts early). How late it starts depends on the machine, so no ceiling.
        assert all(delay >= 2 ** k / 2 - 0.01 for k, delay in enumerate(delays)), delays
    # The ordering the lesson shows: the third wait (window 2-4 s) is longer than the first (0.5-1 s).
    assert all(delays[2] > delays[0] for delays in obs.data['delays'].values()), obs.data['delays']
    attempts = [Job.get_by_id(job_id).attempts for job_id in obs.data['delays']]
    assert attempts == [4, 4]
    # Said once for all (not "attempt 4, 4"), then each job's own waits, as the table shows them.
    shown(obs, 'All 2 jobs succeeded on attempt 4, after 3 refused connections each.')
    for n, delays in enumerate(obs.data['delays'].values(), 1):
        shown(obs, '#%d waited %s' % (n, ', '.join('%.2f s' % d for d in delays)))


def test_error_strategies_follow_the_lessons_table(lab):
    obs = lab.run('errors', timeout=60)
    d = obs.data
    # Retried and then succeeded: timeouts and 5xx with backoff, 429 after its Retry-After.
    for case in ('timeout', 'server_error'):
        assert d[case]['state'] == 'SUCCESS' and d[case]['attempts'] == 3
    assert d['rate_limited']['state'] == 'SUCCESS' and d['rate_limited']['attempts'] == 2
    assert d['rate_limited']['waits'][0] >= 5.0 / lab.app.config.lab_speed
    # Failed at once, never retried; only the auth error alerts a person.
    for case in ('invalid_input', 'auth_error', 'file_not_found'):
        assert (d[case]['state'], d[case]['attempts']) == ('FAILURE', 1), case
    assert [case for case in d if d[case]['alerted']] == ['auth_error']
    assert LabAlert.select().count() == 1
    shown(obs, 'Network timeout after 3 attempts', 'Server error (5xx) after 3 attempts',
          'Rate limited (429) after 2 attempts (waited %.1f s)' % d['rate_limited']['waits'][0],
          'Invalid input: FAILURE', 'Auth error (401/403): FAILURE, alert raised', 'File not found: FAILURE')


def test_rate_limit_paces_thirty_calls_across_two_worker_processes(lab):
    obs = lab.run('rate-limit', timeout=60)   # lab_speed 30: "10/m" becomes 10 calls per 2 s
    d = obs.data
    assert d['started'] == 30 and (d['per_period'], d['period']) == (10, 2.0)
    # What the limiter promises: no call starts before its slot, and (slots being one interval
    # apart, and a start lagging its slot by less than an interval) no window one interval
    # shorter than the period holds more starts than the limit.
    assert d['min_lag'] >= 0
    assert d['max_lag'] < d['interval']
    assert d['busiest_window'] <= 10
    assert len(d['by_worker']) == 2   # both processes served; the limit held across them
    shown(obs, 'Limit 10 calls per 2 s: one start slot every 0.20 s', '30 of 30 calls done',
          'each started %d to %d ms after it' % (round(1000 * d['min_lag']), round(1000 * d['max_lag'])),
          'held %d starts' % d['busiest_window'], *('%s (%d)' % kv for kv in d['by_worker'].items()))
    # The order the calls started in is given, with the reason it is not the queue's (item 19).
    assert sorted(d['start_order']) == list(range(30))
    shown(obs, 'Calls started in the order %s' % ', '.join('#%d' % (i + 1) for i in d['start_order'])
          if d['start_order'] != sorted(d['start_order']) else 'All 30 calls started in the order they were queued')
    shown(obs, 'A rate limit keeps the pace, not the queue\'s order.')
    # The chart draws both lines (the limit as a band under the starts), from the same calls.
    chart = obs.series[0]
    assert list(chart.series) == ['limit (slots)', 'started'] and chart.styles == {'limit (slots)': 'band'}
    assert [y for _, y in chart.series['started']] == list(range(1, 31))
    assert all(s >= slot for (s, _), (slot, _) in zip(chart.series['started'], chart.series['limit (slots)']))


def test_time_limit_stops_the_runaway_job_and_lets_the_other_finish(lab):
    obs = lab.run('time-limit', timeout=60)
    d = obs.data
    assert d['runaway']['state'] == 'FAILURE' and d['runaway']['error_type'].endswith('TimeLimitExceeded')
    assert d['runaway']['seconds'] >= 2.0   # never stopped before its limit; how soon after depends on the machine
    assert d['bounded']['state'] == 'SUCCESS'
    shown(obs, 'Limit: 2 s.', 'stopped after %.2f s' % d['runaway']['seconds'],
          'ended SUCCESS after %.2f s' % d['bounded']['seconds'])


def test_crash_a_killed_workers_acks_late_job_finishes_on_the_other_worker(lab):
    obs = lab.run('crash', timeout=90, seconds=3.0)   # autopilot presses "Kill worker 1"
    d = obs.data
    assert d['killed'] == 'lab-crash-1'
    assert d['acks_late']['state'] == 'SUCCESS'
    assert d['acks_late']['workers'] == ['lab-crash-1', 'lab-crash-2']
    assert d['acks_late']['outcomes'] == ['LOST', 'SUCCESS']
    assert d['plain']['state'] == 'FAILURE' and 'worker lost' in d['plain']['error']
    # Nobody noticed the death until the lease ran out, 3 s after the last heartbeat (beats come every
    # 0.5 s, so no sooner than 2.5 s after the kill; how much later depends on the machine's load).
    assert d['noticed_s'] >= 2.4
    shown(obs, 'lab-crash-1 (pid %d) was killed with SIGKILL' % lab.pool.pid('lab-crash-1'),
          'Nothing noticed for %.1f s' % d['noticed_s'], 'ended SUCCESS after running on lab-crash-1 then lab-crash-2',
          'the plain one ended FAILURE')
    # The kill was a real one; the other worker was never killed (it stops normally once done).
    assert lab.pool.procs['lab-crash-1'].returncode == -9
    assert lab.pool.procs['lab-crash-2'].returncode in (None, 0)
    # After a restart (a new Lab, whose pool never knew the process), the page still says killed, not "silent".
    from localq.lab import Lab
    from localq.lab.web import draw
    restarted = Lab(lab.app)
    statuses = {w['name']: w['status'] for w in draw(restarted, restarted.context('crash'))['workers']}
    assert statuses['lab-crash-1'] == 'killed (SIGKILL)', statuses


def test_idempotency_naive_order_duplicates_and_get_or_create_does_not(lab):
    obs = lab.run('idempotency', timeout=60)
    d = obs.data
    assert d['attempts'] == {'naive': 3, 'idempotent': 3}
    assert d['naive_rows'] == 3 and d['idempotent_rows'] == 1
    shown(obs, 'Attempts: naive 3, idempotent 3. Order rows: naive 3, idempotent 1.')
    assert LabOrder.select().where(LabOrder.variant == 'naive').count() == 3
    # Done: its worker process stops by itself (an idle worker would keep polling the database).
    wait_for(lambda: lab.pool.alive('lab-idempotency') == [], timeout=15, what='the lab worker to stop')


def test_priority_high_jobs_finish_before_the_low_backlog(lab):
    obs = lab.run('priority', timeout=90, low=100, seconds=0.05)
    d = obs.data
    assert d['high_done'] == 5 and d['low_done'] == 100
    assert d['low_waiting_when_high_done'] > 50
    assert d['high_wait_ms'] < d['low_wait_ms']
    shown(obs, 'high: 5 of 5 done; low: 100 of 100 done.', '%.0f ms after queueing' % d['high_wait_ms'],
          '%d low jobs were still' % d['low_waiting_when_high_done'], 'A low job waited %.0f ms' % d['low_wait_ms'])


def test_batching_batches_beat_one_job_per_item_and_one_job_for_all(lab):
    # A fifth of the lesson's images, each waiting 1 ms on storage: the same contest in 7 s.
    obs = lab.run('batching', timeout=180, items=2000, fetch_ms=1.0)
    d = obs.data
    assert (d['each']['jobs'], d['batches']['jobs'], d['single']['jobs']) == (2000, 20, 1)
    # What the lesson teaches: batches beat both one job per image and one job for all.
    assert d['batches']['total_s'] < min(d['each']['total_s'], d['single']['total_s']), d
    assert d['batches']['max_parallel'] == 2 and d['single']['max_parallel'] == 1
    b, e, s = d['batches'], d['each'], d['single']
    shown(obs, 'Fastest: batches, %.2f s, against %.2f s for one job per image and %.2f s for one job for all.'
          % (b['total_s'], e['total_s'], s['total_s']))
    # Why the cases differ: queueing 2,000 jobs, the per-job cost, one busy worker, both busy.
    shown(obs, 'writing its 2,000 jobs to the queue alone took %.2f s of its %.2f s' % (e['enqueue_s'], e['total_s']),
          'Each job ran %.2f ms' % e['job_ms'], 'an image takes %.2f ms' % (s['job_ms'] / 2000),
          'at most 1 busy while the other idled', 'Batches: 20 jobs of 100, queued in %.2f s, ran on 2 workers'
          % b['enqueue_s'], '(%.2f busy on average)' % b['avg_parallel'])


def test_scaling_more_workers_drain_the_backlog_faster(lab):
    # Jobs of 0.2 s, so a worker's two threads bound its rate (10/s), not the database.
    obs = lab.run('scaling', timeout=120, jobs=240, seconds=0.2, per_worker=60)   # autopilot: autoscaler on
    d = obs.data
    assert d['done'] == 240 and d['max_workers'] >= 2
    rates = d['rate_by_workers']   # jobs finished per second, by how many workers were running
    assert len(rates) >= 2 and rates[max(rates)] > rates[min(rates)], rates
    # Two threads per worker, 0.2 s jobs: n workers finish at most 10n a second, and the page says so.
    assert all(0 < rate <= 10 * n * 1.02 for n, rate in rates.items()), rates
    shown(obs, '240 of 240 done', 'at most 10×n a second',
          *('%d worker%s: %.1f/s (of %d)' % (n, '' if n == 1 else 's', r, 10 * n) for n, r in rates.items()))
    shown(obs, 'this machine\'s %d CPU core' % os.cpu_count() if list(rates.values()) == sorted(rates.values())
          else 'this machine has %d CPU core' % os.cpu_count())
    # The worker count has its own axis (no "workers x10"), and the same colour name as the queue chart's.
    chart = obs.series[0]
    assert list(chart.series) == ['finished/s', 'workers'] and chart.right == ('workers',)
    assert max(n for _, n in chart.series['workers']) == d['max_workers']
    events = LabRun.get(LabRun.scenario == 'scaling').notes
    assert 'autoscaler' in events and 'Started lab-scaling-2' in events


def test_payloads_bytes_make_huge_messages_paths_do_not(lab):
    obs = lab.run('payloads', timeout=60, mb=2)
    d = obs.data
    assert d['bytes']['sha256'] == d['path']['sha256']          # the same work was done
    assert d['bytes']['message_bytes'] > 2 * 1024 * 1024         # the whole file, in every message
    assert d['path']['message_bytes'] < 1000
    assert d['bytes']['enqueue_ms'] > d['path']['enqueue_ms']
    shown(obs, 'Same checksum both ways: yes', '{:,} bytes against {:,} for a path ({:.0f}x)'.format(
        d['bytes']['message_bytes'], d['path']['message_bytes'], d['size_ratio']))


def test_recycling_bounds_a_leaking_workers_memory(lab):
    obs = lab.run('recycling', timeout=120, jobs=12, mb=4, max_tasks=4)
    d = obs.data
    plain, recycled = d['plain'], d['recycled']
    assert len(plain['rss_mb']) == len(recycled['rss_mb']) == 12   # every job SUCCESS, none lost
    assert plain['processes'] == 1 and recycled['processes'] == 3
    assert plain['rss_mb'][-1] - plain['rss_mb'][0] >= 40          # grew by ~4 MiB per job
    assert recycled['max_mb'] < plain['max_mb'] - 25
    shown(obs, 'Without a limit: 12 jobs, at most %.1f MiB, 1 process.' % plain['max_mb'],
          'With --max-tasks-per-child 4: 12 jobs, at most %.1f MiB, 3 processes.' % recycled['max_mb'])


def test_periodic_task_runs_once_per_tick_with_two_schedulers(lab):
    obs = lab.run('periodic', timeout=90, ticks=1)
    d = obs.data
    assert d['runs'] >= 1
    assert set(d['jobs_per_minute'].values()) == {1}   # two workers, one job per tick
    assert len(d['next_runs']) == 5 and all(t.endswith(':00Z') for t in d['next_runs'])
    shown(obs, '%d run%s so far' % (d['runs'], '' if d['runs'] == 1 else 's'),
          'Next times the crontab matches (UTC): %s.' % ', '.join(t[11:16] for t in d['next_runs']))


def test_reset_returns_the_lab_to_a_clean_state_without_a_restart(lab):
    lab.run('idempotency', timeout=60)
    lab.start('crash', seconds=30.0)
    lab.run('errors', timeout=60)
    assert Job.select().where(Job.queue.startswith('lab.')).count() > 0
    lab.reset()
    assert Job.select().where(Job.queue.startswith('lab.')).count() == 0
    assert LabOrder.select().count() == LabAlert.select().count() == LabRun.select().count() == 0
    assert lab.pool.alive() == []
    assert WorkerRecord.select().where(WorkerRecord.id.startswith('lab-')).count() == 0
    assert lab.observe('idempotency') is None
    # ... and it runs again at once.
    assert lab.run('idempotency', timeout=60).data['idempotent_rows'] == 1


def test_unknown_scenario_and_parameter_are_clear_errors(lab):
    with pytest.raises(LocalqError, match="no lab scenario 'nope'; known: request-or-queue"):
        lab.start('nope')
    with pytest.raises(LocalqError, match='has no parameter colour'):
        lab.start('retry', colour=1)
    with pytest.raises(LocalqError, match="jobs='many': must be a whole number"):
        lab.start('retry', jobs='many')
    with pytest.raises(LocalqError, match='items=1000000: must be a whole number from 0 to 100000'):
        lab.start('batching', items=1000000)
    with pytest.raises(LocalqError, match="speed='0': must be above 0 and at most 100"):
        lab.start('rate-limit', speed='0')
    assert LabRun.select().count() == 0   # nothing started


def test_lab_workers_never_run_the_apps_jobs(lab):
    # An app job queued while lab workers are online and idle-polling (the runaway keeps them up 2 s)...
    ctx = lab.start('time-limit')
    wait_for(lambda: ctx.notes is not None and len(lab.pool.alive('lab-time-limit')) == 1
             and WorkerRecord.select().where(WorkerRecord.id == 'lab-time-limit-1').exists(), timeout=30,
             what='the lab worker to be online')
    result = lab.app.tasks['localq.add'].delay(1, 2)   # the default queue: no lab worker serves it
    wait_for(lambda: lab.observe('time-limit').done, timeout=30, what='the time-limit run')
    # ... is still waiting for the app's own workers when the lab's are done.
    assert Job.get_by_id(result.id).state == 'PENDING' and Job.get_by_id(result.id).attempts == 0
    assert os.path.isdir(os.path.join(lab.app.config.data_dir, 'lab'))
