"""The lab's scenarios, one class per pattern of the course material.

Each scenario has:
  - start(ctx): start its worker processes and queue its jobs (runs in a thread);
  - observe(ctx): read back what happened and say it (an Observation);
  - actions a person can take while it runs (kill a worker, add one), and
    autopilot(ctx): what `localq lab <name>` does in place of those clicks.
Explanations are in our own words; the code shown is the lessons' pattern.
"""
import base64
import datetime
import math
import os
import statistics
import time

from ..states import READY_TO_CLAIM, SQL_CLAIMABLE, SQL_RUNNING, TERMINAL
from . import tasks as lab_tasks
from . import LabError, Observation
from .models import LabAlert, LabOrder


def ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 1)


def median(values):
    return statistics.median(values) if values else None


def finished(jobs):
    return bool(jobs) and all(j['state'] in TERMINAL for j in jobs)


def max_overlap(intervals):
    """The most intervals running at one moment (how many workers were busy at once)."""
    edges = sorted([(s, 1) for s, f in intervals] + [(f, -1) for s, f in intervals], key=lambda e: (e[0], e[1]))
    best = current = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


class Scenario:
    name = ''
    title = ''
    lesson = ''          # where the course material teaches it
    explain = ''         # what to watch for, in our words
    code = ''            # the pattern, as the lessons write it
    params = {}          # name -> default; the CLI's --set name=value and the tests change them
    actions = ()         # (action, button label) a person can press while it runs

    def check_params(self, given):
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise LabError('scenario %s has no parameter %s; it has: %s' % (
                self.name, ', '.join(unknown), ', '.join(sorted(self.params)) or 'none'))
        values = dict(self.params)
        for key, value in given.items():
            default = self.params[key]
            kind = 'a whole number' if isinstance(default, int) else 'a number'
            try:
                values[key] = type(default)(value)
            except (TypeError, ValueError):
                raise LabError('%s=%r: must be %s' % (key, value, kind))
            # Ten times the lesson's size is plenty for a class, and keeps a typo from
            # starting a million jobs or a gigabyte payload.
            top = max(10, 10 * default)
            if not 0 <= values[key] <= top:
                raise LabError('%s=%r: must be %s from 0 to %g' % (key, value, kind, top))
        return values

    def start(self, ctx):
        raise NotImplementedError

    def observe(self, ctx):
        raise NotImplementedError

    def act(self, ctx, action):
        raise LabError('scenario %s has no action %r' % (self.name, action))

    def autopilot(self, ctx):
        """Called repeatedly by `localq lab`: press the buttons a teacher would; returns what it did."""

    def clear(self, lab):
        """Delete rows of the app's own data this scenario wrote."""

    def one_worker(self, ctx, concurrency=2):
        name = ctx.start_worker(concurrency=concurrency)
        ctx.wait_online([name])
        return name


class RequestOrQueue(Scenario):
    name = 'request-or-queue'
    title = 'Request or queue?'
    lesson = 'Lesson 13.10, "When NOT to use task queues" and quiz Q1'
    explain = ('The same 50 ms operation, done twice: inside the request, and through the queue. The queue '
               'gives the caller a task_id at once, but the answer arrives only after a worker has picked the '
               'job up, run it and written the result, and the caller must ask again to read it. For work this '
               'short that overhead buys nothing: handle it in the request.')
    code = ('# in the request\nrows = query(ms=50)\n\n# queued\ntask = query.delay(ms=50)\n'
            'rows = AsyncResult(task.id).get(timeout=10)')
    params = {'calls': 5, 'ms': 50}

    def start(self, ctx):
        p = ctx.params
        self.one_worker(ctx, concurrency=1)
        inline, id_ms, result_ms = [], [], []
        for _ in range(p['calls']):
            t0 = time.perf_counter()
            lab_tasks.query.func(p['ms'])
            inline.append(ms(time.perf_counter() - t0))
        ctx.note(inline_ms=inline)
        for _ in range(p['calls']):   # one at a time: each call finds the worker idle
            t0 = time.perf_counter()
            result = ctx.enqueue('lab.query', ms=p['ms'])
            id_ms.append(ms(time.perf_counter() - t0))
            result.get(timeout=30)
            result_ms.append(ms(time.perf_counter() - t0))
            ctx.note(task_id_ms=id_ms, result_ms=result_ms)

    def observe(self, ctx):
        p, notes = ctx.params, ctx.notes
        inline, id_ms, result_ms = notes.get('inline_ms', []), notes.get('task_id_ms', []), notes.get('result_ms', [])
        jobs = [j for j in ctx.jobs() if j['state'] == 'SUCCESS']
        ready_ms = [ms(j['finished_at'] - j['queued_at']) for j in jobs]
        data = {'inline_ms': median(inline), 'task_id_ms': median(id_ms), 'ready_ms': median(ready_ms),
                'result_ms': median(result_ms)}
        lines = []
        if inline:
            lines.append('In the request: the caller has its answer after %.1f ms (median of %d).'
                         % (data['inline_ms'], len(inline)))
        if result_ms:
            overhead = data['result_ms'] - data['inline_ms']
            data['overhead_ms'] = round(overhead, 1)
            data['overhead_pct'] = round(100.0 * overhead / data['inline_ms'])
            lines.append('Queued: the caller has a task_id after %.1f ms; the result is written %.1f ms after '
                         'queueing, and a polling caller reads it after %.1f ms.'
                         % (data['task_id_ms'], data['ready_ms'] or 0, data['result_ms']))
            lines.append('The queue adds %.1f ms (%d%%) to %d ms of work, plus a second request to fetch the '
                         'answer: too fast for a queue. Queue work that takes seconds.'
                         % (overhead, data['overhead_pct'], p['ms']))
        rows = [[i + 1, inline[i] if i < len(inline) else '', id_ms[i] if i < len(id_ms) else '',
                 ready_ms[i] if i < len(ready_ms) else '', result_ms[i] if i < len(result_ms) else '']
                for i in range(p['calls'])]
        return Observation(done=len(result_ms) == p['calls'], data=data, lines=lines, tables=[
            ('Each call (ms)', ['#', 'in request', 'queued: task_id', 'queued: result written',
                                'queued: caller has result'], rows)])


SAMPLE_TEXT = ('Background jobs let a web request return at once while a worker does the slow part. '
               'The worker reports progress, so the page can show which step it is on. ') * 40


class Progress(Scenario):
    name = 'progress'
    title = 'Progress of a document pipeline'
    lesson = 'Lesson 13.11, self-assessment scenario 1 (extract, chunk, embed, store)'
    explain = ('One document goes through the four steps of the lessons\' pipeline. Before each step the task '
               'calls update_state(state="PROCESSING", meta={"step": ..., "progress": ...}); the page reads the '
               'job row as any client polling /tasks/<id> would. Each step pauses a moment so you can watch.')
    code = ('self.update_state(state="PROCESSING", meta={"step": "extracting", "progress": 20})\n'
            'text = extract_text(file_path)\n...\n'
            'self.update_state(state="PROCESSING", meta={"step": "storing", "progress": 80})')
    params = {'step_seconds': 0.75}

    def start(self, ctx):
        self.one_worker(ctx, concurrency=1)
        ctx.enqueue('lab.process_document', SAMPLE_TEXT, step_seconds=ctx.params['step_seconds'])

    def observe(self, ctx):
        jobs = ctx.jobs()
        if not jobs:
            return Observation(False, {}, ['Starting a worker...'])
        job = jobs[0]
        history = (job['result'] or {}).get('history') or (job['meta'] or {}).get('history') or []
        progress = 100 if job['state'] == 'SUCCESS' else (job['meta'] or {}).get('progress', 0)
        step = 'done' if job['state'] == 'SUCCESS' else (job['meta'] or {}).get('step', 'waiting for a worker')
        data = {'state': job['state'], 'progress': progress, 'steps': [[h[0], h[1]] for h in history]}
        lines = ['State %s, step "%s", %d%%.' % (job['state'], step, progress)]
        if job['state'] == 'SUCCESS':
            lines.append('Stored %d chunks; the whole pipeline took %.1f s.'
                         % (job['result']['chunks'], job['finished_at'] - job['started_at']))
        rows = [[name, '%d%%' % pct, '+%.2f s' % (at - job['started_at'])] for name, pct, at in history]
        return Observation(job['state'] in TERMINAL, data, lines,
                           tables=[('Steps reported', ['step', 'progress', 'at'], rows)])


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
    explain = ('One job per row of the lessons\' table. Temporary errors (timeouts, 5xx) are listed in '
               'autoretry_for and come back with backoff; a 429 retries after the server\'s Retry-After; '
               'invalid input, a missing file and a rejected key fail at once, since trying again cannot help. '
               'The 401 also raises an alert (a row in lab_alert and a CRITICAL log line) for a person.')
    code = ('@app.task(bind=True, max_retries=4, autoretry_for=(TimeoutError, ServerError), retry_backoff=True)\n'
            'def call_api(self, case):\n    ...\n    if response.status_code == 429:\n'
            '        self.retry(countdown=retry_after)')
    params = {}

    def start(self, ctx):
        self.one_worker(ctx, concurrency=3)
        for case, _, _ in ERROR_TABLE:
            ctx.enqueue('lab.call_api', case)

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
                 % (5.0 / ctx.app.config.lab_speed, ctx.app.config.lab_speed)]
        return Observation(done, data, lines,
                           tables=[('The table, run', ['error', 'strategy', 'what happened', 'first error'], rows)])


class RateLimit(Scenario):
    name = 'rate-limit'
    title = 'Rate limit across workers'
    lesson = 'Lesson 13.11, self-assessment scenario 2 (an API allowing 10 requests/minute)'
    explain = ('Thirty calls to a task declared with rate_limit="10/m", served by two worker processes. The '
               'workers share one clock in the database: each call is given a start slot one interval (6 s) after '
               'the previous slot, and a call never starts before its slot. One that comes too early goes back to '
               'wait for its slot without counting as an attempt. So any minute holds at most 10 slots. A start can '
               'come a few milliseconds after its slot (the time a sleeping worker takes to wake up), never before, '
               'so two starts can sit a few milliseconds closer than the interval while the rate still holds. '
               'Set LOCALQ_LAB_SPEED=10 for class: the limit becomes 100/m and the run takes 18 s, not 3 min.')
    code = '@app.task(rate_limit="10/m", bind=True, max_retries=5)\ndef call_api(self, data): ...'
    params = {'calls': 30, 'workers': 2}
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

    def observe(self, ctx):
        period = 60.0 / ctx.app.config.lab_speed
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
        lines = ['Limit %d calls per %g s: one start slot every %.2f s, shared by every worker. %d of %d calls done.'
                 % (self.PER_PERIOD, period, interval, len(calls), len(jobs))]
        if lags:
            lines.append('No call started before its slot: each started %d to %d ms after it (a worker waking up).'
                         % (round(1000 * data['min_lag']), round(1000 * data['max_lag'])))
            lines.append('The busiest %.2f s (the period less one slot) held %d starts; the limit allows %d. '
                         'Served by %s.' % (period - interval, data['busiest_window'], self.PER_PERIOD,
                                            ', '.join('%s (%d)' % kv for kv in sorted(by_worker.items()))))
        t0 = min(c['slot'] for c in calls) if calls else 0
        series = [('Calls started', 'calls', {
            'started': [(round(s - t0, 2), i + 1) for i, s in enumerate(starts)],
            'slots': [(round(c['slot'] - t0, 2), i + 1) for i, c in enumerate(calls)]})]
        return Observation(len(jobs) > 0 and finished(jobs), data, lines, series=series)

    def clear(self, lab):
        lab.app.huey.storage.sql("DELETE FROM rate_slot WHERE key = 'task:lab.call_limited'")


class TimeLimit(Scenario):
    name = 'time-limit'
    title = 'Time limit stops a runaway task'
    lesson = 'Lesson 13.11, task configuration: time_limit "prevent runaway tasks"'
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
        lines = ['Limit: %d s.' % lab_tasks.TIME_LIMIT]
        if 'runaway' in data and data['runaway']['seconds']:
            lines.append('The runaway job was stopped after %.2f s.' % data['runaway']['seconds'])
        return Observation(len(jobs) == 2 and finished(jobs), data, lines,
                           tables=[('Jobs', ['job', 'state', 'ran for', 'error'], rows)])


class CrashSurvival(Scenario):
    name = 'crash'
    title = 'Crash survival (acks_late)'
    lesson = 'Lesson 13.11, task configuration: acks_late "critical tasks (survive crashes)"'
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
        ctx.note(killed=busy, killed_pid=pid, marks=[[time.time(), 'SIGKILL %s' % busy]])
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
            if finished(jobs):
                lines.append('The acks_late job ended %s after running on %s; the plain one ended %s.' % (
                    data['acks_late']['state'], ' then '.join(data['acks_late']['workers']), data['plain']['state']))
        return Observation(bool(notes.get('killed')) and finished(jobs), data, lines,
                           tables=[('Jobs', ['job', 'state', 'attempts', 'error'], rows)])


class Idempotency(Scenario):
    name = 'idempotency'
    title = 'Idempotency: safe to retry'
    lesson = 'Lesson 13.10, pitfall 4 "No task idempotency"'
    explain = ('Both versions of the lessons\' create_order save the order, then confirm the payment; the '
               'gateway times out twice, so each task runs three times. The naive version inserts a new row on '
               'every attempt. The idempotent one uses get_or_create on the order id the caller chose, so '
               'the retries find the row and add nothing.')
    code = ('# naive\nOrder.create(user_id=user_id, product_id=product_id)\n\n# idempotent\n'
            'Order.get_or_create(id=order_id, user_id=user_id, product_id=product_id)')
    params = {'failures': 2}

    def start(self, ctx):
        self.one_worker(ctx)
        f = ctx.params['failures']
        ctx.enqueue('lab.create_order_naive', 'user-42', 'book-7', failures=f)
        ctx.enqueue('lab.create_order', 'order-1001', 'user-42', 'book-7', failures=f)

    def observe(self, ctx):
        jobs, attempts = ctx.jobs(), ctx.attempts()
        rows = {v: list(LabOrder.select().where(LabOrder.variant == v).order_by(LabOrder.id))
                for v in ('naive', 'idempotent')}
        data = {'naive_rows': len(rows['naive']), 'idempotent_rows': len(rows['idempotent']),
                'attempts': {('naive' if j['task'].endswith('naive') else 'idempotent'):
                             len(attempts.get(j['id'], [])) for j in jobs}}
        lines = ['Attempts: %s. Order rows: naive %d, idempotent %d.' % (
            ', '.join('%s %d' % kv for kv in sorted(data['attempts'].items(), reverse=True)) or 'none yet',
            data['naive_rows'], data['idempotent_rows'])]
        t0 = ctx.run.started_at
        tables = [('%s: %d row%s' % (v, len(r), '' if len(r) == 1 else 's'), ['row id', 'order_id', 'user', 'product',
                                                                              'created'],
                   [[o.id, o.order_id or '(none)', o.user_id, o.product_id, '+%.2f s' % (o.created_at - t0)]
                    for o in r]) for v, r in rows.items()]
        return Observation(len(jobs) == 2 and finished(jobs), data, lines, tables=tables)

    def clear(self, lab):
        LabOrder.delete().execute()


class PriorityQueues(Scenario):
    name = 'priority'
    title = 'Priority queues'
    lesson = 'Lesson 13.10, "What about priority queues?"'
    explain = ('A flood of jobs goes to the "low" queue, then a few urgent ones to "high". As in the lessons, '
               'each queue has its own worker (celery worker -Q high,default and -Q low), so the urgent jobs '
               'never wait behind the backlog: they finish while most of it is still queued.')
    code = ('@app.task(queue="high")\ndef urgent_task(): ...\n\n@app.task(queue="low")\ndef batch_task(): ...\n\n'
            '# localq worker -Q high,default\n# localq worker -Q low')
    params = {'low': 200, 'high': 5, 'seconds': 0.05}

    def start(self, ctx):
        p = ctx.params
        names = [ctx.start_worker(queues=[ctx.queue('high'), ctx.queue('default')], concurrency=2),
                 ctx.start_worker(queues=[ctx.queue('low')], concurrency=2)]
        ctx.wait_online(names)
        for i in range(p['low']):
            ctx.enqueue('lab.work', p['seconds'], i, sub='low')
        for i in range(p['high']):
            ctx.enqueue('lab.work', p['seconds'], i, sub='high')

    def observe(self, ctx):
        high, low = ctx.jobs('high'), ctx.jobs('low')
        data = {'high_done': sum(j['state'] == 'SUCCESS' for j in high),
                'low_done': sum(j['state'] == 'SUCCESS' for j in low)}
        lines = ['high: %d of %d done; low: %d of %d done.' % (data['high_done'], len(high), data['low_done'],
                                                               len(low))]
        if high and finished(high):
            last_high = max(j['finished_at'] for j in high)
            data['low_waiting_when_high_done'] = sum(1 for j in low if not j['finished_at']
                                                     or j['finished_at'] > last_high)
            data['high_wait_ms'] = ms(median([j['finished_at'] - j['queued_at'] for j in high]))
            lines.append('Every high job was done %.0f ms after queueing (median), while %d low jobs were still '
                         'waiting or running.' % (data['high_wait_ms'], data['low_waiting_when_high_done']))
        if low and finished(low):
            data['low_wait_ms'] = ms(median([j['finished_at'] - j['queued_at'] for j in low]))
            lines.append('A low job waited %.0f ms (median).' % data['low_wait_ms'])
        return Observation(bool(high) and finished(high + low), data, lines)


class Batching(Scenario):
    name = 'batching'
    title = 'Batching 10,000 items'
    lesson = 'Lesson 13.10, quiz Q3 (10,000 images)'
    explain = ('The same 10,000 images processed three ways, one after the other, by two worker processes: one '
               'job per image, 100 jobs of 100 images, and one job for all. One job per image pays the '
               'queue\'s cost 10,000 times; one job for all uses one worker while the other idles. Batches do '
               'both: little overhead, both workers busy.')
    code = ('for i in range(0, 10000, 100):\n    process_image_batch.delay(image_ids[i:i+100])')
    params = {'items': 10000, 'batch': 100, 'workers': 2}
    MODES = (('each', 'one job per image'), ('batches', 'batches'), ('single', 'one job for all'))

    def start(self, ctx):
        p = ctx.params
        names = [ctx.start_worker(queues=[ctx.queue(m) for m, _ in self.MODES]) for _ in range(p['workers'])]
        ctx.wait_online(names)
        items = list(range(p['items']))
        storage = ctx.app.huey.storage
        for mode, _ in self.MODES:
            size = {'each': 1, 'batches': max(1, p['batch']), 'single': max(1, len(items))}[mode]
            t0 = time.time()
            for i in range(0, len(items), size):
                ctx.enqueue('lab.process_images', items[i:i + size], sub=mode)
            ctx.note(**{mode + '_enqueue_s': time.time() - t0})
            sql, params = ctx.lab.queue_filter(self.name, mode)
            unfinished = 'SELECT COUNT(*) FROM job WHERE %s AND (%s OR %s)' % (sql, SQL_CLAIMABLE, SQL_RUNNING)
            ctx.wait_until(lambda: storage.sql(unfinished, params).fetchone()[0] == 0, 600, 'the %s jobs' % mode)

    def observe(self, ctx):
        data, rows = {}, []
        for mode, label in self.MODES:
            jobs = ctx.jobs(mode)
            if not jobs or not finished(jobs):
                if jobs:
                    rows.append([label, len(jobs), '%d done' % sum(j['state'] == 'SUCCESS' for j in jobs), '', '', ''])
                continue
            span = max(j['finished_at'] for j in jobs) - min(j['queued_at'] for j in jobs)
            busy = sum(j['finished_at'] - j['started_at'] for j in jobs)
            data[mode] = {'jobs': len(jobs), 'total_s': round(span, 3),
                          'max_parallel': max_overlap([(j['started_at'], j['finished_at']) for j in jobs]),
                          'avg_parallel': round(busy / span, 2) if span else 0,
                          'workers': len({j['worker'] for j in jobs})}
            rows.append([label, len(jobs), '%.2f s' % span, '%.2f s' % ctx.notes.get(mode + '_enqueue_s', 0),
                         data[mode]['max_parallel'], data[mode]['avg_parallel']])
        lines = []
        if len(data) == 3:
            best = min(data, key=lambda m: data[m]['total_s'])
            lines.append('Fastest: %s (%.2f s). One job per image took %.2f s; one job for all kept %d worker '
                         'busy.' % (dict(self.MODES)[best], data[best]['total_s'], data['each']['total_s'],
                                    data['single']['max_parallel']))
        return Observation(len(data) == 3, data, lines, tables=[
            ('%d images' % ctx.params['items'], ['way', 'jobs', 'total time', 'of which queueing',
                                                 'most at once', 'average busy workers'], rows)])


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


class LargePayloads(Scenario):
    name = 'payloads'
    title = 'Large payloads: bytes or a path'
    lesson = 'Lesson 13.10, "How to handle very large payloads?"'
    explain = ('The same 4 MiB file checksummed by a task, passed two ways. As bytes, the whole file (base64, '
               'since JSON has no bytes) is written into every job message in the database. As a path, the '
               'message is a few dozen bytes and the worker reads the file itself.')
    code = ('task.delay(huge_file_content)   # ❌ the file travels through the broker\n'
            'task.delay(file_path)           # ✅ just a path')
    params = {'mb': 4, 'jobs': 3}

    def path(self, app):
        return os.path.abspath(os.path.join(app.config.data_dir, 'lab', 'payload.bin'))

    def start(self, ctx):
        p = ctx.params
        ctx.wait_online([ctx.start_worker(queues=[ctx.queue('bytes'), ctx.queue('path')], concurrency=2)])
        path = self.path(ctx.app)
        data = os.urandom(int(p['mb'] * 1024 * 1024))
        with open(path, 'wb') as fh:
            fh.write(data)
        timings = {'bytes': [], 'path': []}
        # Paused while queueing, so the enqueue times measure the message alone,
        # not a worker reading the previous 5 MB message at the same moment.
        for sub in ('bytes', 'path'):
            ctx.app.pause_queue(ctx.queue(sub))
        for _ in range(p['jobs']):
            t0 = time.perf_counter()
            ctx.enqueue('lab.checksum_bytes', base64.b64encode(data).decode('ascii'), sub='bytes')
            timings['bytes'].append(ms(time.perf_counter() - t0))
            t0 = time.perf_counter()
            ctx.enqueue('lab.checksum_file', path, sub='path')
            timings['path'].append(ms(time.perf_counter() - t0))
        ctx.note(enqueue_ms=timings)
        for sub in ('bytes', 'path'):
            ctx.app.resume_queue(ctx.queue(sub))

    def observe(self, ctx):
        timings = ctx.notes.get('enqueue_ms', {})
        data, rows = {}, []
        for variant in ('bytes', 'path'):
            jobs = ctx.jobs(variant)
            if not jobs:
                continue
            data[variant] = {'message_bytes': max(j['size'] for j in jobs), 'total_bytes': sum(j['size'] for j in jobs),
                             'enqueue_ms': median(timings.get(variant, [])),
                             'sha256': {(j['result'] or {}).get('sha256') for j in jobs if j['result']}}
            rows.append([variant, len(jobs), '{:,}'.format(data[variant]['message_bytes']),
                         '{:,}'.format(data[variant]['total_bytes']), data[variant]['enqueue_ms']])
        done = all(finished(ctx.jobs(v)) for v in ('bytes', 'path')) and len(data) == 2
        for v in data.values():
            v['sha256'] = sorted(v['sha256'])
        lines = []
        if done:
            ratio = data['bytes']['message_bytes'] / float(data['path']['message_bytes'])
            same = data['bytes']['sha256'] == data['path']['sha256']
            lines.append('Same checksum both ways: %s. Each bytes message is %.0fx the path message, and the '
                         'database keeps it until the job is pruned.' % ('yes' if same else 'NO', ratio))
            data['size_ratio'] = ratio
        return Observation(done, data, lines, tables=[
            ('Messages', ['passed as', 'jobs', 'message bytes', 'bytes in database', 'enqueue ms (median)'], rows)])

    def clear(self, lab):
        try:
            os.remove(self.path(lab.app))
        except FileNotFoundError:
            pass


class WorkerRecycling(Scenario):
    name = 'recycling'
    title = 'Worker recycling (max tasks per child)'
    lesson = 'Lesson 13.10, pitfall 3 "Ignoring memory in long-running workers"'
    explain = ('A task that keeps 4 MiB each time it runs (a cache that never evicts), sent to two worker '
               'processes. Each job reports its process\'s memory. Without a limit the memory only grows. With '
               '--max-tasks-per-child 5 the worker process is replaced after five jobs, and memory falls back.')
    code = ('celery_app.conf.update(worker_max_tasks_per_child=1000)\n\n'
            '# here:\nlocalq worker -P process --max-tasks-per-child 5')
    params = {'jobs': 20, 'mb': 4, 'max_tasks': 5}

    def start(self, ctx):
        p = ctx.params
        names = [ctx.start_worker(queues=[ctx.queue('plain')], pool='process'),
                 ctx.start_worker(queues=[ctx.queue('recycled')], pool='process', max_tasks=p['max_tasks'])]
        ctx.wait_online(names)
        for _ in range(p['jobs']):
            ctx.enqueue('lab.leaky', p['mb'], sub='plain')
            ctx.enqueue('lab.leaky', p['mb'], sub='recycled')

    def observe(self, ctx):
        data, series = {}, {}
        for variant in ('plain', 'recycled'):
            jobs = sorted((j for j in ctx.jobs(variant) if j['state'] == 'SUCCESS'), key=lambda j: j['finished_at'])
            rss = [j['result']['rss_mb'] for j in jobs]
            data[variant] = {'rss_mb': rss, 'max_mb': max(rss) if rss else None,
                             'processes': len({j['result']['pid'] for j in jobs})}
            series['no limit' if variant == 'plain' else 'max %d tasks' % ctx.params['max_tasks']] = [
                (i + 1, r) for i, r in enumerate(rss)]
        lines = ['%s: %s.' % (label, 'no job done yet' if not data[v]['rss_mb'] else '%d jobs, at most %.1f MiB, %d '
                              'process%s' % (len(data[v]['rss_mb']), data[v]['max_mb'], data[v]['processes'],
                                             '' if data[v]['processes'] == 1 else 'es'))
                 for v, label in (('plain', 'Without a limit'), ('recycled', 'With --max-tasks-per-child %d'
                                                                 % ctx.params['max_tasks']))]
        done = all(finished(ctx.jobs(v)) for v in ('plain', 'recycled')) and bool(ctx.jobs())
        return Observation(done, data, lines, series=[('Worker memory after each job (MiB)', 'MiB', series)])


class PeriodicTasks(Scenario):
    name = 'periodic'
    title = 'Periodic tasks'
    lesson = 'Lesson 13.11, decision matrix: "Daily data sync: scheduled job"'
    explain = ('A task declared with a crontab runs by itself: every worker runs the scheduler, which queues the '
               'task when its crontab matches. Here two workers run it; each tick is queued once, whichever '
               'scheduler gets there first. The crontab is every minute so you can watch it; the scheduler '
               'looks once a minute, so a run lands within a minute of its time.')
    code = ('@app.periodic_task(crontab(minute="*"))\ndef sync_report(): ...\n\n'
            '# a daily sync would be crontab(hour=3, minute=0)')
    params = {'ticks': 2}

    def start(self, ctx):
        names = [ctx.start_worker(queues=[lab_tasks.PERIODIC_QUEUE]) for _ in range(2)]
        ctx.wait_online(names)

    @staticmethod
    def next_runs(now, count=5):
        """The next times the crontab matches (crontabs here are in UTC, as the app's clock)."""
        dt = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).replace(tzinfo=None, second=0,
                                                                               microsecond=0)
        found = []
        while len(found) < count:
            dt += datetime.timedelta(minutes=1)
            if lab_tasks.EVERY_MINUTE(dt):
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


ALL = [RequestOrQueue(), Progress(), RetryBackoff(), ErrorStrategies(), RateLimit(), TimeLimit(), CrashSurvival(),
       Idempotency(), PriorityQueues(), Batching(), ScalingWorkers(), LargePayloads(), WorkerRecycling(),
       PeriodicTasks()]
