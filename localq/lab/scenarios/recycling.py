"""Worker recycling: --max-tasks-per-child replaces a worker process after some jobs, so memory a
task leaks falls back instead of only growing."""
import os

from ...tasks import app
from ..base import Chart, Observation, Scenario, finished, rss_mb

_leaked = []


@app.task(name='lab.leaky', queue='lab')
def leaky(mb=4):
    """Keeps `mb` MiB forever (a cache that never evicts); reports this process's memory."""
    _leaked.append(b'\x01' * (mb * 1024 * 1024))
    return {'pid': os.getpid(), 'rss_mb': round(rss_mb(), 1)}


class WorkerRecycling(Scenario):
    name = 'recycling'
    title = 'Worker recycling (max tasks per child)'
    lesson = 'Lesson 13.10, pitfall 3 "Ignoring memory in long-running workers"'
    teaches = ('Long-running workers can leak memory, so have each worker process replaced after a fixed number '
               'of tasks.')
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
        return Observation(done, data, lines, series=[Chart('Worker memory after each job', 'MiB', series,
                                                               x_unit='jobs done by that worker')])
