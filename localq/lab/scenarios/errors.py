"""Error strategies: one job per row of the lessons' table. Temporary errors are retried with
backoff, a 429 after its Retry-After; the others fail at once, and a 401 alerts a person."""
import logging
import time

from ...tasks import app
from ..base import Observation, Scenario, finished
from ..models import LabAlert

logger = logging.getLogger('localq.lab')

# Read from LOCALQ_LAB_SPEED when the worker imports this module: the lab
# passes its own setting to the worker processes it starts.
SPEED = app.config.lab_speed
RETRY_AFTER = 5.0 / SPEED                   # the 429 answer's Retry-After, in seconds


class ServerError(Exception):
    """The remote answered 5xx."""


class AuthError(Exception):
    """The remote answered 401/403: retrying cannot help, a person must act."""


class RateLimited(Exception):
    """The remote answered 429 Too Many Requests."""


ERROR_CASES = ('timeout', 'rate_limited', 'invalid_input', 'server_error', 'auth_error', 'file_not_found')


@app.task(name='lab.call_api', bind=True, queue='lab', max_retries=4, autoretry_for=(TimeoutError, ServerError),
          retry_backoff=True)
def call_api(self, case):
    """Call a remote API that answers with `case`; each is handled as the seeds' table says."""
    attempt = self.request.retries + 1
    if case == 'timeout' and attempt <= 2:
        raise TimeoutError('no answer within 10 s (attempt %d)' % attempt)
    if case == 'server_error' and attempt <= 2:
        raise ServerError('HTTP 503 Service Unavailable (attempt %d)' % attempt)
    if case == 'rate_limited' and attempt == 1:
        self.retry(exc=RateLimited('HTTP 429 Too Many Requests, Retry-After: %g' % RETRY_AFTER),
                   countdown=RETRY_AFTER)
    if case == 'invalid_input':
        raise ValueError('HTTP 422: "amount" must be a number, got "ten"')
    if case == 'auth_error':
        message = 'HTTP 401 Unauthorized: the API key was rejected; someone must renew it'
        LabAlert.create(job_id=self.request.id, message=message, created_at=time.time())
        logger.critical('ALERT %s: %s', self.request.id, message)
        raise AuthError(message)
    if case == 'file_not_found':
        path = 'reports/2026-11-20.csv'
        logger.error('%s: %s does not exist; not retrying', self.request.id, path)
        raise FileNotFoundError('No such file: %r' % path)
    return {'case': case, 'attempts': attempt}


ERROR_TABLE = [  # the seeds' "Error Handling Strategies" table
    ('timeout', 'Network timeout', 'Retry with backoff'),
    ('rate_limited', 'Rate limited (429)', 'Retry with longer delay'),
    ('invalid_input', 'Invalid input', 'Return error, no retry'),
    ('server_error', 'Server error (5xx)', 'Retry with backoff'),
    ('auth_error', 'Auth error (401/403)', 'No retry, alert'),
    ('file_not_found', 'File not found', 'No retry, log error'),
]


class ErrorStrategies(Scenario):
    name = 'errors'
    title = 'Error strategies'
    lesson = 'Lesson 13.11, "Error Handling Strategies" table'
    teaches = ('Retry only the errors that can pass by themselves (timeouts, 5xx, a 429 after the delay it asks '
               'for); fail at once on bad input or a missing file, and alert a person when credentials are '
               'rejected.')
    explain = ('One job per row of the lessons\' table. Temporary errors (timeouts, 5xx) are listed in '
               'autoretry_for and come back with backoff; a 429 retries after the server\'s Retry-After; '
               'invalid input, a missing file and a rejected key fail at once, since trying again cannot help. '
               'The 401 also raises an alert (a row in lab_alert and a CRITICAL log line) for a person.')
    code = ('@app.task(bind=True, max_retries=4, autoretry_for=(TimeoutError, ServerError), retry_backoff=True)\n'
            'def call_api(self, case):\n    ...\n    if response.status_code == 429:\n'
            '        self.retry(countdown=retry_after)')
    params = {}
    uses_speed = True

    def start(self, ctx):
        self.one_worker(ctx, concurrency=3)
        for case, _, _ in ERROR_TABLE:
            ctx.enqueue('lab.call_api', case)

    @staticmethod
    def summary(data):
        names = {case: error for case, error, _ in ERROR_TABLE}
        retried = ['%s after %d attempts (waited %s)' % (names[c], d['attempts'],
                                                          ', '.join('%.1f s' % w for w in d['waits']))
                   for c, d in data.items() if d['attempts'] > 1]
        at_once = ['%s: %s%s' % (names[c], d['state'], ', alert raised' if d['alerted'] else '')
                   for c, d in data.items() if d['attempts'] == 1]
        return ['Retried, then %s: %s.' % ('/'.join(sorted({d['state'] for d in data.values() if d['attempts'] > 1})),
                                            '; '.join(retried)),
                'Not retried, one attempt each: %s.' % '; '.join(at_once)]

    def observe(self, ctx):
        jobs = {j['args'][0]: j for j in ctx.jobs()}
        attempts = ctx.attempts()
        alerted = {a.job_id for a in LabAlert.select(LabAlert.job_id)}
        data, rows = {}, []
        for case, error, strategy in ERROR_TABLE:
            job = jobs.get(case)
            if job is None:
                continue
            tries = attempts.get(job['id'], [])
            waits = [round(b['started_at'] - a['finished_at'], 2) for a, b in zip(tries, tries[1:])]
            data[case] = {'state': job['state'], 'attempts': len(tries), 'waits': waits,
                          'alerted': job['id'] in alerted}
            happened = '%s after %d attempt%s' % (job['state'], len(tries), '' if len(tries) == 1 else 's')
            if waits:
                happened += ' (waited %s)' % ', '.join('%.1f s' % w for w in waits)
            if job['id'] in alerted:
                happened += '; alert raised'
            first = tries[0] if tries else {}
            rows.append([error, strategy, happened, first.get('error_message') or first.get('error_type') or ''])
        done = len(jobs) == len(ERROR_TABLE) and finished(list(jobs.values()))
        lines = ['Retry-After for the 429 is %g s here (lab_speed %g).'
                 % (5.0 / ctx.speed, ctx.speed)]
        if done:
            lines += self.summary(data)
        return Observation(done, data, lines,
                           tables=[('The table, run', ['error', 'strategy', 'what happened', 'first error'], rows)])
