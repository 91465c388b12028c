"""Retry with backoff: autoretry_for turns a refused connection into a retry, each waiting longer,
with jitter so jobs that failed together do not come back together."""
from ...tasks import app
from ..base import Observation, Scenario, finished


@app.task(name='lab.flaky_api', bind=True, queue='lab', max_retries=5, autoretry_for=(ConnectionError,),
          retry_backoff=True)
def flaky_api(self, failures=3):
    """A remote call that is down for its first `failures` attempts."""
    if self.request.retries < failures:
        raise ConnectionError('attempt %d: connection refused by api.example' % (self.request.retries + 1))
    return {'attempts': self.request.retries + 1}


class RetryBackoff(Scenario):
    name = 'retry'
    title = 'Retry with backoff'
    lesson = 'Lesson 13.10, "Error Handling"; quiz Q2'
    explain = ('Three calls to a remote API that refuses connections for the first three attempts. '
               'autoretry_for=(ConnectionError,) turns each failure into a retry, and retry_backoff=True waits '
               'about 1 s, then 2 s, then 4 s. Jitter picks each wait between half and all of that, so the '
               'three jobs, which failed together, do not all come back at the same moment.')
    code = ('@app.task(bind=True, max_retries=5, autoretry_for=(ConnectionError,), retry_backoff=True)\n'
            'def flaky_api(self, failures=3): ...')
    params = {'jobs': 3, 'failures': 3}

    def start(self, ctx):
        self.one_worker(ctx)
        for _ in range(ctx.params['jobs']):
            ctx.enqueue('lab.flaky_api', failures=ctx.params['failures'])

    def observe(self, ctx):
        jobs, attempts = ctx.jobs(), ctx.attempts()
        data, rows = {'delays': {}, 'states': {}}, []
        for n, job in enumerate(jobs, 1):
            tries = attempts.get(job['id'], [])
            delays = [round(b['started_at'] - a['finished_at'], 2) for a, b in zip(tries, tries[1:])]
            data['delays'][job['id']] = delays
            data['states'][job['id']] = job['state']
            rows.append(['job %d' % n, job['state'], ' → '.join(t['outcome'] for t in tries),
                         ', '.join('%.2f s' % d for d in delays)])
        lines = ['Backoff windows: retry 1 waits 0.5-1 s, retry 2 waits 1-2 s, retry 3 waits 2-4 s.']
        if finished(jobs):
            lines.append('Every job succeeded on attempt %s after failing; the waits grew each time.'
                         % ', '.join(str(len(attempts.get(j['id'], []))) for j in jobs))
        return Observation(finished(jobs), data, lines,
                           tables=[('Attempts', ['job', 'state', 'outcomes', 'waits before each retry'], rows)])
