"""Importable tasks for the tests (worker subprocesses load them with -A tests.sample_tasks:app)."""
import os
import threading
import time

from localq import Ignore, LocalQ, Reject, SoftTimeLimitExceeded, Task

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


@app.task(name='tests.paced', bind=True, rate_limit='5/s')
def paced(self, i):
    return {'slot': self.request.rate_slot, 'started': time.time()}


@app.task(name='tests.celery_progress', bind=True)
def celery_progress(self, gate_name):
    """Celery's documented progress idiom (Tasks guide, "Custom states")."""
    self.update_state(state='PROGRESS', meta={'current': 3, 'total': 10})
    gate(gate_name).wait(30)
    return 'done'


handler_calls = []   # what RecordingTask's handlers saw, in order (in-process workers)
requeued_once = set()


class RecordingTask(Task):
    """Celery's custom task class with every handler (Tasks guide, "Handlers")."""

    def before_start(self, task_id, args, kwargs):
        handler_calls.append(('before_start', task_id, tuple(args)))

    def on_success(self, retval, task_id, args, kwargs):
        handler_calls.append(('on_success', task_id, retval))

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        handler_calls.append(('on_retry', task_id, type(exc).__name__))

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        handler_calls.append(('on_failure', task_id, type(exc).__name__, 'Traceback' in einfo.traceback))

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        handler_calls.append(('after_return', task_id, status))


@app.task(name='tests.handled', base=RecordingTask, bind=True, max_retries=1, autoretry_for=(ConnectionError,),
          retry_backoff=0.01, retry_jitter=False)
def handled(self, mode):
    if mode == 'fail':
        raise ValueError('bad input')
    if mode == 'flaky' and self.request.retries == 0:
        raise ConnectionError('remote down')
    if mode == 'ignore':
        raise Ignore()
    if mode == 'reject':
        raise Reject('not for us', requeue=False)
    if mode == 'requeue' and self.request.id not in requeued_once:
        requeued_once.add(self.request.id)
        raise Reject('later', requeue=True)
    return {'mode': mode, 'called_directly': self.request.called_directly}


@app.task(name='tests.huey_limited')
def huey_limited(n, retry=True):
    """Once a day, through Huey's own rate_limit (its window is aligned to the day, as Huey's is)."""
    with app.huey.rate_limit('tests.huey_limited.%s' % retry, limit=1, per=86400, retry=retry):
        return n


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


# -- the app's own data, in the same database ----------------------------------------
import peewee  # noqa: E402

from localq.models import BaseModel  # noqa: E402


class Effect(BaseModel):
    """One row per job whose side effect happened (get_or_create keeps it once)."""
    key = peewee.CharField(unique=True)


class Order(BaseModel):
    order_id = peewee.CharField(null=True)
    user_id = peewee.CharField()
    product_id = peewee.CharField()


APP_MODELS = [Effect, Order]


def _log_execution(line):
    os.makedirs(app.config.data_dir, exist_ok=True)  # on PostgreSQL nothing else creates it
    with open(os.path.join(app.config.data_dir, 'executions.log'), 'a') as fh:
        fh.write(line + '\n')


@app.task(name='tests.critical', acks_late=True, max_retries=0)
def critical(i, seconds=0.05):
    _log_execution('start %s %d' % (i, os.getpid()))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.005)
    Effect.get_or_create(key=str(i))
    _log_execution('done %s %d' % (i, os.getpid()))
    return i


@app.task(name='tests.durable', acks_late=True, max_retries=3)
def durable(i, seconds=0.05):
    """critical, with retries: a database outage while it runs is retried later."""
    return critical.func(i, seconds)


@app.task(name='tests.not_critical', acks_late=False)
def not_critical(i, seconds=0.05):
    return critical.func(i, seconds)


@app.task(name='tests.create_order_naive')
def create_order_naive(user_id, product_id):
    Order.create(user_id=user_id, product_id=product_id)


@app.task(name='tests.create_order')
def create_order(order_id, user_id, product_id):
    Order.get_or_create(order_id=order_id, user_id=user_id, product_id=product_id)


@app.task(name='tests.high_task', queue='high')
def high_task(i):
    return time.time()


@app.task(name='tests.low_task', queue='low')
def low_task(i):
    return time.time()


@app.task(name='tests.echo')
def echo(**kwargs):
    return kwargs


@app.task(name='tests.charge')
def charge(card_token, amount, **options):
    """A call whose first argument is a secret by its parameter name."""
    return {'charged': amount, 'receipt': {'auth_code': 'A-%s' % card_token[-4:]}}


# -- canvas, errbacks, async tasks, shared tasks ------------------------------------------
import asyncio  # noqa: E402

from localq import shared_task  # noqa: E402


@app.task(name='tests.mul')
def mul(x, y):
    return x * y


@app.task(name='tests.tsum')
def tsum(numbers):
    return sum(numbers)


@app.task(name='tests.sum_lists')
def sum_lists(lists):
    return sum(sum(values) for values in lists)


@app.task(name='tests.fail', max_retries=0)
def fail(value, why='broken'):
    raise ValueError('%s: %r' % (why, value))


class CardDeclined(Exception):
    """An exception of the user's own, raised by a task."""


@app.task(name='tests.decline')
def decline(card):
    raise CardDeclined('card %s declined' % card)


@app.task(name='tests.until_fixed', max_retries=0)
def until_fixed(value):
    """Fails until a person fixes the cause (an Effect row 'fixed'), then passes its value on."""
    if not Effect.select().where(Effect.key == 'fixed').exists():
        raise ValueError('not fixed yet: %r' % value)
    return value


def read_timeout_setting(user_id):
    """A bad deploy's one bug: three tasks call this, and it fails for every user until fixed."""
    if not Effect.select().where(Effect.key == 'fixed').exists():
        raise LookupError('no setting "timeout" for user %d in /etc/app/users/%d.conf' % (user_id, user_id))
    return user_id


@app.task(name='tests.send_digest', max_retries=0)
def send_digest(user_id):
    return read_timeout_setting(user_id)


@app.task(name='tests.sync_profile', max_retries=0)
def sync_profile(user_id):
    return read_timeout_setting(user_id)


@app.task(name='tests.bill_account', max_retries=0)
def bill_account(user_id):
    return read_timeout_setting(user_id)


@app.task(name='tests.note_failure')
def note_failure(task_id, tag='errback'):
    """An old-style errback: called with the failed job's id."""
    Effect.create(key='%s:%s' % (tag, task_id))


@app.task(name='tests.on_error')
def on_error(request, exc, traceback):
    """A new-style errback (Celery 4+): called with the failed job's request, exception and traceback."""
    Effect.create(key='%s|%s|%s|%s' % (request.id, request.task, type(exc).__name__, 'ValueError' in traceback))


@app.task(name='tests.async_add')
async def async_add(x, y):
    await asyncio.sleep(0.01)
    return x + y


@app.task(name='tests.async_wait', time_limit=0.5)
async def async_wait(seconds):
    try:
        await asyncio.sleep(seconds)
    finally:
        _log_execution('async_wait cleaned up')
    return 'waited'


@app.task(name='tests.async_until_revoked', bind=True)
async def async_until_revoked(self):
    self.update_state(state='PROCESSING', meta={'progress': 1})
    await asyncio.sleep(60)


@shared_task(name='tests.shared_mul')
def shared_mul(x, y):
    return x * y


# -- a full disk -----------------------------------------------------------------------------
full_disk_writes_failed = threading.Event()


def fill_disk(folder):
    """Write zeros into folder/filler until the filesystem refuses more."""
    with open(os.path.join(folder, 'filler'), 'wb') as fh:
        try:
            while True:
                fh.write(b'\0' * 65536)
                fh.flush()
        except OSError:
            pass


@app.task(name='tests.fill_then_write', bind=True, max_retries=2)
def fill_then_write(self, folder):
    """First attempt: fill the disk under `folder`, then try to store a large row (which fails).
    Later attempts just store it."""
    if self.request.retries == 0:
        fill_disk(folder)
    try:
        with app.write_transaction():   # as the document pipeline stores its rows
            Effect.create(key='big:' + 'x' * 400000)
    except Exception:
        full_disk_writes_failed.set()
        raise
    return 'stored'


def _record_span(tag, seconds):
    """Append 'tag start end' to keyed.log in the data folder: the tests check the spans."""
    start = time.time()
    time.sleep(seconds)
    os.makedirs(app.config.data_dir, exist_ok=True)
    with open(os.path.join(app.config.data_dir, 'keyed.log'), 'a') as fh:
        fh.write('%s %r %r\n' % (tag, start, time.time()))


@app.task(name='tests.keyed', concurrency_key='user', concurrency_limit=1)
def keyed(user, n, seconds=0.05):
    _record_span('%s:%s' % (user, n), seconds)


@app.task(name='tests.keyed_two', concurrency_key=lambda user, *a, **k: 'two:' + user, concurrency_limit=2)
def keyed_two(user, n, seconds=0.3):
    _record_span('%s:%s' % (user, n), seconds)


@app.task(name='tests.keyed_progress', bind=True, concurrency_key='user', concurrency_limit=1)
def keyed_progress(self, user, n, seconds=0.2):
    """A keyed job that reports progress: a custom state still holds its key."""
    self.update_state(state='PROCESSING', meta={'progress': 10})
    _record_span('%s:%s' % (user, n), seconds)


@app.task(name='tests.needs_file')
def needs_file(path):
    """Fails until the file exists (a bug fixed outside the task: `localq replay --record`)."""
    with open(path) as fh:
        return fh.read()
