"""Time limit: time_limit stops a runaway task, records a FAILURE with TimeLimitExceeded, and
frees the worker thread for the next job."""
import time

from ...tasks import app
from ..base import Observation, Scenario, finished

TIME_LIMIT = 2                              # seconds, for the time-limit scenario


@app.task(name='lab.wait_for_report', queue='lab', time_limit=TIME_LIMIT)
def wait_for_report(seconds):
    """Poll for a report that is ready after `seconds` (None: never, a runaway)."""
    started = time.monotonic()
    while seconds is None or time.monotonic() - started < seconds:
        time.sleep(0.02)
    return {'waited': round(time.monotonic() - started, 3)}


class TimeLimit(Scenario):
    name = 'time-limit'
    title = 'Time limit stops a runaway task'
    lesson = 'Lesson 13.11, task configuration: time_limit "prevent runaway tasks"'
    teaches = ('A hard time limit stops a task that would otherwise run for ever, so it cannot hold a worker '
               'for good.')
    explain = ('Two jobs of a task with time_limit=2: one waits 0.5 s for a report and finishes; the other '
               'waits for a report that never comes. The worker stops it at its limit and records a FAILURE '
               'with TimeLimitExceeded, and the worker thread is free for the next job.')
    code = '@app.task(time_limit=2)\ndef wait_for_report(seconds): ...'
    params = {}

    def start(self, ctx):
        self.one_worker(ctx)
        ctx.enqueue('lab.wait_for_report', None)
        ctx.enqueue('lab.wait_for_report', 0.5)

    def observe(self, ctx):
        jobs = ctx.jobs()
        data, rows = {}, []
        for job in jobs:
            kind = 'runaway' if job['args'][0] is None else 'bounded'
            ran = job['finished_at'] - job['started_at'] if job['finished_at'] and job['started_at'] else None
            data[kind] = {'state': job['state'], 'seconds': ran, 'error_type': job['error_type']}
            rows.append([kind, job['state'], '%.2f s' % ran if ran else '', job['error_type'] or ''])
        lines = ['Limit: %d s.' % TIME_LIMIT]
        if 'runaway' in data and data['runaway']['seconds']:
            lines.append('The runaway job was stopped after %.2f s.' % data['runaway']['seconds'])
        if 'bounded' in data and data['bounded']['seconds']:
            lines.append('The other job ended %s after %.2f s, on a thread the limit kept free.'
                         % (data['bounded']['state'], data['bounded']['seconds']))
        return Observation(len(jobs) == 2 and finished(jobs), data, lines,
                           tables=[('Jobs', ['job', 'state', 'ran for', 'error'], rows)])
