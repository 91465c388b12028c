"""Importable tasks for the tests (worker subprocesses load them with -A tests.sample_tasks:app)."""
import os
import threading
import time

from localq import LocalQ, SoftTimeLimitExceeded

app = LocalQ('tests')

# Gates let a test hold a task mid-run in an in-process worker, without sleeps.
gates = {}


def gate(name):
    return gates.setdefault(name, threading.Event())


@app.task(name='tests.add')
def add(x, y):
    return x + y


@app.task(name='tests.now')
def now(tag=None):
    return time.time()


@app.task(name='tests.progress', bind=True)
def progress(self, gate_name):
    self.update_state(state='PROCESSING', meta={'step': 'halfway', 'progress': 50})
    gate(gate_name).wait(30)
    return 'done'


@app.task(name='tests.flaky', bind=True, max_retries=3, autoretry_for=(ConnectionError,),
          retry_backoff=0.05, retry_jitter=False)
def flaky(self, failures):
    if self.request.retries < failures:
        raise ConnectionError('attempt %d: remote API down' % (self.request.retries + 1))
    return self.request.retries


@app.task(name='tests.bad_input', max_retries=3, autoretry_for=(ConnectionError,), retry_backoff=0.05)
def bad_input(value):
    raise ValueError('invalid input: %r' % (value,))


@app.task(name='tests.manual_retry', bind=True, max_retries=2)
def manual_retry(self, failures):
    try:
        if self.request.retries < failures:
            raise TimeoutError('slow remote')
    except TimeoutError as e:
        self.retry(exc=e, countdown=0.01)
    return 'ok after %d' % self.request.retries


@app.task(name='tests.runaway', time_limit=0.3)
def runaway():
    n = 0
    while True:
        n += 1


@app.task(name='tests.soft', soft_time_limit=0.2, time_limit=5)
def soft():
    try:
        while True:
            pass
    except SoftTimeLimitExceeded:
        return 'cleaned up'


@app.task(name='tests.fire_and_forget', ignore_result=True)
def fire_and_forget(x):
    return x * 2


@app.task(name='tests.paced', rate_limit='5/s')
def paced(i):
    return time.time()


@app.task(name='tests.wait_gate')
def wait_gate(gate_name):
    while not gate(gate_name).wait(0.01):
        pass
    return 'released'


@app.task(name='tests.loop_until_revoked')
def loop_until_revoked(gate_name):
    gate(gate_name).set()  # tell the test it is running
    while True:
        time.sleep(0.01)


@app.task(name='tests.unjsonable')
def unjsonable():
    return object()


@app.task(name='tests.pid')
def pid():
    return os.getpid()
