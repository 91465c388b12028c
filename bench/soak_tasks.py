"""The soak's tasks (bench/bench_soak.py): a laptop user's mix, on the app `soak_tasks:app`."""
import random
import time

from localq import LocalQ

app = LocalQ('soak')


@app.task(name='soak.noop')
def noop(i):
    return i


@app.task(name='soak.work', bind=True)
def work(self, ms):
    """5-50 ms of work with two progress updates."""
    self.update_state(state='PROCESSING', meta={'progress': 0})
    time.sleep(ms / 2000.0)
    self.update_state(state='PROCESSING', meta={'progress': 50})
    time.sleep(ms / 2000.0)
    return ms


@app.task(name='soak.flaky', bind=True, max_retries=3, autoretry_for=(ConnectionError,), retry_backoff=1.0,
          retry_jitter=False)
def flaky(self, fail_times):
    """Fails its first `fail_times` attempts (4 or more: it fails for good)."""
    if self.request.retries < fail_times:
        raise ConnectionError('attempt %d: upstream returned 503' % (self.request.retries + 1))
    return self.request.retries


@app.task(name='soak.report')
def report(i):
    """A 20 KB result."""
    rng = random.Random(i)
    return {'rows': ['%08x' % rng.getrandbits(32) for _ in range(2000)]}


@app.task(name='soak.keyed')
def keyed(key):
    return key
