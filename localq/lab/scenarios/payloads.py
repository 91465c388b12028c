"""Large payloads: pass a path, not the file's bytes; bytes travel in every job message and stay
in the database until the job is pruned."""
import base64
import hashlib
import os
import time

from ...tasks import app
from ..base import Observation, Scenario, finished, median, ms


@app.task(name='lab.checksum_bytes', queue='lab')
def checksum_bytes(data_b64):
    """The anti-pattern: the file's content travels in the message (base64, as JSON has no bytes)."""
    return {'sha256': hashlib.sha256(base64.b64decode(data_b64)).hexdigest()}


@app.task(name='lab.checksum_file', queue='lab')
def checksum_file(path):
    """The pattern: the message carries a path; the worker reads the file."""
    folder = os.path.abspath(os.path.join(app.config.data_dir, 'lab'))
    path = os.path.abspath(path)
    if os.path.dirname(path) != folder:
        raise ValueError('only files in the lab folder: %r' % path)
    with open(path, 'rb') as fh:
        return {'sha256': hashlib.sha256(fh.read()).hexdigest()}


class LargePayloads(Scenario):
    name = 'payloads'
    title = 'Large payloads: bytes or a path'
    lesson = 'Lesson 13.10, "How to handle very large payloads?"'
    teaches = ('Pass a reference (a path, a URL, an id) to a task, never the data itself: a large payload is '
               'copied into every message the broker keeps.')
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
        # Done once both kinds of job finished and the runner has noted its enqueue timings.
        done = all(finished(ctx.jobs(v)) for v in ('bytes', 'path')) and len(data) == 2 and \
            all(timings.get(v) for v in ('bytes', 'path'))
        for v in data.values():
            v['sha256'] = sorted(v['sha256'])
        lines = []
        if done:
            ratio = data['bytes']['message_bytes'] / float(data['path']['message_bytes'])
            same = data['bytes']['sha256'] == data['path']['sha256']
            lines.append('Same checksum both ways: %s. Each bytes message is {:,} bytes against {:,} for a path '
                         '(%.0fx), and the database keeps it until the job is pruned.'.format(
                             data['bytes']['message_bytes'], data['path']['message_bytes'])
                         % ('yes' if same else 'NO', ratio))
            data['size_ratio'] = ratio
        return Observation(done, data, lines, tables=[
            ('Messages', ['passed as', 'jobs', 'message bytes', 'bytes in database', 'enqueue ms (median)'], rows)])

    def clear(self, lab):
        try:
            os.remove(self.path(lab.app))
        except FileNotFoundError:
            pass
