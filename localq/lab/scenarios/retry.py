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
    teaches = ('A refused connection is usually temporary, so retry it automatically, and wait longer after '
               'each failure so a struggling service gets room to recover.')
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
        data, rows = {'delays': {}, 'states': {}, 'attempts': {}}, []
        for n, job in enumerate(jobs, 1):
            tries = attempts.get(job['id'], [])
            delays = [round(b['started_at'] - a['finished_at'], 2) for a, b in zip(tries, tries[1:])]
            data['delays'][job['id']] = delays
            data['states'][job['id']] = job['state']
            data['attempts'][job['id']] = len(tries)
            rows.append(['#%d' % n, job['state'], ' → '.join(t['outcome'] for t in tries),
                         ', '.join('%.2f s' % d for d in delays)])
        lines = ['Backoff windows: retry 1 waits 0.5-1 s, retry 2 waits 1-2 s, retry 3 waits 2-4 s.']
        if finished(jobs):
            lines += self.outcome_lines(jobs, data)
        return Observation(finished(jobs), data, lines,
                           tables=[('Attempts', ['job', 'state', 'outcomes', 'waits before each retry'], rows)])

    @staticmethod
    def outcome_lines(jobs, data):
        counts = [data['attempts'][j['id']] for j in jobs]
        won = [j for j in jobs if j['state'] == 'SUCCESS']
        if len(won) == len(jobs) and len(set(counts)) == 1:
            head = 'All %d jobs succeeded on attempt %d, after %d refused connection%s each.' % (
                len(jobs), counts[0], counts[0] - 1, '' if counts[0] == 2 else 's')
        else:
            head = '; '.join('#%d %s after %d attempt%s' % (n, j['state'], c, '' if c == 1 else 's')
                             for n, (j, c) in enumerate(zip(jobs, counts), 1)) + '.'
        waits = ['#%d waited %s' % (n, ', '.join('%.2f s' % d for d in data['delays'][j['id']]))
                 for n, j in enumerate(jobs, 1) if data['delays'][j['id']]]
        lines = [head]
        if waits:
            grew = all(b > a for j in jobs for a, b in zip(data['delays'][j['id']], data['delays'][j['id']][1:]))
            lines.append('Before each retry, %s: %s. The jitter is why the jobs, which failed together, did not '
                         'come back at the same moment.' % ('each wait was longer than the last' if grew
                                                            else 'the waits grew with each window', '; '.join(waits)))
        return lines
