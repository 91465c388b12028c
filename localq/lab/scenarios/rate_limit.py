"""Rate limit across workers: rate_limit="10/m" holds across several worker processes, which
share one clock of start slots in the database."""
import os
import time

from ...tasks import app
from ..base import Chart, Observation, Scenario, finished

# Read from LOCALQ_LAB_SPEED when the worker imports this module: the lab
# passes its own setting to the worker processes it starts.
SPEED = app.config.lab_speed
RATE_LIMIT = '%g/m' % (10 * SPEED)          # the seeds' "10/m", sped up for class


@app.task(name='lab.call_limited', bind=True, queue='lab', rate_limit=RATE_LIMIT)
def call_limited(self, i):
    """A call to an API that allows 10 requests a minute; reports its start slot and when it started."""
    return {'i': i, 'pid': os.getpid(), 'slot': self.request.rate_slot, 'started': time.time()}


class RateLimit(Scenario):
    name = 'rate-limit'
    title = 'Rate limit across workers'
    lesson = 'Lesson 13.11, self-assessment scenario 2 (an API allowing 10 requests/minute)'
    teaches = ('A rate_limit on the task keeps the calls to an API that allows 10 requests a minute within that '
               'pace, however many workers share the work.')
    explain = ('Thirty calls to a task declared with rate_limit="10/m", served by two worker processes. The '
               'workers share one clock in the database: each call is given a start slot one interval (6 s) after '
               'the previous slot, and a call never starts before its slot. One that comes too early goes back to '
               'wait for its slot without counting as an attempt. So any minute holds at most 10 slots. A start can '
               'come a few milliseconds after its slot (the time a sleeping worker takes to wake up), never before, '
               'so two starts can sit a few milliseconds closer than the interval while the rate still holds. '
               'Set the speed to 10 for class: the limit becomes 100/m and the run takes 18 s, not 3 min.')
    code = '@app.task(rate_limit="10/m", bind=True, max_retries=5)\ndef call_api(self, data): ...'
    params = {'calls': 30, 'workers': 2}
    uses_speed = True
    PER_PERIOD = 10   # the lesson's "10/m"; at lab speed S the period is 60/S seconds

    def start(self, ctx):
        names = [ctx.start_worker(concurrency=2) for _ in range(ctx.params['workers'])]
        ctx.wait_online(names)
        for i in range(ctx.params['calls']):
            ctx.enqueue('lab.call_limited', i)

    @staticmethod
    def busiest_window(times, length):
        """The most of `times` inside any half-open window [t, t + length)."""
        times, best, first = sorted(times), 0, 0
        for last, t in enumerate(times):
            while t - times[first] >= length:
                first += 1
            best = max(best, last - first + 1)
        return best

    @staticmethod
    def order_line(order, workers):
        """order: the calls' i (their place in the queue, from 0), in the order they started. Said as the
        timeline numbers its lanes: #1 is call_limited(0)."""
        why = ('each call is given its slot when a worker picks it up, and the %d workers\' threads pick calls '
               'up at the same moments, so whichever asks the shared clock first gets the earlier slot. A rate '
               'limit keeps the pace, not the queue\'s order.' % workers)
        if order == sorted(order):
            return 'All %d calls started in the order they were queued this time, which is luck: %s' % (
                len(order), why)
        moved = sum(1 for place, i in enumerate(order) if place != i)
        return 'Calls started in the order %s: %d of %d out of their place in the queue, because %s' % (
            ', '.join('#%d' % (i + 1) for i in order), moved, len(order), why)

    def observe(self, ctx):
        period = 60.0 / ctx.speed
        interval = period / self.PER_PERIOD
        jobs = ctx.jobs()
        calls = sorted((j['result'] for j in jobs if j['state'] == 'SUCCESS'), key=lambda r: r['started'])
        starts = [c['started'] for c in calls]
        lags = [c['started'] - c['slot'] for c in calls]
        by_worker = {}
        for j in jobs:
            if j['state'] == 'SUCCESS':
                by_worker[j['worker']] = by_worker.get(j['worker'], 0) + 1
        data = {'per_period': self.PER_PERIOD, 'period': period, 'interval': interval, 'started': len(calls),
                'min_lag': min(lags) if lags else None, 'max_lag': max(lags) if lags else None,
                # A start lags its slot by less than one interval (a worker wakes at the slot), so any
                # window one interval shorter than the period holds at most the limit's count of starts.
                'busiest_window': self.busiest_window(starts, period - interval), 'by_worker': by_worker}
        data['start_order'] = [c['i'] for c in calls]
        lines = ['Limit %d calls per %g s: one start slot every %.2f s, shared by every worker. %d of %d calls done.'
                 % (self.PER_PERIOD, period, interval, len(calls), len(jobs))]
        if lags:
            lines.append('No call started before its slot: each started %d to %d ms after it (a worker waking up).'
                         % (round(1000 * data['min_lag']), round(1000 * data['max_lag'])))
            lines.append('The busiest %.2f s (the period less one slot) held %d starts; the limit allows %d. '
                         'Served by %s.' % (period - interval, data['busiest_window'], self.PER_PERIOD,
                                            ', '.join('%s (%d)' % kv for kv in sorted(by_worker.items()))))
            lines.append(self.order_line(data['start_order'], ctx.params['workers']))
            lines.append('In the chart the started line runs along the limit\'s band: each call starts '
                         'as soon as its slot comes, %d ms late at most, too little to see at this scale; the '
                         'second chart shows those delays.' % round(1000 * data['max_lag']))
        t0 = ctx.run.started_at
        series = [Chart('Calls started, against the start slots the limit allows', 'calls', {
            'limit (slots)': [(round(c['slot'] - t0, 3), i + 1) for i, c in enumerate(calls)],
            'started': [(round(s - t0, 3), i + 1) for i, s in enumerate(starts)]}, styles={'limit (slots)': 'band'}),
            Chart('How late each call started after its slot', 'ms', {
                'delay': [(round(c['started'] - t0, 3), round(1000 * (c['started'] - c['slot']), 1)) for c in calls]})]
        return Observation(len(jobs) > 0 and finished(jobs), data, lines, series=series)

    def clear(self, lab):
        lab.app.query.sql("DELETE FROM rate_slot WHERE key = 'task:lab.call_limited'")
