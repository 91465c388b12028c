"""The lab's demo tasks, declared on localq's default app so `localq worker` runs them.

Each stands for the kind of work a lesson talks about (a 50 ms query, a
flaky remote API, a leaking worker). Failures are real exceptions raised on
purpose, never mocks. Lab jobs go to queues named lab.<scenario>, which only
the lab's own worker processes serve, so the lab never slows the app's jobs.
"""
import base64
import hashlib
import logging
import os
import time

from huey import crontab

from .. import documents
from ..tasks import app
from .models import LabAlert, LabOrder

logger = logging.getLogger('localq.lab')

# Read from LOCALQ_LAB_SPEED when the worker imports this module: the lab
# passes its own setting to the worker processes it starts.
SPEED = app.config.lab_speed
RATE_LIMIT = '%g/m' % (10 * SPEED)          # the seeds' "10/m", sped up for class
RETRY_AFTER = 5.0 / SPEED                   # the 429 answer's Retry-After, in seconds
TIME_LIMIT = 2                              # seconds, for the time-limit scenario
PERIODIC_QUEUE = 'lab.periodic'
EVERY_MINUTE = crontab(minute='*')


def rss_mb():
    """This process's resident memory in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open('/proc/self/status') as fh:
            for line in fh:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- 1. request or queue ---------------------------------------------------------------
@app.task(name='lab.query', queue='lab')
def query(ms=50):
    """A fast operation, such as a simple database query."""
    time.sleep(ms / 1000.0)
    return {'rows': 1}


# -- 2. progress ------------------------------------------------------------------------
@app.task(name='lab.process_document', bind=True, queue='lab', time_limit=600)
def process_document(self, text, step_seconds=0.5):
    """The seeds' pipeline on a text: extract, chunk, embed, store, reporting each step.

    meta keeps every step with its time, so the page can draw the steps a
    poll in between would have missed."""
    history = []

    def step(name, progress):
        history.append([name, progress, time.time()])
        self.update_state(state='PROCESSING', meta={'step': name, 'progress': progress, 'history': history})
        time.sleep(step_seconds)

    step('extracting', 20)
    step('chunking', 40)
    chunks = documents.chunk_text(text)
    step('embedding', 60)
    embeddings = documents.get_embedder(app.config.embedder).embed(chunks)
    step('storing', 80)
    return {'chunks': len(chunks), 'dimensions': int(embeddings.shape[1]), 'history': history}


# -- 3. retry with backoff ----------------------------------------------------------------
@app.task(name='lab.flaky_api', bind=True, queue='lab', max_retries=5, autoretry_for=(ConnectionError,),
          retry_backoff=True)
def flaky_api(self, failures=3):
    """A remote call that is down for its first `failures` attempts."""
    if self.request.retries < failures:
        raise ConnectionError('attempt %d: connection refused by api.example' % (self.request.retries + 1))
    return {'attempts': self.request.retries + 1}


# -- 4. error strategies (the seeds' table, one case each) ----------------------------------
class ServerError(Exception):
    """The remote answered 5xx."""


class AuthError(Exception):
    """The remote answered 401/403: retrying cannot help, a person must act."""


class RateLimited(Exception):
    """The remote answered 429 Too Many Requests."""


ERROR_CASES = ('timeout', 'rate_limited', 'invalid_input', 'server_error', 'auth_error', 'file_not_found')


@app.task(name='lab.call_api', bind=True, queue='lab', max_retries=4, autoretry_for=(TimeoutError, ServerError),
          retry_backoff=True)
def call_api(self, case):
    """Call a remote API that answers with `case`; each is handled as the seeds' table says."""
    attempt = self.request.retries + 1
    if case == 'timeout' and attempt <= 2:
        raise TimeoutError('no answer within 10 s (attempt %d)' % attempt)
    if case == 'server_error' and attempt <= 2:
        raise ServerError('HTTP 503 Service Unavailable (attempt %d)' % attempt)
    if case == 'rate_limited' and attempt == 1:
        self.retry(exc=RateLimited('HTTP 429 Too Many Requests, Retry-After: %g' % RETRY_AFTER),
                   countdown=RETRY_AFTER)
    if case == 'invalid_input':
        raise ValueError('HTTP 422: "amount" must be a number, got "ten"')
    if case == 'auth_error':
        message = 'HTTP 401 Unauthorized: the API key was rejected; someone must renew it'
        LabAlert.create(job_id=self.request.id, message=message, created_at=time.time())
        logger.critical('ALERT %s: %s', self.request.id, message)
        raise AuthError(message)
    if case == 'file_not_found':
        path = 'reports/2026-11-20.csv'
        logger.error('%s: %s does not exist; not retrying', self.request.id, path)
        raise FileNotFoundError('No such file: %r' % path)
    return {'case': case, 'attempts': attempt}


# -- 5. rate limit ----------------------------------------------------------------------------
@app.task(name='lab.call_limited', bind=True, queue='lab', rate_limit=RATE_LIMIT)
def call_limited(self, i):
    """A call to an API that allows 10 requests a minute; reports its start slot and when it started."""
    return {'i': i, 'pid': os.getpid(), 'slot': self.request.rate_slot, 'started': time.time()}


# -- 6. time limit ----------------------------------------------------------------------------
@app.task(name='lab.wait_for_report', queue='lab', time_limit=TIME_LIMIT)
def wait_for_report(seconds):
    """Poll for a report that is ready after `seconds` (None: never, a runaway)."""
    started = time.monotonic()
    while seconds is None or time.monotonic() - started < seconds:
        time.sleep(0.02)
    return {'waited': round(time.monotonic() - started, 3)}


# -- 7. crash survival ----------------------------------------------------------------------
def _long_work(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
    return {'pid': os.getpid()}


@app.task(name='lab.critical_job', queue='lab', acks_late=True, max_retries=0)
def critical_job(seconds=4.0):
    """Long work that must not be lost: acks_late, so a dead worker's run goes back to the queue."""
    return _long_work(seconds)


@app.task(name='lab.plain_job', queue='lab', max_retries=0)
def plain_job(seconds=4.0):
    """The same work without acks_late: a dead worker's run is lost (FAILURE)."""
    return _long_work(seconds)


# -- 8. idempotency ------------------------------------------------------------------------
def _confirm_payment(task, failures):
    if task.request.retries < failures:
        raise ConnectionError('payment gateway timed out after the order was saved')


@app.task(name='lab.create_order_naive', bind=True, queue='lab', max_retries=3,
          autoretry_for=(ConnectionError,), retry_backoff=0.2, retry_jitter=False)
def create_order_naive(self, user_id, product_id, failures=2):
    """The seeds' non-idempotent version: each retry inserts the order again."""
    LabOrder.create(variant='naive', user_id=user_id, product_id=product_id, created_at=time.time())
    _confirm_payment(self, failures)


@app.task(name='lab.create_order', bind=True, queue='lab', max_retries=3,
          autoretry_for=(ConnectionError,), retry_backoff=0.2, retry_jitter=False)
def create_order(self, order_id, user_id, product_id, failures=2):
    """The seeds' idempotent version: get_or_create on the order id the caller chose."""
    LabOrder.get_or_create(variant='idempotent', order_id=order_id, user_id=user_id, product_id=product_id,
                           defaults={'created_at': time.time()})
    _confirm_payment(self, failures)


# -- 9, 11. priority queues, scaling workers ------------------------------------------------------
@app.task(name='lab.work', queue='lab')
def work(seconds=0.1, i=None):
    """A job that takes `seconds` (waiting on I/O, so threads overlap)."""
    time.sleep(seconds)
    return {'i': i}


# -- 10. batching ---------------------------------------------------------------------------
IMAGE = os.urandom(64 * 1024)


@app.task(name='lab.process_images', queue='lab')
def process_images(image_ids):
    """Checksum one 64 KiB "image" per id (about 0.1 ms of CPU each)."""
    for image_id in image_ids:
        hashlib.sha256(IMAGE + str(image_id).encode()).digest()
    return {'images': len(image_ids)}


# -- 12. large payloads ------------------------------------------------------------------------
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


# -- 13. worker recycling -----------------------------------------------------------------------
_leaked = []


@app.task(name='lab.leaky', queue='lab')
def leaky(mb=4):
    """Keeps `mb` MiB forever (a cache that never evicts); reports this process's memory."""
    _leaked.append(b'\x01' * (mb * 1024 * 1024))
    return {'pid': os.getpid(), 'rss_mb': round(rss_mb(), 1)}


# -- 14. periodic tasks ---------------------------------------------------------------------------
def lab_schedule(dt):
    """Every minute, but only in a worker that serves the lab's periodic queue, so the
    app's own workers never queue lab jobs that nobody would run."""
    return PERIODIC_QUEUE in (app.huey.storage.queues or ()) and EVERY_MINUTE(dt)


@app.periodic_task(lab_schedule, name='lab.sync_report', queue=PERIODIC_QUEUE)
def sync_report():
    """The seeds' "daily data sync", every minute so a class sees it happen."""
    return {'synced_at': time.time()}
