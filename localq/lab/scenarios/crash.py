"""Crash survival: when a worker is killed mid-job, an acks_late job goes back to the queue and
another worker finishes it; a plain job is marked lost."""
import os
import time

from ...tasks import app
from ..base import LabError, Observation, Scenario, finished
from ..pool import LAB_WORKER_ENV

LEASE = float(LAB_WORKER_ENV['LOCALQ_LEASE_TIMEOUT'])


def _long_work(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
    return {'pid': os.getpid()}


@app.task(name='lab.critical_job', queue='lab', acks_late=True, max_retries=0)
def critical_job(seconds=4.0):
    """Long work that must not be lost: acks_late, so a dead worker's run goes back to the queue."""
    return _long_work(seconds)


@app.task(name='lab.plain_job', queue='lab', max_retries=0)
def plain_job(seconds=4.0):
    """The same work without acks_late: a dead worker's run is lost (FAILURE)."""
    return _long_work(seconds)


class CrashSurvival(Scenario):
    name = 'crash'
    title = 'Crash survival (acks_late)'
    lesson = 'Lesson 13.11, task configuration: acks_late "critical tasks (survive crashes)"'
    teaches = ('With acks_late a job is acknowledged only once it has finished, so a job whose worker dies is '
               'run again rather than lost: use it for critical tasks that are safe to run twice.')
    explain = ('Two long jobs run on worker 1: one declared acks_late=True, one not. Kill worker 1 with a real '
               'SIGKILL, as an out-of-memory kill would. Its jobs stop renewing their lease; after 3 s (the lab '
               'workers\' lease) worker 2 notices. The acks_late job goes back to the queue and worker 2 '
               'finishes it; the other is marked lost (FAILURE), since running it twice might not be safe.')
    code = '@app.task(acks_late=True)\ndef critical_job(seconds): ...\n\n@app.task\ndef plain_job(seconds): ...'
    params = {'seconds': 6.0}
    actions = (('kill', 'Kill worker 1 (SIGKILL)'),)

    def start(self, ctx):
        busy = self.one_worker(ctx)
        ctx.note(busy=busy)
        ctx.enqueue('lab.critical_job', ctx.params['seconds'])
        ctx.enqueue('lab.plain_job', ctx.params['seconds'])
        ctx.wait_until(lambda: sum(j['state'] == 'STARTED' for j in ctx.jobs()) == 2, 30, 'both jobs to start')
        rescuer = ctx.start_worker(concurrency=2)
        ctx.wait_online([rescuer])
        ctx.note(rescuer=rescuer, ready=True)

    def act(self, ctx, action):
        if action != 'kill':
            return super().act(ctx, action)
        notes = ctx.notes
        busy = notes.get('busy')
        if busy is None or notes.get('killed'):
            raise LabError('nothing to kill: %s' % ('already killed' if notes.get('killed') else 'not started'))
        pid = ctx.lab.pool.pid(busy)
        if not ctx.lab.pool.kill(busy):
            raise LabError('%s is not running' % busy)
        ctx.note(killed=busy, killed_pid=pid, marks=[[time.time(), 'SIGKILL %s' % busy, busy]])   # [t, label, worker]
        return 'Sent SIGKILL to %s (pid %d).' % (busy, pid)

    def autopilot(self, ctx):
        notes = ctx.notes
        if notes.get('ready') and not notes.get('killed'):
            return self.act(ctx, 'kill')

    def observe(self, ctx):
        notes, jobs, attempts = ctx.notes, ctx.jobs(), ctx.attempts()
        data, rows = {'killed': notes.get('killed')}, []
        for job in jobs:
            kind = 'acks_late' if job['task'] == 'lab.critical_job' else 'plain'
            tries = attempts.get(job['id'], [])
            data[kind] = {'state': job['state'], 'workers': [t['worker'] for t in tries],
                          'outcomes': [t['outcome'] for t in tries], 'error': job['error_message']}
            rows.append([kind, job['state'], ' → '.join('%s on %s' % (t['outcome'], t['worker']) for t in tries),
                         job['error_message'] or ''])
        if not notes.get('ready'):
            lines = ['Starting worker 1 and both jobs, then worker 2...']
        elif not notes.get('killed'):
            lines = ['Both jobs run on %s (pid %s); %s is idle. Press "Kill worker 1".'
                     % (notes['busy'], ctx.lab.pool.pid(notes['busy']), notes['rescuer'])]
        else:
            lines = ['%s (pid %s) was killed with SIGKILL.' % (notes['killed'], notes['killed_pid'])]
            lost = [t['finished_at'] for tries in attempts.values() for t in tries if t['outcome'] == 'LOST']
            if lost:
                data['noticed_s'] = round(min(lost) - notes['marks'][0][0], 2)
                lines.append('Nothing noticed for %.1f s: its jobs were declared lost only when their lease ran '
                             'out, %g s after the worker\'s last heartbeat (hatched in the timeline).'
                             % (data['noticed_s'], LEASE))
            if finished(jobs):
                lines.append('The acks_late job ended %s after running on %s; the plain one ended %s.' % (
                    data['acks_late']['state'], ' then '.join(data['acks_late']['workers']), data['plain']['state']))
        return Observation(bool(notes.get('killed')) and finished(jobs), data, lines,
                           tables=[('Jobs', ['job', 'state', 'attempts', 'error'], rows)])
