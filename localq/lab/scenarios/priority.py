"""Priority queues: urgent jobs go to their own queue with its own worker, so they never wait
behind a backlog of ordinary ones."""
import time

from ...tasks import app
from ..base import Observation, Scenario, finished, median, ms


@app.task(name='lab.work', queue='lab')
def work(seconds=0.1, i=None):
    """A job that takes `seconds` (waiting on I/O, so threads overlap)."""
    time.sleep(seconds)
    return {'i': i}


class PriorityQueues(Scenario):
    name = 'priority'
    title = 'Priority queues'
    lesson = 'Lesson 13.10, "What about priority queues?"'
    teaches = ('Send urgent tasks to a queue of their own with its own workers, so they never wait behind a '
               'backlog of ordinary ones.')
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
