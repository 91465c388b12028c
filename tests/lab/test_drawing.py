"""The lab page's pictures and explanations from given rows: no workers, so cases a run cannot
be made to produce on demand (a worker count that did not help, a lost attempt) are checked too."""
import pytest

from localq.lab.scenarios.rate_limit import RateLimit
from localq.lab.scenarios.scaling import ScalingWorkers
from localq.lab.web import activity, timeline

T0 = 1000.0


def job(n, state='SUCCESS', queued=0.0, started=None, finished=None, worker='w-1', **kwargs):
    return {'id': 'job-%d' % n, 'task': 'lab.flaky_api', 'state': state, 'args': [], 'kwargs': kwargs,
            'queued_at': T0 + queued, 'started_at': None if started is None else T0 + started,
            'finished_at': None if finished is None else T0 + finished, 'worker': worker}


def attempt(start, finish, outcome, worker='w-1'):
    return {'started_at': T0 + start, 'finished_at': T0 + finish, 'outcome': outcome, 'worker': worker,
            'error_message': None}


def test_lanes_are_told_apart_and_keep_every_wait_once_the_jobs_are_done():
    jobs = [job(n, started=4.0, finished=5.0, failures=2) for n in (1, 2)]
    tries = [attempt(0.1, 0.2, 'RETRY'), attempt(1.0, 1.1, 'RETRY'), attempt(4.0, 5.0, 'SUCCESS')]
    t = timeline(jobs, {j['id']: tries for j in jobs}, T0, T0 + 5.0)
    assert [lane['label'] for lane in t['lanes']] == ['#1 flaky_api(failures=2)', '#2 flaky_api(failures=2)']
    scale = (t['width'] - t['left'] - 10) / 5.0
    # Waiting for the first run, then for each retry: three dashed stretches, as long as the waits.
    widths = [round((w['x2'] - w['x1']) / scale, 1) for w in t['lanes'][0]['waits']]
    assert widths == [0.1, 0.8, 2.9]


def test_the_axis_ends_at_the_given_end_and_later_bars_are_cut_there():
    t = timeline([job(1, state='STARTED', started=1.0)], {}, T0, T0 + 8.0)
    assert t['end'] == 8.0 and t['end_x'] == t['width'] - 10
    assert t['ticks'][-1]['label'] == '8 s'          # units on the axis
    bar = t['lanes'][0]['bars'][0]
    assert bar['x'] + bar['w'] == t['end_x']


def test_a_lost_attempt_is_solid_until_its_worker_died_then_hatched_until_it_was_noticed():
    jobs = [job(1, state='FAILURE', started=1.0, finished=7.5)]
    tries = {'job-1': [attempt(1.0, 7.5, 'LOST')]}
    t = timeline(jobs, tries, T0, T0 + 8.0, marks=[[T0 + 4.0, 'SIGKILL w-1', 'w-1']], deaths={'w-1': T0 + 4.0})
    solid, hatched = t['lanes'][0]['bars']
    mark = t['marks'][0]['x']
    assert (solid['outcome'], hatched['outcome']) == ('LOST', 'UNHEARD') and t['unheard']
    scale = (t['width'] - t['left'] - 10) / 8.0
    assert solid['x'] + solid['w'] == pytest.approx(mark) and hatched['x'] == mark
    assert hatched['x'] + hatched['w'] == pytest.approx(t['left'] + 7.5 * scale, abs=0.1)   # noticed at 7.5 s
    # Without a known death the attempt is drawn whole, as before.
    assert [b['outcome'] for b in timeline(jobs, tries, T0, T0 + 8.0)['lanes'][0]['bars']] == ['LOST']


def test_scaling_says_why_more_workers_did_not_help():
    lines = ScalingWorkers.rate_lines({1: 19.5, 2: 38.0, 3: 57.5, 4: 48.0}, 0.1, 2, 2)
    assert '4 workers: 48.0/s (of 80)' in lines[0] and 'at most 20×n a second' in lines[0]
    assert lines[1].startswith('With 4 workers the rate was no higher than with 3 (48.0/s against 57.5/s): '
                               'this machine has 2 CPU cores')
    rising = ScalingWorkers.rate_lines({1: 19.5, 2: 38.0}, 0.1, 2, 2)
    assert rising[1].startswith('Each added worker raised the rate, even past this machine\'s 2 CPU cores')


def test_scaling_rates_count_the_workers_that_were_really_online():
    # 2 workers online for 2 s finish four 1 s jobs (2/s); then 4 workers finish four in 1 s (4/s).
    jobs = [job(n, started=s, finished=s + 1.0) for n, s in enumerate([0, 0, 1, 1, 2, 2, 2, 2])]
    jobs.append(job(99, state='PENDING'))   # still waiting: every stretch counts
    rates = ScalingWorkers.rates([(0.0, 2), (2.0, 4), (3.0, None)], jobs, T0)
    assert rates == {2: 2.0, 4: 4.0}


def test_rate_limit_gives_the_start_order_and_why_it_differs_from_the_queues():
    line = RateLimit.order_line([2, 3, 1, 0, 4, 6, 5], 2)
    assert line.startswith('Calls started in the order #3, #4, #2, #1, #5, #7, #6: 6 of 7 out of their place in the '
                           'queue, because each call is given its slot when a worker picks it up')
    assert RateLimit.order_line([0, 1, 2], 2).startswith('All 3 calls started in the order they were queued this time')


def test_scaling_has_no_rate_before_its_first_job_is_queued():
    # a page refresh between the workers coming online and the jobs being queued (it raised IndexError)
    from localq.lab.scenarios.scaling import ScalingWorkers
    assert ScalingWorkers.rates([(0.0, 1), (2.0, 2), (5.0, None)], [], 0.0) == {}


def test_waiting_counts_retry_delays_and_rate_limit_slots_and_never_rewrites_its_past():
    # Job 1 failed at 1.0-1.5 s and waits for its retry; job 2 was claimed at 0.5 s by a rate-limited
    # worker that found its slot ahead and put it back (its row keeps that started_at); job 3 runs.
    rows = [job(1, state='RETRY', started=1.0), job(2, state='PENDING', started=0.5),
            job(3, state='STARTED', started=2.5)]
    tries = {'job-1': [attempt(1.0, 1.5, 'RETRY')]}
    before = activity(rows, tries, T0, T0 + 3.2)['waiting']
    assert before == [(0, 3), (1, 2), (2, 3), (3, 2), (3.2, 2)]   # the last point: now, as the legend says
    # Later job 2 gets its slot and runs, from 3.5 s: what was drawn up to 3.2 s stays as it was.
    rows[1] = job(2, state='STARTED', started=3.5)
    after = activity(rows, tries, T0, T0 + 4.0)['waiting']
    assert after[:4] == before[:4] and after[-1] == (4, 1)
