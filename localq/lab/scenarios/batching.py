"""Batching: 10,000 items as one job each, in batches, or as one job for all; batches pay little
queue overhead and still keep every worker busy."""
import hashlib
import os
import time

from ...states import SQL_CLAIMABLE, SQL_RUNNING
from ...tasks import app
from ..base import Observation, Scenario, finished, max_overlap


IMAGE = os.urandom(64 * 1024)


@app.task(name='lab.process_images', queue='lab')
def process_images(image_ids):
    """Checksum one 64 KiB "image" per id (about 0.1 ms of CPU each)."""
    for image_id in image_ids:
        hashlib.sha256(IMAGE + str(image_id).encode()).digest()
    return {'images': len(image_ids)}


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
