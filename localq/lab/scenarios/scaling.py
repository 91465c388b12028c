"""Scaling workers: a backlog drains faster as worker processes are added, by hand or by an
autoscaler that follows the number of waiting jobs."""
import math
import statistics
import time

from ...states import READY_TO_CLAIM, SQL_CLAIMABLE
from ..base import LabError, Observation, Scenario, finished

# Its jobs are lab.work, the task the priority scenario declares (priority.py).


class ScalingWorkers(Scenario):
    name = 'scaling'
    title = 'Scaling workers'
    lesson = 'Lesson 13.11, self-assessment scenario 3 (500 pending tasks)'
    explain = ('A backlog of 500 jobs and one worker process. Add workers with the button (each is a real '
               '`localq worker` process on the same database) and watch the queue drain faster; remove them and '
               'it slows. With the autoscaler on, the lab itself adds a worker per 100 waiting jobs (up to '
               'max_workers) and removes them as the backlog shrinks.')
    code = ('# docker-compose up -d --scale worker=5, here:\nlocalq worker -c 2   # run it again for each worker')
    params = {'jobs': 500, 'seconds': 0.1, 'max_workers': 4, 'per_worker': 100}
    actions = (('add', 'Add a worker'), ('remove', 'Remove a worker'), ('autoscale-on', 'Autoscale on'),
               ('autoscale-off', 'Autoscale off'))

    def start(self, ctx):
        p = ctx.params
        self.one_worker(ctx)
        for i in range(p['jobs']):
            ctx.enqueue('lab.work', p['seconds'], i)
        counts = []
        while True:
            waiting = self.waiting(ctx)
            if ctx.notes.get('autoscale'):
                self.autoscale(ctx, waiting)
            counts.append([round(time.time() - ctx.run.started_at, 1), self.online(ctx)])
            ctx.note(worker_counts=counts)
            if waiting == 0 and finished(ctx.jobs()):
                return
            if ctx.cancelled.wait(1.0):
                return

    def online(self, ctx):
        """Workers that have registered and not stopped (a process still importing does not count)."""
        return ctx.app.huey.storage.sql('SELECT COUNT(*) FROM worker WHERE id LIKE ? AND stopped_at IS NULL',
                                        ('lab-%s-%%' % self.name,)).fetchone()[0]

    def waiting(self, ctx):
        sql, params = ctx.lab.queue_filter(self.name)
        return ctx.app.huey.storage.sql('SELECT COUNT(*) FROM job WHERE %s AND %s' % (sql, SQL_CLAIMABLE),
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
            name = ctx.start_worker(concurrency=2)
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
        done_at = sorted(j['finished_at'] - t0 for j in jobs if j['finished_at'])
        end = int(max([time.time() - t0] + done_at[-1:])) + 1
        per_second = [0] * end
        for t in done_at:
            per_second[int(t)] += 1
        starts = sorted((j['started_at'] or float('inf')) - t0 for j in jobs)
        queued = sorted(j['queued_at'] - t0 for j in jobs)
        waiting = [(s, sum(1 for q in queued if q <= s) - sum(1 for x in starts if x <= s)) for s in range(end)]
        counts = notes.get('worker_counts', [])
        rate_by_workers = {}
        for second, n in counts:
            if 0 <= int(second) < end and any(w > 0 for _, w in waiting[int(second):int(second) + 1]):
                rate_by_workers.setdefault(n, []).append(per_second[int(second)])
        data = {'done': len(done_at), 'jobs': len(jobs), 'max_workers': max([n for _, n in counts] or [0]),
                'rate_by_workers': {n: round(statistics.mean(v), 1) for n, v in sorted(rate_by_workers.items())}}
        lines = ['%d of %d done; %d waiting; %d worker process(es) now; autoscaler %s.' % (
            len(done_at), len(jobs), sum(j['state'] in READY_TO_CLAIM for j in jobs), len(ctx.workers()),
            'on' if notes.get('autoscale') else 'off')]
        if data['rate_by_workers']:
            lines.append('Jobs finished per second, by number of workers: %s.' % ', '.join(
                '%d worker%s: %.1f/s' % (n, '' if n == 1 else 's', r) for n, r in data['rate_by_workers'].items()))
        series = [('Waiting jobs', 'jobs', {'waiting': waiting}),
                  ('Finished per second and workers', 'per s', {
                      'finished/s': [(s, n) for s, n in enumerate(per_second)],
                      'workers x10': [(s, 10 * n) for s, n in counts]})]
        return Observation(bool(jobs) and finished(jobs), data, lines,
                           tables=[('Events', ['at', 'what'], [['+%.1f s' % t, e] for t, e in notes.get('events', [])])],
                           series=series)
