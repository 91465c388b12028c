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
def process_images(image_ids, fetch_ms=0.0):
    """Fetch each "image" from storage (a wait of fetch_ms, the remote service here) and checksum its
    64 KiB (about 0.05 ms of CPU)."""
    for image_id in image_ids:
        if fetch_ms:
            time.sleep(fetch_ms / 1000.0)
        hashlib.sha256(IMAGE + str(image_id).encode()).digest()
    return {'images': len(image_ids)}


class Batching(Scenario):
    name = 'batching'
    title = 'Batching 10,000 items'
    lesson = 'Lesson 13.10, quiz Q3 (10,000 images)'
    teaches = ('To process 10,000 images, queue about 100 tasks of 100 images each: far fewer tasks than one per '
               'image, so little queue overhead, yet enough of them to keep every worker busy.')
    explain = ('The same 10,000 images processed three ways, one after the other, by two worker processes: one '
               'job per image, 100 jobs of 100 images, and one job for all. Each image is fetched from storage '
               '(a 0.3 ms wait) and checksummed. One job per image pays the queue\'s cost 10,000 times; one job '
               'for all runs on one worker while the other idles. Batches do both: little overhead, both workers '
               'busy.')
    code = ('for i in range(0, 10000, 100):\n    process_image_batch.delay(image_ids[i:i+100])')
    # fetch_ms: with no wait per image, the whole job is 0.5 s of hashing and a second worker cannot
    # save more than the queue costs: "one job for all" came out fastest, against the lesson.
    params = {'items': 10000, 'batch': 100, 'workers': 2, 'fetch_ms': 0.3}
    MODES = (('each', 'one job per image'), ('batches', 'batches'), ('single', 'one job for all'))

    def start(self, ctx):
        p = ctx.params
        names = [ctx.start_worker(queues=[ctx.queue(m) for m, _ in self.MODES]) for _ in range(p['workers'])]
        ctx.wait_online(names)
        items = list(range(p['items']))
        storage = ctx.app.query
        for mode, _ in self.MODES:
            size = {'each': 1, 'batches': max(1, p['batch']), 'single': max(1, len(items))}[mode]
            t0 = time.time()
            for i in range(0, len(items), size):
                ctx.enqueue('lab.process_images', items[i:i + size], sub=mode, fetch_ms=p['fetch_ms'])
            ctx.note(**{mode + '_enqueue_s': time.time() - t0})
            sql, params = ctx.lab.queue_filter(self.name, mode)
            unfinished = 'SELECT COUNT(*) FROM job WHERE %s AND (%s OR %s)' % (sql, SQL_CLAIMABLE, SQL_RUNNING)
            ctx.wait_until(lambda: storage.sql(unfinished, params).fetchone()[0] == 0, 600, 'the %s jobs' % mode)

    def observe(self, ctx):
        data, rows, notes = {}, [], ctx.notes
        for mode, label in self.MODES:
            jobs = ctx.jobs(mode)
            if not jobs or not finished(jobs):
                if jobs:
                    rows.append([label, len(jobs), '%d done' % sum(j['state'] == 'SUCCESS' for j in jobs), '', '', ''])
                continue
            span = max(j['finished_at'] for j in jobs) - min(j['queued_at'] for j in jobs)
            busy = sum(j['finished_at'] - j['started_at'] for j in jobs)
            data[mode] = {'jobs': len(jobs), 'total_s': round(span, 2),
                          'enqueue_s': round(notes.get(mode + '_enqueue_s', 0), 2),
                          'max_parallel': max_overlap([(j['started_at'], j['finished_at']) for j in jobs]),
                          'avg_parallel': round(busy / span, 2) if span else 0,
                          'workers': len({j['worker'] for j in jobs}), 'job_ms': round(1000 * busy / len(jobs), 2)}
            d = data[mode]
            rows.append([label, len(jobs), '%.2f s' % d['total_s'], '%.2f s' % d['enqueue_s'], d['max_parallel'],
                         d['avg_parallel']])
        lines = self.lines(data, ctx.params) if len(data) == 3 else []
        return Observation(len(data) == 3, data, lines, tables=[
            ('%d images' % ctx.params['items'], ['way', 'jobs', 'total time', 'time to queue them (part of the total)',
                                                 'most at once', 'average busy workers'], rows)])

    def lines(self, data, params):
        each, batches, single = data['each'], data['batches'], data['single']
        label = dict(self.MODES)
        best = min(data, key=lambda m: data[m]['total_s'])
        per_image = single['job_ms'] / max(1, params['items'])
        others = ['%.2f s for %s' % (data[m]['total_s'], label[m]) for m, _ in self.MODES if m != best]
        return [
            'Fastest: %s, %.2f s, against %s.' % (label[best], data[best]['total_s'], ' and '.join(others)),
            'One job per image: writing its %s jobs to the queue alone took %.2f s of its %.2f s. Each job ran '
            '%.2f ms from its start to its recorded end, where an image takes %.2f ms (one job for all ran %s in '
            '%.2f s): the rest is the queue\'s cost per job (a claim, a result, a record), paid %s times.' % (
                '{:,}'.format(each['jobs']), each['enqueue_s'], each['total_s'], each['job_ms'], per_image,
                '{:,}'.format(params['items']), single['job_ms'] / 1000, '{:,}'.format(each['jobs'])),
            'One job for all: queued in %.2f s, but a job runs on one worker: at most %d busy while the other%s '
            'idled, so it took as long as all the work, %.2f s.' % (
                single['enqueue_s'], single['max_parallel'], '' if params['workers'] == 2 else 's', single['total_s']),
            'Batches: %d jobs of %d, queued in %.2f s, ran on %d workers at once (%.2f busy on average): little '
            'queue cost, and the work split between the workers.' % (
                batches['jobs'], params['batch'], batches['enqueue_s'], batches['max_parallel'],
                batches['avg_parallel']),
        ]
