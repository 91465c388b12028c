"""Scaling workers: a backlog drains faster as worker processes are added, by hand or by an
autoscaler that follows the number of waiting jobs."""
import bisect
import math
import os
import time

from ...states import READY_TO_CLAIM, SQL_CLAIMABLE
from ..base import Chart, LabError, Observation, Scenario, finished

# Its jobs are lab.work, the task the priority scenario declares (priority.py).


class ScalingWorkers(Scenario):
    name = 'scaling'
    title = 'Scaling workers'
    lesson = 'Lesson 13.11, self-assessment scenario 3 (500 pending tasks)'
    teaches = ('When the queue backs up, add worker processes (no code changes) and, for the long run, scale '
               "them automatically on the queue's length.")
    explain = ('A backlog of 500 jobs and one worker process. Add workers with the button (each is a real '
               '`localq worker` process on the same database) and watch the queue drain faster; remove them and '
               'it slows. With the autoscaler on, the lab itself adds a worker per 100 waiting jobs (up to '
               'max_workers) and removes them as the backlog shrinks.')
    code = ('# docker-compose up -d --scale worker=5, here:\nlocalq worker -c 2   # run it again for each worker')
    params = {'jobs': 500, 'seconds': 0.1, 'max_workers': 4, 'per_worker': 100}
    CONCURRENCY = 2   # threads per worker process
    actions = (('add', 'Add a worker'), ('remove', 'Remove a worker'), ('autoscale-on', 'Autoscale on'),
               ('autoscale-off', 'Autoscale off'))

    def start(self, ctx):
        p = ctx.params
        self.one_worker(ctx, concurrency=self.CONCURRENCY)
        for i in range(p['jobs']):
            ctx.enqueue('lab.work', p['seconds'], i)
        while True:
            waiting = self.waiting(ctx)
            if ctx.notes.get('autoscale'):
                self.autoscale(ctx, waiting)
            if waiting == 0 and finished(ctx.jobs()):
                return
            if ctx.cancelled.wait(1.0):
                return

    def online(self, ctx):
        """[(seconds since the run started, workers online from then on)]: from the worker rows, which say
        when each process registered (its consumer can claim) and stopped. Exact, where sampling once a
        second would miss a worker that came and went between two samples."""
        rows = ctx.app.query.sql('SELECT started_at, stopped_at FROM worker WHERE id LIKE ?',
                                        ('lab-%s-%%' % self.name,)).fetchall()
        t0 = ctx.run.started_at
        changes = sorted([(a - t0, 1) for a, _ in rows] + [(b - t0, -1) for _, b in rows if b])
        steps, n = [], 0
        for t, d in changes:
            n += d
            steps.append((round(t, 2), n))
        return steps

    def waiting(self, ctx):
        sql, params = ctx.lab.queue_filter(self.name)
        return ctx.app.query.sql('SELECT COUNT(*) FROM job WHERE %s AND %s' % (sql, SQL_CLAIMABLE),
                                        params).fetchone()[0]

    def autoscale(self, ctx, waiting):
        p = ctx.params
        want = max(1, min(p['max_workers'], math.ceil(waiting / max(1, p['per_worker']))))
        have = ctx.workers()
        if len(have) < want:
            self.act(ctx, 'add', why='autoscaler, %d waiting' % waiting)
        elif len(have) > want:
            self.act(ctx, 'remove', why='autoscaler, %d waiting' % waiting)

    def act(self, ctx, action, why='button'):
        if action in ('autoscale-on', 'autoscale-off'):
            ctx.note(autoscale=action == 'autoscale-on')
            return 'Autoscaler %s.' % action.split('-')[1]
        if action == 'add':
            name = ctx.start_worker(concurrency=self.CONCURRENCY)
            message = 'Started %s.' % name
        elif action == 'remove':
            have = ctx.workers()
            if not have:
                raise LabError('no worker to remove')
            ctx.lab.pool.stop(have[-1])
            message = 'Stopped %s (it finished its running jobs first).' % have[-1]
        else:
            return super().act(ctx, action)
        events = ctx.notes.get('events', [])
        events.append([round(time.time() - ctx.run.started_at, 1), '%s: %s' % (why, message)])
        ctx.note(events=events)
        return message

    def autopilot(self, ctx):
        if not ctx.notes.get('autoscale'):
            return self.act(ctx, 'autoscale-on')

    def observe(self, ctx):
        jobs, notes = ctx.jobs(), ctx.notes
        t0 = ctx.run.started_at
        done = bool(jobs) and finished(jobs)
        done_at = sorted(j['finished_at'] - t0 for j in jobs if j['finished_at'])
        # Once done, the run ends with its last job (not with the clock of whoever looks later); workers
        # stopped after that are not part of its picture.
        last = done_at[-1] if done and done_at else time.time() - t0
        end = int(last) + 1
        per_second = [0] * end
        for t in done_at:
            per_second[min(int(t), end - 1)] += 1
        steps = [(t, n) for t, n in self.online(ctx) if t <= last]
        rates = self.rates(steps + [(last, None)], jobs, t0)
        data = {'done': len(done_at), 'jobs': len(jobs), 'max_workers': max([n for _, n in steps] or [0]),
                'rate_by_workers': rates, 'per_worker_max': round(self.CONCURRENCY / ctx.params['seconds'], 1),
                'cores': os.cpu_count()}
        lines = ['%d of %d done; %d waiting; %d worker process(es) now; autoscaler %s.' % (
            len(done_at), len(jobs), sum(j['state'] in READY_TO_CLAIM for j in jobs), len(ctx.workers()),
            'on' if notes.get('autoscale') else 'off')]
        if rates:
            lines += self.rate_lines(rates, ctx.params['seconds'], self.CONCURRENCY, data['cores'])
        series = [Chart('Finished per second, and worker processes', 'jobs/s', {
            'finished/s': list(enumerate(per_second)), 'workers': self.staircase(steps, last)}, right=('workers',),
            right_unit='workers')]
        return Observation(done, data, lines,
                           tables=[('Events', ['at', 'what'], [['+%.1f s' % t, e] for t, e in notes.get('events', [])])],
                           series=series)

    @staticmethod
    def staircase(steps, end):
        points, n = [(0, 0)], 0
        for t, m in steps:
            points += [(t, n), (t, m)]
            n = m
        return points + [(end, n)]

    @staticmethod
    def rates(steps, jobs, t0):
        """{workers: jobs done per second} over the stretches with that many workers online while jobs were
        still waiting. A job counts for the share of its run inside a stretch: whole jobs finishing at its
        edges would make a short stretch look faster than its workers can go."""
        if not jobs:   # workers online before the first job is queued: no rate yet
            return {}
        runs = [(j['started_at'] - t0, j['finished_at'] - t0) for j in jobs if j['started_at'] and j['finished_at']]
        first_starts = sorted((j['started_at'] or float('inf')) - t0 for j in jobs)
        done, spans = {}, {}
        queued = min([j['queued_at'] - t0 for j in jobs] or [0.0])
        for (a, n), (b, _) in zip(steps, steps[1:]):
            a = max(a, queued)   # a worker online before the jobs were queued had nothing to do yet
            if not n or b <= a:
                continue
            if bisect.bisect_right(first_starts, b) >= len(jobs):   # no job waiting by its end: the tail
                b = first_starts[-1]
                if b <= a:
                    continue
            done[n] = done.get(n, 0.0) + sum(max(0.0, min(f, b) - max(s, a)) / (f - s) for s, f in runs if f > s)
            spans[n] = spans.get(n, 0.0) + b - a
        return {n: round(done[n] / spans[n], 1) for n in sorted(done) if spans[n] >= 0.5}

    @staticmethod
    def rate_lines(rates, seconds, concurrency, cores):
        ceiling = concurrency / seconds
        lines = ['Jobs finished per second, by number of workers: %s. Each worker process runs %d jobs of %g s '
                 'at a time, so n workers can finish at most %g×n a second.' % (
                     ', '.join('%d worker%s: %.1f/s (of %g)' % (n, '' if n == 1 else 's', r, ceiling * n)
                               for n, r in rates.items()), concurrency, seconds, ceiling)]
        ns = list(rates)
        fell = [(a, b) for a, b in zip(ns, ns[1:]) if rates[b] <= rates[a]]
        cores = '%d CPU core%s' % (cores, '' if cores == 1 else 's')
        if fell:
            a, b = fell[0]
            lines.append('With %d workers the rate was no higher than with %d (%.1f/s against %.1f/s): this machine '
                         'has %s, shared by every worker process and by the database they all claim from and '
                         'record to; past that point the processes wait for the CPU and the database, not for jobs. '
                         'On more cores, or more machines, the rate keeps climbing.'
                         % (b, a, rates[b], rates[a], cores))
        elif len(ns) > 1:
            lines.append('Each added worker raised the rate, even past this machine\'s %s: these jobs wait (as '
                         'on a network call) rather than compute, so one core serves many. Jobs that compute would '
                         'stop the climb at about one busy process per core; then add machines, not processes.'
                         % cores)
        return lines
