"""Periodic tasks: a task declared with a crontab runs by itself; every worker runs the scheduler,
and each tick is queued once."""
import datetime
import time

from huey import crontab

from ...tasks import app
from ..base import Observation, Scenario

PERIODIC_QUEUE = 'lab.periodic'
EVERY_MINUTE = crontab(minute='*')


def lab_schedule(dt):
    """Every minute, but only in a worker that serves the lab's periodic queue, so the
    app's own workers never queue lab jobs that nobody would run."""
    return PERIODIC_QUEUE in (app.huey.storage.queues or ()) and EVERY_MINUTE(dt)


@app.periodic_task(lab_schedule, name='lab.sync_report', queue=PERIODIC_QUEUE)
def sync_report():
    """The seeds' "daily data sync", every minute so a class sees it happen."""
    return {'synced_at': time.time()}


class PeriodicTasks(Scenario):
    name = 'periodic'
    title = 'Periodic tasks'
    lesson = 'Lesson 13.11, decision matrix: "Daily data sync: scheduled job"'
    teaches = ('A recurring job such as a daily data sync is a scheduled task, declared with a crontab and '
               'started by the scheduler rather than by a person.')
    explain = ('A task declared with a crontab runs by itself: every worker runs the scheduler, which queues the '
               'task when its crontab matches. Here two workers run it; each tick is queued once, whichever '
               'scheduler gets there first. The crontab is every minute so you can watch it; the scheduler '
               'looks once a minute, so a run lands within a minute of its time.')
    code = ('@app.periodic_task(crontab(minute="*"))\ndef sync_report(): ...\n\n'
            '# a daily sync would be crontab(hour=3, minute=0)')
    params = {'ticks': 2}

    def start(self, ctx):
        names = [ctx.start_worker(queues=[PERIODIC_QUEUE]) for _ in range(2)]
        ctx.wait_online(names)

    @staticmethod
    def next_runs(now, count=5):
        """The next times the crontab matches (crontabs here are in UTC, as the app's clock)."""
        dt = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).replace(tzinfo=None, second=0,
                                                                               microsecond=0)
        found = []
        while len(found) < count:
            dt += datetime.timedelta(minutes=1)
            if EVERY_MINUTE(dt):
                found.append(dt)
        return found

    def observe(self, ctx):
        jobs = [j for j in ctx.jobs() if j['task'] == 'lab.sync_report']
        per_minute = {}
        for j in jobs:
            per_minute.setdefault(int(j['queued_at'] // 60), []).append(j)
        runs = [j for j in jobs if j['state'] == 'SUCCESS']
        nxt = self.next_runs(time.time())
        data = {'runs': len(runs), 'jobs_per_minute': {m: len(v) for m, v in per_minute.items()},
                'next_runs': [d.isoformat() + 'Z' for d in nxt]}
        lines = ['%d run%s so far, one job per minute (ran on %s).' % (
            len(runs), '' if len(runs) == 1 else 's', ', '.join(sorted({j['worker'] or '?' for j in runs})) or '-'),
            'Next times the crontab matches (UTC): %s.' % ', '.join(d.strftime('%H:%M') for d in nxt)]
        rows = [[datetime.datetime.fromtimestamp(j['queued_at'], datetime.timezone.utc).strftime('%H:%M:%S'),
                 j['state'], j['worker'] or ''] for j in jobs]
        return Observation(len(runs) >= ctx.params['ticks'], data, lines,
                           tables=[('Runs', ['queued (UTC)', 'state', 'ran on'], rows)])
