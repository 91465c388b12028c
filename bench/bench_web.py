"""The web app under load: dashboard response times with 1,000,000 job rows (beside the same
requests on 1,000 rows, in one run), and the web process's peak memory while a 1 GB file uploads
(beside a 1 MB upload to the same process).

    python bench/bench_web.py [--rows 1000000] [--reps 5] [--upload-mb 1024] [--what dashboard,upload]

Times are medians of --reps requests over real HTTP to werkzeug's threaded server, after one
warm-up request. The rows are a realistic mix (90% SUCCESS, 5% FAILURE, 2% PENDING, ...) over
10 tasks and 3 queues, finished over the last 24 hours.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TASKS = ['documents.process', 'localq.add', 'localq.sleep'] + ['app.task_%d' % i for i in range(7)]
QUEUES = ['default', 'high', 'low']
STATES = [('SUCCESS', 0.90), ('FAILURE', 0.05), ('PENDING', 0.02), ('REVOKED', 0.02), ('RETRY', 0.01)]


def fill(app, rows, seed=7):
    """Insert `rows` job rows in batches, as a long-running app would have them."""
    rng = random.Random(seed)
    now = time.time()
    storage = app.query
    names = [s for s, _ in STATES]
    weights = [w for _, w in STATES]
    batch = []

    def flush():
        with app.write_transaction():
            storage.database.cursor().executemany(
                'INSERT INTO job (id, task, queue, priority, state, args, kwargs, message, meta, result, '
                'error_type, error_message, attempts, max_retries, acks_late, ignore_result, queued_at, eta, '
                'started_at, finished_at, worker, revoke_requested, waits_for) '
                'VALUES (?, ?, ?, 0, ?, ?, ?, ?, NULL, ?, ?, ?, 1, 3, 0, 0, ?, ?, ?, ?, ?, 0, 0)', batch)
        batch.clear()

    for i in range(rows):
        state = rng.choices(names, weights)[0]
        queued = now - 86400 * (1 - i / rows) - 1   # oldest first, the newest a second ago
        finished = queued + rng.uniform(0.01, 2) if state in ('SUCCESS', 'FAILURE', 'REVOKED') else None
        job_id = str(uuid.UUID(int=rng.getrandbits(128)))
        task = rng.choice(TASKS)
        args = json.dumps(['invoice-%d.pdf' % i, rng.randint(1, 10 ** 6)])
        message = json.dumps({'m': {'id': job_id, 'name': task, 'args': [], 'kwargs': {}}})
        error = ('ConnectionError', 'upstream returned 503 for batch %d' % i) if state == 'FAILURE' else (None, None)
        eta = queued if state != 'PENDING' else now + rng.uniform(-5, 3600)
        batch.append((job_id, task, rng.choice(QUEUES), state, args, '{}', message,
                      '{"ok": true}' if state == 'SUCCESS' else None, error[0], error[1],
                      queued, eta, queued if finished else None, finished, 'bench-host:1' if finished else None))
        if len(batch) == 20000:
            flush()
    if batch:
        flush()


def serve(web):
    import logging
    from werkzeug.serving import make_server
    logging.getLogger('werkzeug').setLevel(logging.WARNING)
    server = make_server('127.0.0.1', 0, web, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed_get(port, path, reps):
    times = []
    for i in range(reps + 1):
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=300)
        start = time.perf_counter()
        conn.request('GET', path)
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - start) * 1000
        conn.close()
        if response.status != 200:
            raise RuntimeError('%s answered %d' % (path, response.status))
        if i:  # the first is a warm-up
            times.append(elapsed)
    return statistics.median(times)


def deep_cursor(state, position):
    """The cursor a user reaches after paging to `position` in a state tab (not timed)."""
    from localq.monitor.listing import ORDERS, encode_cursor
    from localq.models import Job
    order = ORDERS[state]
    row = (Job.select(*[f for f, _ in order]).where(Job.state == state)
           .order_by(*[f.desc() if d else f.asc() for f, d in order]).offset(position).limit(1).tuples().first())
    return encode_cursor(list(row)) if row else None


def dashboard_times(rows, reps):
    from localq.tasks import app
    from localq.web import create_app
    data = tempfile.mkdtemp(prefix='localq-bench-web-')
    try:
        app.configure(data_dir=data, database_url='')
        app.setup()
        t0 = time.time()
        fill(app, rows)
        fill_s = time.time() - t0
        # What the workers' heartbeats do every few seconds: add the new jobs to the text index.
        from localq.textindex import catch_up
        t0 = time.time()
        while catch_up(app.query.database)[0]:
            pass
        print('text index of %d rows built in %.1f s' % (rows, time.time() - t0), flush=True)
        deep = deep_cursor('SUCCESS', int(rows * 0.9 * 0.5))
        server = serve(create_app(app))
        paths = [
            ('overview page', '/'),
            ('overview JSON', '/api/overview'),
            ('jobs, all, page 1', '/jobs'),
            ('jobs, FAILURE tab', '/jobs?state=FAILURE'),
            ('jobs, PENDING tab', '/jobs?state=PENDING'),
            ('jobs, SUCCESS tab, halfway down', '/jobs?state=SUCCESS&cursor=' + urllib.parse.quote(deep)),
            ('jobs, one task', '/jobs?task=documents.process'),
            ('jobs, one task + FAILURE', '/jobs?task=documents.process&state=FAILURE'),
            ('jobs, text found often', '/jobs?q=invoice'),
            ('jobs, text found nowhere', '/jobs?q=no-such-words'),
            ('/api/tasks?limit=50', '/api/tasks?limit=50'),
            ('/metrics', '/metrics'),
        ]
        result = {label: timed_get(server.server_port, path, reps) for label, path in paths}
        server.shutdown()
        size_mb = os.path.getsize(os.path.join(data, 'localq.db')) / 1e6
        return result, fill_s, size_mb
    finally:
        app.database.close()
        shutil.rmtree(data, ignore_errors=True)


def peak_rss_mb(pid):
    with open('/proc/%d/status' % pid) as fh:
        for line in fh:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmHWM')


def upload(port, megabytes):
    """POST one .txt file of `megabytes` MiB, streamed from a generator (the client holds 64 KiB)."""
    block = (b'Refunds are paid within fourteen days. ' * 1700)[:65536]
    blocks = megabytes * 16
    head = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            b'Content-Type: text/plain\r\n\r\n')
    tail = b'\r\n--B--\r\n'

    def body():
        yield head
        for _ in range(blocks):
            yield block
        yield tail

    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=600)
    start = time.perf_counter()
    conn.request('POST', '/upload', body=body(), headers={
        'Content-Type': 'multipart/form-data; boundary=B',
        'Content-Length': str(len(head) + blocks * len(block) + len(tail))})
    response = conn.getresponse()
    payload = json.loads(response.read())
    elapsed = time.perf_counter() - start
    if response.status != 202:
        raise RuntimeError('upload answered %d: %s' % (response.status, payload))
    return elapsed


def upload_memory(upload_mb):
    from tests.conftest import free_port
    data = tempfile.mkdtemp(prefix='localq-bench-upload-')
    port = free_port()
    env = dict(os.environ, LOCALQ_MAX_UPLOAD_MB=str(upload_mb + 1))
    proc = subprocess.Popen([sys.executable, 'run.py', '--port', str(port), '--data-dir', data], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        proc.stdout.readline()
        # Keep the worker from reading the document while we measure the web side.
        conn = http.client.HTTPConnection('127.0.0.1', port)
        conn.request('POST', '/api/queues/default/pause')
        conn.getresponse().read()
        idle = peak_rss_mb(proc.pid)
        small_s = upload(port, 1)
        small = peak_rss_mb(proc.pid)
        big_s = upload(port, upload_mb)
        big = peak_rss_mb(proc.pid)
        stored = sum(os.path.getsize(os.path.join(data, 'uploads', n)) for n in os.listdir(os.path.join(data, 'uploads'))
                     if n != '.incoming')
        return {'idle_peak_mb': idle, 'after_1mb_peak_mb': small, 'after_big_peak_mb': big,
                'small_s': small_s, 'big_s': big_s, 'stored_mb': stored / 2 ** 20}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=1_000_000)
    parser.add_argument('--baseline-rows', type=int, default=1_000)
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--upload-mb', type=int, default=1024)
    parser.add_argument('--what', default='dashboard,upload')
    args = parser.parse_args()
    what = args.what.split(',')
    if 'dashboard' in what:
        small, _, small_db = dashboard_times(args.baseline_rows, args.reps)
        big, fill_s, big_db = dashboard_times(args.rows, args.reps)
        print('dashboard response, median of %d (ms): %s rows (%.0f MB) vs %s rows (%.0f MB, filled in %.0f s)' % (
            args.reps, format(args.baseline_rows, ','), small_db, format(args.rows, ','), big_db, fill_s))
        print('| request | %s rows | %s rows | ratio |' % (format(args.baseline_rows, ','), format(args.rows, ',')))
        print('|---|---|---|---|')
        for label in small:
            print('| %s | %.1f | %.1f | %.1fx |' % (label, small[label], big[label], big[label] / small[label]))
    if 'upload' in what:
        m = upload_memory(args.upload_mb)
        print('\nweb process (python run.py) peak RSS (VmHWM), MB: idle %.1f; after a 1 MiB upload %.1f; '
              'after a %d MiB upload %.1f (ratio big/1 MiB %.2fx)' % (
                  m['idle_peak_mb'], m['after_1mb_peak_mb'], args.upload_mb, m['after_big_peak_mb'],
                  m['after_big_peak_mb'] / m['after_1mb_peak_mb']))
        print('upload of %d MiB took %.1f s (%.0f MiB/s); %.0f MiB stored' % (
            args.upload_mb, m['big_s'], args.upload_mb / m['big_s'], m['stored_mb']))


if __name__ == '__main__':
    main()
