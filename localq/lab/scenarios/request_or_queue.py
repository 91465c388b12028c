"""Request or queue? A 50 ms operation done inside the request and through the queue: for work
this short the queue's overhead buys nothing."""
import time

from ...tasks import app
from ..base import Observation, Scenario, median, ms


@app.task(name='lab.query', queue='lab')
def query(ms=50):
    """A fast operation, such as a simple database query."""
    time.sleep(ms / 1000.0)
    return {'rows': 1}


class RequestOrQueue(Scenario):
    name = 'request-or-queue'
    title = 'Request or queue?'
    lesson = 'Lesson 13.10, "When NOT to use task queues" and quiz Q1'
    teaches = ('Work that takes well under a second, like a 50 ms query, belongs in the request: a queue adds '
               'its own delay and a second request to fetch the answer, and saves nothing.')
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
            query.func(p['ms'])
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
